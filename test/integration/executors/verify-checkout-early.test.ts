/**
 * A verified task on the native editor gets its checkout ready while its model call runs (in
 * the call's shadow, not after the answer), and gives it back on every path: a task whose model
 * call fails before any verify still releases the checkout for the programmer's next task. Its
 * commit is written while the verify command runs, not after it.
 */
import { existsSync } from 'node:fs';
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

function run(f: TempRepo, spec: TaskSpec, llm: LlmClient, commands: CmdAllowlist = cmdAllowlist) {
  return runProgrammerTask({ task: spec, programmer, repo: f.repo, workspacesDir: f.workspacesDir, executor: createNativeExecutor({ fsAllowlist }), llm, receipts: { append: () => undefined }, runId: 'run-e', fsAllowlist, cmdAllowlist: commands, verifyRounds: 1 });
}

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
});
