/**
 * The edit–verify rounds of the agent-CLI executors with the real pinned binaries (test/agent-clis)
 * against the fake provider server: the first run leaves the task's verify command failing; PAS
 * resumes the same CLI session with the failure output (`claude --resume <session_id>`,
 * `codex exec resume <thread_id>`), the second round fixes it, and the receipt has both rounds.
 */
import { describe, expect, it } from 'vitest';
import type { AgentCliSpec } from '../../../src/executors/agent-cli/agent-cli-spec.ts';
import { claudeCodeSpec } from '../../../src/executors/agent-cli/claude-code.ts';
import { codexSpec } from '../../../src/executors/agent-cli/codex.ts';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { leftoverRuns } from '../../support/agent-cli-harness.ts';
import type { ScriptedTurn } from '../../support/fake-agent-provider.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { agentCliRig } from './agent-cli-rig.ts';
import { FOLLOW_UP, VERIFY_INSTRUCTION, VERIFY_REPO_FILES, VERIFY_TASK_FILES } from './verify-rounds-task.ts';

const rig = agentCliRig();

const SCRIPT: ScriptedTurn[] = [
  { write: { path: 'src/greeting.txt', content: 'hello\n' }, usage: { input: 1000, output: 50 } },
  (text) => (text.includes(FOLLOW_UP) ? { write: { path: 'src/name.txt', content: 'pas\n' }, usage: { input: 1400, output: 40 } } : { text: 'Created src/greeting.txt.', usage: { input: 1100, output: 10 } }),
  { text: 'Added src/name.txt; the test passes.', usage: { input: 1500, output: 12 } },
];

const CASES: Array<{ name: string; spec: AgentCliSpec; bin: Parameters<typeof agentCliBin>[0]; model: string; ref: string }> = [
  { name: 'Claude Code', spec: claudeCodeSpec, bin: 'claude', model: 'claude-primary', ref: 'anthropic/claude-primary' },
  { name: 'Codex', spec: codexSpec, bin: 'codex', model: 'gpt-primary', ref: 'openai/gpt-primary' },
];

describe('agent-CLI edit–verify rounds (real binaries)', { timeout: 180_000 }, () => {
  it.each(CASES)('resumes the $name session with the failing verify output, and the resumed round makes it pass', async ({ spec, bin, model, ref }) => {
    const { provider, fixture } = await rig.setup({ [model]: SCRIPT }, VERIFY_REPO_FILES);
    const { result, receipts, progress, runsDir } = await rig.run({
      spec,
      binary: agentCliBin(bin),
      primary: ref,
      instruction: VERIFY_INSTRUCTION,
      files: VERIFY_TASK_FILES,
      task: { verify: ['node', '--test'] },
    });

    expect(result.error).toBeUndefined();
    expect(result.status).toBe('completed');
    expect(await gitOut(fixture.repo, 'show', `${result.branch}:src/name.txt`)).toBe('pas');
    expect(await gitOut(fixture.repo, 'show', `${result.branch}:src/greeting.txt`)).toBe('hello');

    // Round 1: two model calls (write, closing text). Round 2 continues that conversation: its first
    // request already carries round 1's tool result and closing text, then the failure output.
    const calls = provider.callsTo(model);
    expect(calls).toHaveLength(4);
    const resumed = JSON.stringify(calls[2]!.body);
    expect(resumed).toContain(FOLLOW_UP);
    expect(resumed).toContain('Created src/greeting.txt.');
    expect(resumed).toMatch(/not ok 1 - greets by name|greets by name/);
    expect(JSON.stringify(calls[0]!.body)).not.toContain(FOLLOW_UP);

    // The receipt: both rounds with their own usage and verify exit codes; the total is their sum.
    const sent = provider.sentUsage(model);
    expect(receipts).toHaveLength(1);
    const receipt = receipts[0]!;
    expect(receipt.tokens).toMatchObject({ input: sent.input, output: sent.output });
    expect(receipt.rounds?.map((r) => [r.round, r.verify_exit_code])).toEqual([
      [1, 1],
      [2, 0],
    ]);
    expect(receipt.rounds![0]!.tokens).toMatchObject({ input: 1000 + 1100, output: 50 + 10 });
    expect(receipt.rounds![1]!.tokens).toMatchObject({ input: 1400 + 1500, output: 40 + 12 });

    // Each round on the progress feed as it happened.
    expect(progress).toContainEqual(expect.objectContaining({ kind: 'command', command: 'node-test', exitCode: 1, round: 1 }));
    expect(progress).toContainEqual(expect.objectContaining({ kind: 'retry', round: 2, text: expect.stringMatching(new RegExp(`resuming ${spec.name} session`)) }));
    expect(progress).toContainEqual(expect.objectContaining({ kind: 'command', command: 'node-test', exitCode: 0, round: 2 }));
    // The private home (and the session in it) is gone.
    expect(await leftoverRuns(runsDir)).toEqual([]);
  });
});
