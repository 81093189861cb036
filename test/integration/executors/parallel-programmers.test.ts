import { afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { FsAllowlist } from '../../../src/config/schemas.ts';
import { mergeTaskBranches } from '../../../src/executors/merge-branches.ts';
import { createNativeExecutor } from '../../../src/executors/native-executor.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import { jobBranchName, listWorktrees } from '../../../src/executors/worktree.ts';
import type { LlmCallOptions, LlmCallResult, LlmClient, Receipt } from '../../../src/llm/types.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

const fsAllowlist: FsAllowlist = { read: ['**/*'], write: ['src/**'], deny: [] };

/**
 * Answers every call with the reply scripted for the calling task, but only once `together` calls
 * are in flight at the same moment: the programmers must really run at once, or the calls fail.
 */
class PerTaskLlm implements LlmClient {
  inFlight = 0;
  maxInFlight = 0;
  private release!: () => void;
  private readonly allIn: Promise<void>;
  constructor(
    private readonly replies: Record<string, string>,
    private readonly together = Object.keys(replies).length,
  ) {
    this.allIn = new Promise((resolve) => (this.release = resolve));
  }

  async call(options: LlmCallOptions): Promise<LlmCallResult> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.inFlight >= this.together) this.release();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${this.maxInFlight} of ${this.together} calls were ever in flight together`)), 20_000);
    });
    try {
      await Promise.race([this.allIn, timeout]);
    } finally {
      clearTimeout(timer);
      this.inFlight -= 1;
    }
    const taskId = options.request.meta?.taskId ?? '';
    const text = this.replies[taskId];
    if (text === undefined) throw new Error(`no reply for ${taskId}`);
    return { text, usage: { input: 50, output: 5 }, provider: 'ollama', model: 'qwen2.5-coder:7b-instruct', ref: options.primary, usedBackup: false, costUsd: 0, attempts: [] };
  }
}

function prog(n: number): ResolvedProgrammer {
  const id = `Prog-00${n}`;
  return { id, port: 6150 + n, parent: 'Mgr-Code-01', primary: 'ollama/qwen2.5-coder:7b-instruct', capabilities: [], executor: 'native', timeoutMs: 20_000, free: true };
}

function replaceLine(file: string, from: string, to: string): string {
  return [file, '<<<<<<< SEARCH', from, '=======', to, '>>>>>>> REPLACE'].join('\n');
}

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

async function runAll(f: TempRepo, llm: LlmClient, tasks: TaskSpec[]) {
  const receipts: Receipt[] = [];
  const results = await Promise.all(
    tasks.map((task, i) =>
      runProgrammerTask({
        task,
        programmer: prog(i + 1),
        repo: f.repo,
        workspacesDir: f.workspacesDir,
        executor: createNativeExecutor({ fsAllowlist }),
        llm,
        receipts: { append: (r) => void receipts.push(r) },
        runId: 'run-p',
        fsAllowlist,
      }),
    ),
  );
  return { results, receipts };
}

function task(id: string, file: string, baseCommit: string): TaskSpec {
  return { id, jobId: 'job7', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: `Update ${file}`, files: [file], baseCommit };
}

describe('programmers in parallel on one repository', () => {
  it('lets four programmers edit different files at once, each committed on its own branch, then merges them all', async () => {
    const files = { 'src/one.ts': 'export const one = 1;\n', 'src/two.ts': 'export const two = 2;\n', 'src/three.ts': 'export const three = 3;\n', 'src/four.ts': 'export const four = 4;\n' };
    const f = (fixture = await createTempRepo(files));
    const names = ['one', 'two', 'three', 'four'];
    const llm = new PerTaskLlm(
      Object.fromEntries(names.map((n, i) => [`t${i + 1}`, replaceLine(`src/${n}.ts`, `export const ${n} = ${i + 1};`, `export const ${n} = ${(i + 1) * 10};`)])),
    );

    const { results, receipts } = await runAll(f, llm, names.map((n, i) => task(`t${i + 1}`, `src/${n}.ts`, f.base)));

    expect(llm.maxInFlight).toBe(4);
    expect(results.map((r) => r.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect(results.map((r) => r.branch)).toEqual(['pas/job7/t1', 'pas/job7/t2', 'pas/job7/t3', 'pas/job7/t4']);
    for (const r of results) {
      expect(r.kpi).toEqual({ files_changed: 1, lines_added: 1, lines_removed: 1 });
      expect(await gitOut(f.repo, 'rev-parse', `${r.branch!}^`)).toBe(f.base);
    }
    expect(receipts).toHaveLength(4);
    expect((await listWorktrees(f.repo)).length).toBe(1);

    const merged = await mergeTaskBranches({ repo: f.repo, jobBranch: jobBranchName('job7'), baseCommit: f.base, branches: results.map((r) => r.branch!) });
    expect(merged.results.every((r) => r.status === 'merged')).toBe(true);
    for (const [i, n] of names.entries()) {
      expect(await gitOut(f.repo, 'show', `pas/job-job7:src/${n}.ts`)).toBe(`export const ${n} = ${(i + 1) * 10};`);
    }
    expect(await gitOut(f.repo, 'rev-parse', 'HEAD')).toBe(f.base);
  });

  it('reports the conflicting file when two programmers changed the same line', async () => {
    const f = (fixture = await createTempRepo({ 'src/shared.ts': 'export const value = 1;\n', 'src/other.ts': 'export const other = 1;\n' }));
    const llm = new PerTaskLlm({
      t1: replaceLine('src/shared.ts', 'export const value = 1;', 'export const value = 2;'),
      t2: replaceLine('src/shared.ts', 'export const value = 1;', 'export const value = 3;'),
    });
    const { results } = await runAll(f, llm, [task('t1', 'src/shared.ts', f.base), task('t2', 'src/shared.ts', f.base)]);
    expect(results.map((r) => r.status)).toEqual(['completed', 'completed']);

    const merged = await mergeTaskBranches({ repo: f.repo, jobBranch: jobBranchName('job7'), baseCommit: f.base, branches: results.map((r) => r.branch!) });
    expect(merged.results[0]).toMatchObject({ status: 'merged' });
    expect(merged.results[1]).toMatchObject({ status: 'conflict', files: ['src/shared.ts'], error: { code: 'PAS_ERR_MERGE_CONFLICT' } });
    expect(await gitOut(f.repo, 'show', 'pas/job-job7:src/shared.ts')).toBe('export const value = 2;');
  });
});
