/**
 * How many git processes a task costs, counted at the one place PAS starts git. A native edit
 * needs none once the repository's long-lived reader and ref writer run; a `verify` adds none (the
 * checkout is restored in-process by what changed); a tool executor none either once its
 * checkout's settings are read (staged in-process from the changed paths); a merge of branches
 * that changed different files none.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { CmdAllowlist, FsAllowlist } from '../../../src/config/schemas.ts';
import { gitProcessCount } from '../../../src/executors/git-command.ts';
import { mergeTaskBranches } from '../../../src/executors/merge-branches.ts';
import { createNativeExecutor } from '../../../src/executors/native-executor.ts';
import { closeObjectStores } from '../../../src/executors/object-store.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import type { LlmCallOptions, LlmCallResult, LlmClient } from '../../../src/llm/types.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

const fsAllowlist: FsAllowlist = { read: ['**/*'], write: ['src/**'], deny: [] };
const cmdAllowlist: CmdAllowlist = { timeout_s: 30, commands: [{ name: 'node-ok', program: 'node', args: ['-e', 'process.exit(0)'], allow_extra_args: false }] };

const llm: LlmClient = {
  async call(options: LlmCallOptions): Promise<LlmCallResult> {
    const file = /\[(src\/[^\]]+)\]/.exec(options.request.messages.map((m) => m.content).join('\n'))?.[1] ?? '';
    const text = [file, '<<<<<<< SEARCH', 'export const v = 1;', '=======', 'export const v = 2;', '>>>>>>> REPLACE'].join('\n');
    return { text, usage: { input: 1, output: 1 }, provider: 'ollama', model: 'm', ref: options.primary, usedBackup: false, costUsd: 0, attempts: [] };
  },
} as LlmClient;

const programmer: ResolvedProgrammer = { id: 'Prog-001', port: 6151, parent: 'Mgr-Code-01', primary: 'ollama/m', capabilities: [], executor: 'native', timeoutMs: 20_000, free: true };

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

function task(i: number, base: string, verify?: string[]): TaskSpec {
  return { id: `t${i}`, jobId: 'j1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: `Set v [src/f${i}.ts]`, files: [`src/f${i}.ts`], baseCommit: base, ...(verify ? { verify } : {}) };
}

async function processesFor(f: TempRepo, t: TaskSpec, checkout: 'none' | 'required' = 'none'): Promise<number> {
  const before = gitProcessCount();
  const result = await runProgrammerTask({
    task: t,
    programmer,
    repo: f.repo,
    workspacesDir: f.workspacesDir,
    executor: createNativeExecutor({ fsAllowlist, checkout }),
    llm,
    receipts: { append: () => undefined },
    runId: 'run-g',
    fsAllowlist,
    cmdAllowlist,
  });
  expect(result).toMatchObject({ status: 'completed', kpi: { files_changed: 1, lines_added: 1, lines_removed: 1 } });
  expect(await gitOut(f.repo, 'show', `${result.branch!}:${t.files[0]!}`)).toBe('export const v = 2;');
  return gitProcessCount() - before;
}

describe('git processes per task', () => {
  it('costs no git process for a native edit, a verified one (its checkout restored in-process by what changed) or a checkout executor’s (staged in-process from the changed paths; its settings read once, when it was made), and none to merge branches that changed different files', async () => {
    const f = (fixture = await createTempRepo(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`src/f${i}.ts`, 'export const v = 1;\n']))));
    // Warm-up: the repository's reader and ref writer start (and its settings are read) once.
    await processesFor(f, task(0, f.base));

    const native = [await processesFor(f, task(1, f.base)), await processesFor(f, task(2, f.base)), await processesFor(f, task(3, f.base))];
    expect(native).toEqual([0, 0, 0]);

    // verify: the programmer's checkout (made at first use: warm it first) restored by its changed paths, in-process.
    await processesFor(f, task(4, f.base, ['node', '-e', 'process.exit(0)']));
    expect(await processesFor(f, task(5, f.base, ['node', '-e', 'process.exit(0)']))).toBe(0);

    // An executor that needs a checkout: restored in-process, staged in-process from the changed
    // paths its watches heard (the checkout's git settings were read once, when it was made).
    expect(await processesFor(f, task(6, f.base), 'required')).toBe(0);
    // And from then on no git process at all: the index stayed the base's.
    expect(await processesFor(f, task(8, f.base), 'required')).toBe(0);

    const before = gitProcessCount();
    const merged = await mergeTaskBranches({ repo: f.repo, jobBranch: 'pas/job-j1', baseCommit: f.base, branches: ['pas/j1/t1', 'pas/j1/t2', 'pas/j1/t3', 'pas/j1/t6', 'pas/j1/t8'] });
    expect(merged.results.map((r) => r.status)).toEqual(['merged', 'merged', 'merged', 'merged', 'merged']);
    // Different files on each side: merged in-process (a new job branch needs no "already merged"
    // query, a plain name no check-ref-format).
    expect(gitProcessCount() - before).toBe(0);
    for (const i of [1, 2, 3, 6, 8]) expect(await gitOut(f.repo, 'show', `pas/job-j1:src/f${i}.ts`)).toBe('export const v = 2;');
    expect(await gitOut(f.repo, 'show', 'pas/job-j1:src/f7.ts')).toBe('export const v = 1;');
  }, 60_000);
});
