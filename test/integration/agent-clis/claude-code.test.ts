/**
 * The `claude-code` executor driving the real Claude Code binary (test/agent-clis) against a
 * local server that speaks Anthropic Messages SSE with tool_use: the CLI really writes the files
 * through its own Write tool; PAS checks, commits and receipts them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { claudeCodeSpec } from '../../../src/executors/agent-cli/claude-code.ts';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { AGENT_TEST_ENV, leftoverRuns, testBreakers } from '../../support/agent-cli-harness.ts';
import { closedPort } from '../../support/fake-llm-server.ts';
import { gitOut, isRunning, pidsMatching, waitFor } from '../../support/git-fixtures.ts';
import { agentCliRig } from './agent-cli-rig.ts';

const CLAUDE = agentCliBin('claude');

const rig = agentCliRig({ spec: claudeCodeSpec, binary: CLAUDE });
const { setup, run } = rig;

const GREETING = [
  { write: { path: 'src/greeting.txt', content: 'hello from claude\n' }, usage: { input: 1200, output: 80, cacheRead: 300, cacheWrite: 50 } },
  { text: 'Created src/greeting.txt.', usage: { input: 1500, output: 20, cacheRead: 400, cacheWrite: 0 } },
];

describe('claude-code executor (real Claude Code binary)', { timeout: 120_000 }, () => {
  it('completes a subtask through Claude Code, commits its edit and receipts exactly the tokens the server sent', async () => {
    await setup({ 'claude-primary': GREETING });
    const { result, receipts, progress, runsDir } = await run({ primary: 'anthropic/claude-primary', backup: 'anthropic/claude-backup' });

    expect(result.status).toBe('completed');
    expect(result.error).toBeUndefined();
    const show = await gitOut(rig.fixture.repo, 'show', `${result.branch}:src/greeting.txt`);
    expect(show).toBe('hello from claude');
    expect(await gitOut(rig.fixture.repo, 'show', '--name-only', '--format=', result.branch!)).toBe('src/greeting.txt');

    const sent = rig.provider.sentUsage('claude-primary');
    expect(sent).toMatchObject({ input: 2700, output: 100, cacheRead: 700, cacheWrite: 50 });
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({
      status: 'completed',
      provider: 'anthropic',
      model: 'claude-primary',
      used_backup: false,
      tokens: { input: sent.input, output: sent.output, cache_read: sent.cacheRead, cache_write: sent.cacheWrite },
      kpi: { files_changed: 1, lines_added: 1, lines_removed: 0 },
    });
    expect(receipts[0]!.cost_usd).toBeGreaterThan(0);

    // The key reached the model server, and only through the child's environment.
    const calls = rig.provider.callsTo('claude-primary');
    expect(calls.length).toBe(2);
    expect(calls[0]!.headers['x-api-key']).toBe(AGENT_TEST_ENV.TEST_ANTHROPIC_KEY);
    expect(progress).toContainEqual(expect.objectContaining({ kind: 'file', tool: 'Write', path: 'src/greeting.txt' }));
    expect(progress).toContainEqual(expect.objectContaining({ kind: 'message', text: 'Created src/greeting.txt.' }));
    expect(JSON.stringify(progress)).not.toContain(AGENT_TEST_ENV.TEST_ANTHROPIC_KEY);
    expect(await leftoverRuns(runsDir)).toEqual([]);
  });

  it('lets Claude Code run the allowlisted verify command and reports it as progress; PAS runs it again before the commit', async () => {
    await setup({
      'claude-primary': [
        { write: { path: 'src/greeting.test.mjs', content: "import test from 'node:test';\ntest('greets', () => {});\n" } },
        { bash: 'node --test' },
        { text: 'Wrote the test and ran it.' },
      ],
    });
    const { result, progress } = await run({ primary: 'anthropic/claude-primary', files: ['src/greeting.test.mjs'], task: { verify: ['node', '--test'] } });
    expect(result.status).toBe('completed');
    expect(progress).toContainEqual(expect.objectContaining({ kind: 'command', tool: 'Bash', command: 'node --test' }));
    // The tool result the CLI sent back says the command ran (not that it was refused).
    const third = rig.provider.callsTo('claude-primary')[2]!;
    expect(JSON.stringify(third.body)).toMatch(/tests 1|pass 1/);
  });

  it.each([
    [429, 'PAS_ERR_LLM_RATE_LIMITED'],
    [529, 'PAS_ERR_LLM_OVERLOADED'],
    [401, 'PAS_ERR_LLM_AUTH'],
  ])('classifies an HTTP %i the CLI reports as %s, counts it on the breaker and completes on the backup model', async (status, code) => {
    await setup({ 'claude-primary': { fail: status }, 'claude-backup': GREETING });
    const breakers = testBreakers();
    const { result, receipts } = await run({ primary: 'anthropic/claude-primary', backup: 'anthropic/claude-backup', breakers });

    expect(result.status).toBe('completed');
    expect(receipts[0]).toMatchObject({ status: 'completed', model: 'claude-backup', used_backup: true });
    const sent = rig.provider.sentUsage('claude-backup');
    expect(receipts[0]!.tokens).toMatchObject({ input: sent.input, output: sent.output });
    expect(rig.provider.callsTo('claude-primary').length).toBe(1); // the CLI's own retries are capped at 0
    expect(breakers.failures('anthropic/claude-primary')).toBe(1);
    expect(breakers.get('anthropic/claude-primary').getSnapshot().context.lastError).toMatchObject({ code });
    expect(await gitOut(rig.fixture.repo, 'show', `${result.branch}:src/greeting.txt`)).toBe('hello from claude');
  });

  it('stops a run whose model server refuses connections, counts PAS_ERR_LLM_CONNECTION on its breaker and completes on the backup', async () => {
    await setup({ 'claude-backup': GREETING });
    const breakers = testBreakers();
    const { result, receipts } = await run({ primary: 'anthropic-down/claude-down', backup: 'anthropic/claude-backup', breakers, deadPort: await closedPort(), settings: { stall_timeout_s: 60, timeout_s: 60 } });
    expect(result.status).toBe('completed');
    expect(receipts[0]).toMatchObject({ model: 'claude-backup', used_backup: true });
    expect(breakers.get('anthropic-down/claude-down').getSnapshot().context.lastError).toMatchObject({ code: 'PAS_ERR_LLM_CONNECTION' });
    expect(receipts[0]!.duration_ms).toBeLessThan(45_000);
  });

  it('fails with PAS_ERR_LLM_ALL_FAILED naming both causes when primary and backup both fail', async () => {
    await setup({ 'claude-primary': { fail: 429 }, 'claude-backup': { fail: 529 } });
    const { result, receipts } = await run({ primary: 'anthropic/claude-primary', backup: 'anthropic/claude-backup' });
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('PAS_ERR_LLM_ALL_FAILED');
    const causes = (result.error?.details?.causes as Array<{ code: string }>).map((c) => c.code);
    expect(causes).toEqual(['PAS_ERR_LLM_RATE_LIMITED', 'PAS_ERR_LLM_OVERLOADED']);
    expect(receipts[0]).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_LLM_ALL_FAILED' } });
    expect(await gitOut(rig.fixture.repo, 'branch', '--list', 'pas/*')).toBe('');
  });

  it('skips a primary whose breaker is open without starting the CLI for it, and runs the backup', async () => {
    await setup({ 'claude-primary': GREETING, 'claude-backup': GREETING });
    const breakers = testBreakers();
    for (let i = 0; i < 3; i++) breakers.record('anthropic/claude-primary', 'failure', false, { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'x' });
    expect(breakers.state('anthropic/claude-primary')).toBe('open');
    const { result, receipts } = await run({ primary: 'anthropic/claude-primary', backup: 'anthropic/claude-backup', breakers });
    expect(result.status).toBe('completed');
    expect(receipts[0]).toMatchObject({ model: 'claude-backup', used_backup: true });
    expect(rig.provider.callsTo('claude-primary')).toHaveLength(0);
  });

  it("adds what the CLI spent to today's budget, and once it is spent does not start the CLI on a paid model", async () => {
    await setup({ 'claude-primary': GREETING });
    const days = new Map<string, number>();
    const spend = { spent: (day: string) => days.get(day) ?? 0, add: (day: string, usd: number) => void days.set(day, (days.get(day) ?? 0) + usd) };
    const first = await run({ primary: 'anthropic/claude-primary', budget: { enabled: true, maxDailySpendUsd: 0.001, spend } });
    expect(first.result.status).toBe('completed');
    const spent = [...days.values()][0]!;
    expect(spent).toBeCloseTo(first.receipts[0]!.cost_usd, 9);
    expect(spent).toBeGreaterThanOrEqual(0.001);
    const calls = rig.provider.callsTo('claude-primary').length;
    const second = await run({ primary: 'anthropic/claude-primary', budget: { enabled: true, maxDailySpendUsd: 0.001, spend }, task: { id: 't2' } });
    expect(second.result.status).toBe('failed');
    expect(second.result.error?.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');
    expect(rig.provider.callsTo('claude-primary').length).toBe(calls);
  });

  it('refuses a change outside fs_allowlist.yaml and commits nothing', async () => {
    await setup({
      'claude-primary': [{ write: { path: 'package.json', content: '{"name":"evil"}\n' } }, { text: 'done' }],
    });
    const { result, receipts } = await run({ primary: 'anthropic/claude-primary', files: [] });
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(result.error?.message).toContain('package.json');
    expect(receipts[0]?.tokens.input).toBe(rig.provider.sentUsage('claude-primary').input);
    expect(await gitOut(rig.fixture.repo, 'branch', '--list', 'pas/*')).toBe('');
  });

  it('refuses a write outside the worktree with PAS_ERR_FS_PATH_ESCAPE', async () => {
    await setup({});
    const outside = path.join(rig.fixture.root, 'outside.txt');
    rig.provider.scripts.set('claude-primary', [{ write: { path: outside, content: 'escaped\n' } }, { text: 'done' }]);
    const { result } = await run({ primary: 'anthropic/claude-primary', files: [] });
    expect(result.status).toBe('failed');
    expect(existsSync(outside)).toBe(true); // Claude Code's acceptEdits mode let it through; PAS catches it
    expect(result.error?.code).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(result.error?.message).toContain(outside);
    expect(await gitOut(rig.fixture.repo, 'branch', '--list', 'pas/*')).toBe('');
  });

  it('refuses a write through a symlinked folder that leads out of the worktree', async () => {
    await setup({ 'claude-primary': [{ write: { path: 'src/shared/notes.txt', content: 'through the link\n' } }, { text: 'done' }] });
    const elsewhere = path.join(rig.fixture.root, 'elsewhere');
    await mkdir(elsewhere);
    await symlink(elsewhere, path.join(rig.fixture.repo, 'src', 'shared'));
    await gitOut(rig.fixture.repo, 'add', '--all');
    await gitOut(rig.fixture.repo, 'commit', '--quiet', '-m', 'a symlinked folder');
    const { result } = await run({ primary: 'anthropic/claude-primary', files: [] });
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(result.error?.details?.reason).toBe('symlink');
    expect(await gitOut(rig.fixture.repo, 'branch', '--list', 'pas/*')).toBe('');
  });

  it('kills a CLI whose model hangs at timeout_s, and leaves no process or run folder behind', async () => {
    await setup({ 'claude-primary': 'hang' });
    const { result, runsDir } = await run({ primary: 'anthropic/claude-primary', settings: { timeout_s: 4, stall_timeout_s: 60 } });
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('PAS_ERR_TASK_TIMEOUT');
    expect(await leftoverRuns(runsDir)).toEqual([]);
    expect(await waitFor(async () => (await pidsMatching(rig.fixture.workspacesDir)).length === 0, 5_000)).toBe(true);
  });

  it('treats a CLI that prints nothing for stall_timeout_s like a hang', async () => {
    await setup({ 'claude-primary': 'hang' });
    const { result, runsDir } = await run({ primary: 'anthropic/claude-primary', settings: { timeout_s: 60, stall_timeout_s: 3 } });
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('PAS_ERR_AGENT_CLI_STALLED');
    expect(await leftoverRuns(runsDir)).toEqual([]);
    expect(await waitFor(async () => (await pidsMatching(rig.fixture.workspacesDir)).length === 0, 5_000)).toBe(true);
  });

  it('cancel kills the CLI process tree and removes its private home', async () => {
    await setup({ 'claude-primary': 'hang' });
    const controller = new AbortController();
    let pids: number[] = [];
    const running = run({
      primary: 'anthropic/claude-primary',
      settings: { timeout_s: 60, stall_timeout_s: 60 },
      signal: controller.signal,
    });
    const runsDir = path.join(rig.fixture.root, 'agent-runs');
    expect(await waitFor(() => rig.provider.callsTo('claude-primary').length > 0, 20_000)).toBe(true);
    pids = await pidsMatching(rig.fixture.workspacesDir);
    expect(pids.length).toBeGreaterThan(0);
    controller.abort();
    const { result } = await running;
    expect(result.status).toBe('cancelled');
    expect(result.error?.code).toBe('PAS_ERR_TASK_CANCELLED');
    expect(await waitFor(async () => (await Promise.all(pids.map(isRunning))).every((r) => !r), 5_000)).toBe(true);
    expect(await leftoverRuns(runsDir)).toEqual([]);
    expect(await readFile(path.join(rig.fixture.repo, 'README.md'), 'utf8')).toBe('# demo\n');
  });
});
