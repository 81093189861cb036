/**
 * A verified task on the native editor gets its checkout ready while its model call runs (in
 * the call's shadow, not after the answer), and gives it back on every path: a task whose model
 * call fails before any verify still releases the checkout for the programmer's next task. Its
 * commit is written while the verify command runs, not after it. Its verify command is forked
 * (held) in that shadow too, and runs only once the edit is written; a held one never outlives
 * its task.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { execa } from 'execa';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { CmdAllowlist, FsAllowlist } from '../../../src/config/schemas.ts';
import { PasError } from '../../../src/errors.ts';
import { checkoutFor, checkoutPath } from '../../../src/executors/checkouts.ts';
import { createNativeExecutor } from '../../../src/executors/native-executor.ts';
import { closeObjectStores } from '../../../src/executors/object-store.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import { spawnerStats } from '../../../src/executors/spawner.ts';
import type { LlmCallResult, LlmClient } from '../../../src/llm/types.ts';
import { createTempRepo, gitOut, waitFor, type TempRepo } from '../../support/git-fixtures.ts';

const fsAllowlist: FsAllowlist = { read: ['**/*'], write: ['src/**'], deny: [] };
const cmdAllowlist: CmdAllowlist = { timeout_s: 60, commands: [{ name: 'git-status', program: 'git', args: ['status'], allow_extra_args: false }] };
const programmer: ResolvedProgrammer = { id: 'Prog-001', port: 6151, parent: 'Mgr-Code-01', primary: 'ollama/qwen2.5-coder:7b-instruct', capabilities: [], executor: 'native', timeoutMs: 60_000, free: true };
const EDIT = ['src/a.ts', '<<<<<<< SEARCH', 'export const a = 1;', '=======', 'export const a = 2;', '>>>>>>> REPLACE'].join('\n');

let repo: TempRepo | undefined;
afterEach(async () => {
  await repo?.cleanup();
  repo = undefined;
});
afterAll(() => closeObjectStores());

function task(id: string, base: string): TaskSpec {
  return { id, jobId: 'je', managerId: 'Mgr-Code-01', replyTo: 'x', instruction: 'Bump a', files: ['src/a.ts'], baseCommit: base, verify: ['git', 'status'] };
}

function run(f: TempRepo, spec: TaskSpec, llm: LlmClient, commands: CmdAllowlist = cmdAllowlist, verifyRounds = 1) {
  return runProgrammerTask({ task: spec, programmer, repo: f.repo, workspacesDir: f.workspacesDir, executor: createNativeExecutor({ fsAllowlist }), llm, receipts: { append: () => undefined }, runId: 'run-e', fsAllowlist, cmdAllowlist: commands, verifyRounds });
}

/** Pids of the held shells (waiting for their go) whose working folder is `dir`. */
function heldShellsIn(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes('pas-held') && readlinkSync(`/proc/${name}/cwd`) === dir) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** A model that answers `edits` in turn, each once `ready` says so (or after 30 s). */
function scripted(edits: string[], ready: () => boolean | Promise<boolean> = () => true): LlmClient & { waited: boolean[] } {
  const waited: boolean[] = [];
  return {
    waited,
    async call(): Promise<LlmCallResult> {
      waited.push(await waitFor(ready, 30_000, 20));
      const text = edits[Math.min(waited.length - 1, edits.length - 1)]!;
      return { text, usage: { input: 1, output: 1 }, provider: 'ollama', model: 'm', ref: 'ollama/m', usedBackup: false, costUsd: 0, attempts: [] };
    },
  };
}

const edit = (from: number, to: number) => ['src/a.ts', '<<<<<<< SEARCH', `export const a = ${from};`, '=======', `export const a = ${to};`, '>>>>>>> REPLACE'].join('\n');
/** Passes only when src/a.ts holds a = 3. */
const checkThree: CmdAllowlist = { timeout_s: 60, commands: [{ name: 'grep-three', program: 'grep', args: ['-q', 'a = 3', 'src/a.ts'], allow_extra_args: false }] };

const answering: LlmClient = {
  async call(): Promise<LlmCallResult> {
    return { text: EDIT, usage: { input: 1, output: 1 }, provider: 'ollama', model: 'm', ref: 'ollama/m', usedBackup: false, costUsd: 0, attempts: [] };
  },
};

