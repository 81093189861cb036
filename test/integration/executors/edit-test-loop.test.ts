/**
 * The native editor as a small agent loop, with the scripted model (cassette entries matched on
 * the prompt's text) and a real verify command (`node --test` in a scratch repository): it may
 * ask to read files, its edits are tested, a failure's output goes back to the model for another
 * round, and every round is in the receipt.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { CmdAllowlist, FsAllowlist } from '../../../src/config/schemas.ts';
import type { TaskProgress } from '../../../src/executors/executor.ts';
import { createNativeExecutor } from '../../../src/executors/native-executor.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import { createScriptedAdapter, type CassetteEntry, type ScriptedAdapter } from '../../../src/llm/providers/scripted-adapter.ts';
import type { LlmClient, Receipt } from '../../../src/llm/types.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

const fsAllowlist: FsAllowlist = { read: ['**/*'], write: ['src/**'], deny: ['**/.env'] };
const cmdAllowlist: CmdAllowlist = { timeout_s: 60, commands: [{ name: 'node-test', program: 'node', args: ['--test'], allow_extra_args: true }] };
const programmer: ResolvedProgrammer = { id: 'Prog-001', port: 6151, parent: 'Mgr-Code-01', primary: 'scripted/coder', capabilities: [], executor: 'native', timeoutMs: 60_000, free: true };

const MATH = 'export function add(a, b) {\n  return a + b;\n}\n';
const MATH_TEST = "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { add, multiply } from '../src/math.mjs';\ntest('adds', () => assert.equal(add(2, 3), 5));\ntest('multiplies', () => assert.equal(multiply(3, 4), 12));\n";

const block = (file: string, search: string, replace: string) => [file, '<<<<<<< SEARCH', ...(search ? [search] : []), '=======', replace, '>>>>>>> REPLACE'].join('\n');
const WRONG = block('src/math.mjs', '  return a + b;\n}', '  return a + b;\n}\n\nexport function multiply(a, b) {\n  return a + b;\n}');
const FIX = block('src/math.mjs', 'export function multiply(a, b) {\n  return a + b;\n}', 'export function multiply(a, b) {\n  return a * b;\n}');
const STILL_WRONG = block('src/math.mjs', 'export function multiply(a, b) {\n  return a + b;\n}', 'export function multiply(a, b) {\n  return a + b + 0;\n}');

/** The LLM client's contract over the scripted adapter (the cassette sees every message). */
function llmOver(adapter: ScriptedAdapter, costs: number[] = []): LlmClient {
  return {
    async call(options) {
      const r = await adapter.chat('coder', options.request);
      return { text: r.text, usage: r.usage, provider: 'scripted', model: 'coder', ref: options.primary, usedBackup: false, costUsd: costs.shift() ?? 0, attempts: [] };
    },
  };
}

let repo: TempRepo | undefined;
afterEach(async () => {
  await repo?.cleanup();
  repo = undefined;
});

async function run(entries: CassetteEntry[], options: { verifyRounds?: number; verify?: string[]; costs?: number[] } = {}) {
  repo = await createTempRepo({ 'src/math.mjs': MATH, 'test/math.test.mjs': MATH_TEST, '.env': 'TOKEN=x\n' });
  const scripted = createScriptedAdapter(entries, { source: 'test cassette' });
  const receipts: Receipt[] = [];
  const progress: TaskProgress[] = [];
  const task: TaskSpec = {
    id: 't1',
    jobId: 'jl',
    managerId: 'Mgr-Code-01',
    replyTo: 'x',
    instruction: 'Add multiply(a, b) to src/math.mjs',
    files: ['src/math.mjs'],
    baseCommit: repo.base,
    verify: options.verify ?? ['node', '--test', 'test/'],
  };
  const result = await runProgrammerTask({
    task,
    programmer,
    repo: repo.repo,
    workspacesDir: repo.workspacesDir,
    executor: createNativeExecutor({ fsAllowlist, maxReads: 2 }),
    llm: llmOver(scripted, options.costs),
    receipts: { append: (r) => void receipts.push(r) },
    runId: 'run-loop',
    fsAllowlist,
    cmdAllowlist,
    onProgress: (p) => progress.push(p),
    ...(options.verifyRounds !== undefined ? { verifyRounds: options.verifyRounds } : {}),
  });
  return { result, receipts, progress, scripted };
}

