/**
 * The edit–verify rounds of the agent CLIs that cannot resume a session (Gemini CLI, opencode),
 * with the real pinned binaries (test/agent-clis) against the scripted wire server: the first run
 * leaves the task's verify command failing; PAS starts a new run of the same CLI on the same
 * worktree whose prompt carries the task again, says an earlier attempt already edited the files,
 * and gives the failure output; that run fixes it, and the receipt has both rounds.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { ModelsConfigFile } from '../../../src/config/schemas.ts';
import type { AgentCliSpec } from '../../../src/executors/agent-cli/agent-cli-spec.ts';
import { geminiCliSpec } from '../../../src/executors/agent-cli/gemini-cli.ts';
import { opencodeSpec } from '../../../src/executors/agent-cli/opencode.ts';
import { requestCwd } from '../../../src/llm/wire/scripted-tool-calls.ts';
import type { WireRequest } from '../../../src/llm/wire/wire-turn.ts';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { AGENT_CMD_ALLOWLIST } from '../../support/agent-cli-harness.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import type { WireBehaviour } from '../../support/scripted-wire-server.ts';
import { runAgentTask } from '../../support/wire-task-harness.ts';
import { FOLLOW_UP, VERIFY_INSTRUCTION, VERIFY_REPO_FILES, VERIFY_TASK_FILES } from './verify-rounds-task.ts';
import { GEMINI_WRITE, OPENCODE_WRITE, WIRE_FS_ALLOWLIST, wireCliRig, type WriteTool } from './wire-cli-rig.ts';

const rig = wireCliRig();

const PRICE = { input_per_mtok: 1, output_per_mtok: 4 };

/** Only a new run's prompt after a failed verify says this. */
const EARLIER = 'An earlier attempt already edited the files';

interface Case {
  name: string;
  spec: AgentCliSpec;
  bin: Parameters<typeof agentCliBin>[0];
  model: string;
  /** The CLI's own file-writing tool. */
  write: WriteTool;
  models: (origin: string) => ModelsConfigFile;
  env: NodeJS.ProcessEnv;
}

const CASES: Case[] = [
  {
    name: 'Gemini CLI',
    spec: geminiCliSpec,
    bin: 'gemini',
    model: 'gemini-2.5-pro',
    write: GEMINI_WRITE,
    models: (origin) => ({ providers: { google: { base_url: origin, base_url_env: 'GOOGLE_GEMINI_BASE_URL', api_key_env: 'GEMINI_API_KEY', timeout_s: 120, models: { 'gemini-2.5-pro': PRICE } } } }),
    env: { PATH: process.env.PATH, GEMINI_API_KEY: 'gemini-test-key' },
  },
  {
    name: 'opencode',
    spec: opencodeSpec,
    bin: 'opencode',
    model: 'gpt-4o',
    write: OPENCODE_WRITE,
    models: (origin) => ({ providers: { openai: { base_url: `${origin}/v1`, base_url_env: 'OPENAI_BASE_URL', api_key_env: 'OPENAI_API_KEY', timeout_s: 120, models: { 'gpt-4o': PRICE } } } }),
    env: { PATH: process.env.PATH, OPENAI_API_KEY: 'sk-opencode-test' },
  },
];

/** Run 1 writes the greeting; the run started with the failure output writes the name. */
function scriptedModel(c: Case) {
  return (request: WireRequest): WireBehaviour => {
    // opencode asks for a session title without tools.
    if (request.tools.length === 0) return { turn: { text: 'Greeting files', usage: { input: 40, output: 3 } } };
    const followUp = request.userTexts.some((t) => t.includes(FOLLOW_UP));
    if (request.toolRounds > 0) return { turn: { text: followUp ? 'Added src/name.txt.' : 'Created src/greeting.txt.', usage: followUp ? { input: 1500, output: 12 } : { input: 1100, output: 10 } } };
    const cwd = requestCwd(request) ?? '';
    const call = followUp ? c.write(path.join(cwd, 'src/name.txt'), 'pas\n') : c.write(path.join(cwd, 'src/greeting.txt'), 'hello\n');
    return { turn: { toolCalls: [call], usage: followUp ? { input: 1400, output: 40 } : { input: 1000, output: 50 } } };
  };
}

describe('agent-CLI edit–verify rounds without a session to resume (real binaries)', { timeout: 240_000 }, () => {
  it.each(CASES)('starts a new $name run whose prompt carries the task and the failing verify output, and that run makes it pass', async (c) => {
    const { fixture, server, runsDir } = await rig.start(VERIFY_REPO_FILES, scriptedModel(c));
    const programmer: ResolvedProgrammer = {
      id: 'Prog-011',
      port: 6161,
      parent: 'Mgr-Code-01',
      primary: `${Object.keys(c.models(server.origin).providers)[0]}/${c.model}`,
      capabilities: [],
      executor: c.spec.name as ResolvedProgrammer['executor'],
      timeoutMs: 200_000,
      free: false,
    };
    const { result, receipts, progress } = await runAgentTask({
      spec: c.spec,
      settings: { binary: agentCliBin(c.bin), timeout_s: 120, stall_timeout_s: 120, max_turns: 10, max_retries: 0 },
      fixture,
      models: c.models(server.origin),
      fsAllowlist: WIRE_FS_ALLOWLIST,
      cmdAllowlist: AGENT_CMD_ALLOWLIST,
      programmer,
      env: c.env,
      task: { instruction: VERIFY_INSTRUCTION, files: VERIFY_TASK_FILES, verify: ['node', '--test'] },
      runsDir,
    });

    expect(result.error).toBeUndefined();
    expect(result.status).toBe('completed');
    expect(await gitOut(fixture.repo, 'show', `${result.branch}:src/greeting.txt`)).toBe('hello');
    expect(await gitOut(fixture.repo, 'show', `${result.branch}:src/name.txt`)).toBe('pas');

    // The second run is a new conversation: its first request has no earlier turns, and its prompt
    // is the task again, what the earlier attempt left, and the failing test's output.
    const calls = server.calls.filter((call) => call.request.tools.length > 0);
    const first = calls.findIndex((call) => call.request.userTexts.some((t) => t.includes(FOLLOW_UP)));
    expect(first).toBeGreaterThan(0);
    expect(calls.slice(0, first).some((call) => JSON.stringify(call.request.userTexts).includes(FOLLOW_UP))).toBe(false);
    const followUp = calls[first]!.request;
    expect(followUp.toolRounds).toBe(0);
    const prompt = followUp.userTexts.join('\n');
    expect(prompt).toContain(VERIFY_INSTRUCTION);
    expect(prompt).toContain(EARLIER);
    expect(prompt).toContain('node --test');
    expect(prompt).toMatch(/greets by name/);
    expect(prompt).not.toContain('Created src/greeting.txt.');

    // The receipt: both rounds with their verify exit codes.
    expect(receipts).toHaveLength(1);
    expect(receipts[0]!.rounds?.map((r) => [r.round, r.verify_exit_code])).toEqual([
      [1, 1],
      [2, 0],
    ]);
    expect(receipts[0]!.rounds![1]!.tokens).toMatchObject({ input: expect.any(Number), output: expect.any(Number) });
    expect(progress).toContainEqual(expect.objectContaining({ kind: 'retry', round: 2, text: expect.stringContaining(`new ${c.spec.name} run`) }));
    expect(progress).toContainEqual(expect.objectContaining({ kind: 'command', command: 'node-test', exitCode: 0, round: 2 }));
  });
});