describe('a verified task checkout', () => {
  it('is made and reset to the base while the model call runs, before the answer', async () => {
    const f = (repo = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n' }));
    const dir = await checkoutPath(f.repo, f.workspacesDir, programmer.id);
    let readyDuringCall = false;
    const llm: LlmClient = {
      async call(): Promise<LlmCallResult> {
        // The model "thinks" until the checkout is there at the base (or gives up).
        readyDuringCall = await waitFor(async () => existsSync(path.join(dir, 'src', 'a.ts')) && (await gitOut(dir, 'rev-parse', 'HEAD').catch(() => '')) === f.base, 30_000, 50);
        return { text: EDIT, usage: { input: 1, output: 1 }, provider: 'ollama', model: 'm', ref: 'ollama/m', usedBackup: false, costUsd: 0, attempts: [] };
      },
    };
    const result = await run(f, task('t1', f.base), llm);
    expect(readyDuringCall).toBe(true);
    expect(result.status).toBe('completed');
    expect(await gitOut(f.repo, 'show', `${result.branch!}:src/a.ts`)).toBe('export const a = 2;');
  }, 60_000);

  it('is given back when the model call fails before any verify, so the next task of the programmer gets it', async () => {
    const f = (repo = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n' }));
    const failing: LlmClient = {
      async call(): Promise<LlmCallResult> {
        throw new PasError('PAS_ERR_LLM_CONNECTION', 'no model today');
      },
    };
    const result = await run(f, task('t1', f.base), failing);
    expect(result.status).toBe('failed');
    const lease = await Promise.race([checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: programmer.id, baseCommit: f.base }), new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
    expect(lease).not.toBeNull();
    lease!.release();
  }, 60_000);

  it('has the edited file written into the repository as an object while its verify command runs', async () => {
    const f = (repo = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n' }));
    // The edited file's blob id, computed without writing it.
    const blob = (await execa('git', ['hash-object', '--stdin'], { cwd: f.repo, input: 'export const a = 2;\n' })).stdout.trim();
    // The verify command passes only once that blob is in the repository (it waits up to ~20 s for it).
    const waitForBlob = `for i in $(seq 200); do git cat-file -e ${blob} 2>/dev/null && exit 0; sleep 0.1; done; echo "blob ${blob} not written"; exit 1`;
    const commands: CmdAllowlist = { timeout_s: 60, commands: [{ name: 'blob-written', program: 'sh', args: ['-c', waitForBlob], allow_extra_args: false }] };
    const result = await run(f, { ...task('t1', f.base), verify: ['sh', '-c', waitForBlob] }, answering, commands);
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('completed');
    expect(await gitOut(f.repo, 'rev-parse', `${result.branch!}:src/a.ts`)).toBe(blob);
  }, 60_000);

  it('has its verify command forked while the model call runs, and run only on the edit written', async () => {
    const f = (repo = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n' }));
    const dir = await checkoutPath(f.repo, f.workspacesDir, programmer.id);
    const before = spawnerStats().held;
    // The model answers once the verify command waits, held, in the checkout.
    const llm = scripted([edit(1, 3)], () => heldShellsIn(dir).length === 1);
    const result = await run(f, { ...task('t1', f.base), verify: ['grep', '-q', 'a = 3', 'src/a.ts'] }, llm, checkThree);
    expect(llm.waited).toEqual([true]);
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('completed');
    expect(spawnerStats().held).toBe(before + 1);
    expect(heldShellsIn(dir)).toEqual([]);
  }, 60_000);

  it('holds the next round’s command while the model corrects a failed verify, and none past its last round', async () => {
    const f = (repo = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n' }));
    const dir = await checkoutPath(f.repo, f.workspacesDir, programmer.id);
    const spec = { ...task('t1', f.base), verify: ['grep', '-q', 'a = 3', 'src/a.ts'] };
    let before = spawnerStats().held;
    // Round 1 fails (a = 2), round 2 passes (a = 3): each round's command was held while the model thought.
    const fixed = scripted([edit(1, 2), edit(2, 3)], () => heldShellsIn(dir).length === 1);
    const passed = await run(f, spec, fixed, checkThree, 3);
    expect(fixed.waited).toEqual([true, true]);
    expect(passed.status).toBe('completed');
    expect(spawnerStats().held).toBe(before + 2);
    expect(heldShellsIn(dir)).toEqual([]);

    // Two rounds, both failing: two held, none left for a third that will not come.
    before = spawnerStats().held;
    const wrong = scripted([edit(1, 2), edit(2, 4)]);
    const failed = await run(f, { ...spec, id: 't2' }, wrong, checkThree, 2);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('PAS_ERR_VERIFY_FAILED');
    expect(spawnerStats().held).toBe(before + 2);
    expect(heldShellsIn(dir)).toEqual([]);
  }, 60_000);

  it('ends its held verify command when the model call fails, and a cancelled task’s too', async () => {
    const f = (repo = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n' }));
    const dir = await checkoutPath(f.repo, f.workspacesDir, programmer.id);
    const failing: LlmClient = {
      async call(): Promise<LlmCallResult> {
        await waitFor(() => heldShellsIn(dir).length === 1, 30_000, 20);
        throw new PasError('PAS_ERR_LLM_CONNECTION', 'no model today');
      },
    };
    const result = await run(f, task('t1', f.base), failing);
    expect(result.status).toBe('failed');
    expect(await waitFor(() => heldShellsIn(dir).length === 0, 10_000)).toBe(true);

    const controller = new AbortController();
    const hanging: LlmClient = {
      async call(request): Promise<LlmCallResult> {
        await waitFor(() => heldShellsIn(dir).length === 1, 30_000, 20);
        controller.abort();
        throw request.request.signal?.reason ?? new Error('aborted');
      },
    };
    const cancelled = await runProgrammerTask({ task: task('t2', f.base), programmer, repo: f.repo, workspacesDir: f.workspacesDir, executor: createNativeExecutor({ fsAllowlist }), llm: hanging, receipts: { append: () => undefined }, runId: 'run-e', fsAllowlist, cmdAllowlist, verifyRounds: 1, signal: controller.signal });
    expect(cancelled.status).toBe('cancelled');
    expect(await waitFor(() => heldShellsIn(dir).length === 0, 10_000)).toBe(true);
  }, 60_000);

  it('starts its verify command at its run, none held, with PAS_HELD_VERIFY=off', async () => {
    const f = (repo = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n' }));
    const dir = await checkoutPath(f.repo, f.workspacesDir, programmer.id);
    const before = spawnerStats().held;
    process.env.PAS_HELD_VERIFY = 'off';
    try {
      let heldDuringCall: number[] = [];
      const llm = scripted([edit(1, 3)], () => {
        heldDuringCall = heldShellsIn(dir);
        return existsSync(path.join(dir, 'src', 'a.ts'));
      });
      const result = await run(f, { ...task('t1', f.base), verify: ['grep', '-q', 'a = 3', 'src/a.ts'] }, llm, checkThree);
      expect(result.status).toBe('completed');
      expect(heldDuringCall).toEqual([]);
      expect(spawnerStats().held).toBe(before);
    } finally {
      delete process.env.PAS_HELD_VERIFY;
    }
  }, 60_000);
});