describe('the native editor edit–test loop', () => {
  it('sends the failing test output back and commits the second round, which passes; the receipt shows both rounds', async () => {
    const { result, receipts, progress, scripted } = await run([
      { match: { purpose: 'edit' }, reply: WRONG, usage: { input: 200, output: 40 }, times: 1 },
      // Only a prompt that carries the failing assertion and the file as it now is gets the fix.
      { match: { purpose: 'edit.verify', regex: 'verify command node-test failed \\(exit 1\\)[\\s\\S]*7 == 12[\\s\\S]*return a \\+ b;\\n}\\n```' }, reply: FIX, usage: { input: 500, output: 30 }, times: 1 },
    ]);
    expect(result.status).toBe('completed');
    expect(await gitOut(repo!.repo, 'show', `${result.branch!}:src/math.mjs`)).toContain('export function multiply(a, b) {\n  return a * b;\n}');
    expect(scripted.calls.map((c) => c.purpose)).toEqual(['edit', 'edit.verify']);
    expect(result.tokens).toEqual({ input: 700, output: 70 });
    expect(receipts).toHaveLength(1);
    expect(receipts[0]!.rounds).toMatchObject([
      { round: 1, tokens: { input: 200, output: 40 }, verify_exit_code: 1, reads: 0 },
      { round: 2, tokens: { input: 500, output: 30 }, verify_exit_code: 0, reads: 0 },
    ]);
    for (const r of receipts[0]!.rounds!) expect(r.duration_ms).toBeGreaterThanOrEqual(r.verify_duration_ms!);
    expect(progress.filter((p) => p.kind === 'command').map((p) => p.exitCode)).toEqual([1, 0]);
    expect(progress.filter((p) => p.kind === 'retry')).toMatchObject([{ attempt: 2 }]);
  });

  it('adds the rounds\' costs in whole micro-dollars, as each call is priced (0.1 + 0.2 is 0.3 in the result and the receipt)', async () => {
    const { result, receipts } = await run(
      [
        { match: { purpose: 'edit' }, reply: WRONG, usage: { input: 200, output: 40 }, times: 1 },
        { match: { purpose: 'edit.verify' }, reply: FIX, usage: { input: 500, output: 30 }, times: 1 },
      ],
      { costs: [0.1, 0.2] },
    );
    expect(result.status).toBe('completed');
    expect(result.costUsd).toBe(0.3);
    expect(receipts[0]!.cost_usd).toBe(0.3);
  });

  it('fails with PAS_ERR_VERIFY_FAILED after verify_rounds rounds, with the last output in the error, and leaves no branch', async () => {
    const { result, receipts, scripted } = await run(
      [
        { match: { purpose: 'edit' }, reply: WRONG, usage: { input: 10, output: 5 }, times: 1 },
        { match: { purpose: 'edit.verify' }, reply: STILL_WRONG, usage: { input: 20, output: 5 }, times: 1 },
      ],
      { verifyRounds: 2 },
    );
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({ code: 'PAS_ERR_VERIFY_FAILED', details: { command: 'node-test', exitCode: 1, rounds: 2 } });
    expect(String(result.error!.details!.output)).toContain('7 == 12');
    expect(result.error!.message).toContain('after 2 rounds');
    expect(scripted.calls).toHaveLength(2);
    expect(await gitOut(repo!.repo, 'branch', '--list', 'pas/jl/t1')).toBe('');
    expect(receipts).toMatchObject([{ status: 'failed', error: { code: 'PAS_ERR_VERIFY_FAILED' }, tokens: { input: 30, output: 10 } }]);
    expect(receipts[0]!.rounds!.map((r) => r.verify_exit_code)).toEqual([1, 1]);
  });

  it('answers READ lines with the file contents inside the allowlist and refuses the rest, counting the reads in the round', async () => {
    const { result, receipts, scripted } = await run([
      { match: { purpose: 'edit' }, reply: 'READ test/math.test.mjs\nREAD .env', times: 1 },
      // The next call sees the test file and the refusal of the denied one, never its contents.
      { match: { purpose: 'edit.read', regex: "multiply\\(3, 4\\), 12[\\s\\S]*\\.env: not readable" }, reply: block('src/math.mjs', '  return a + b;\n}', '  return a + b;\n}\n\nexport function multiply(a, b) {\n  return a * b;\n}'), times: 1 },
    ]);
    expect(result.status).toBe('completed');
    expect(scripted.calls.map((c) => c.purpose)).toEqual(['edit', 'edit.read']);
    expect(receipts[0]!.rounds).toMatchObject([{ round: 1, reads: 2, verify_exit_code: 0 }]);
  });

  it('stops serving reads once the read budget is spent, and a model that keeps asking gets one correction, then fails', async () => {
    const { result, scripted } = await run([
      { match: { purpose: 'edit' }, reply: 'READ test/math.test.mjs\nREAD src/math.mjs\nREAD src/other.mjs', times: 1 },
      { match: { purpose: 'edit.read', regex: 'src/other.mjs: not shown \\(the read budget is spent\\)[\\s\\S]*No more reads' }, reply: 'READ src/other.mjs', times: 1 },
      { match: { purpose: 'edit.retry' }, reply: 'READ src/other.mjs', times: 1 },
    ]);
    expect(scripted.calls.map((c) => c.purpose)).toEqual(['edit', 'edit.read', 'edit.retry']);
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('PAS_ERR_EDIT_MALFORMED');
  });
});
