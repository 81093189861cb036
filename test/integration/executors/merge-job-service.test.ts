/**
 * The merge-job activity against a real repository: merging again (a resume after a kill) merges
 * nothing twice and reports as merged what the job branch already holds, even once the task
 * branches are deleted; merged branches are deleted and conflicting ones kept.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { JobSpec, TaskResult } from '../../../machines/domain.ts';
import { createMergeJob } from '../../../src/runtime/services/merge-job.ts';
import { createOrphanSweep } from '../../../src/runtime/services/orphan-sweep.ts';
import { createRepositories } from '../../../src/runtime/services/repositories.ts';
import { openJournal, type Journal } from '../../../src/journal/journal.ts';
import { silentLogger } from '../../../src/runtime/logger.ts';
import { createTempRepo, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';

const JOB: JobSpec = { id: 'J1', task: 'edit', submittedAt: '2026-01-01T00:00:00.000Z' };

let repo: TempRepo | undefined;
let journal: Journal | undefined;
afterEach(async () => {
  journal?.close();
  await repo?.cleanup();
  repo = journal = undefined;
});

/** A task branch `pas/J1/<taskId>` at the base with `files` written and committed. */
async function taskBranch(r: TempRepo, taskId: string, files: Record<string, string>): Promise<TaskResult> {
  const branch = `pas/J1/${taskId}`;
  await gitOut(r.repo, 'checkout', '--quiet', '-b', branch, r.base);
  await writeFiles(r.repo, files);
  await gitOut(r.repo, 'add', '--all');
  await gitOut(r.repo, 'commit', '--quiet', '-m', `pas: task ${taskId}`);
  const commit = await gitOut(r.repo, 'rev-parse', 'HEAD');
  await gitOut(r.repo, 'checkout', '--quiet', 'main');
  return { taskId, jobId: 'J1', programmerId: 'P1', status: 'completed', branch, commit };
}

function service(r: TempRepo) {
  journal = openJournal(':memory:');
  const logger = silentLogger();
  const repositories = createRepositories(r.root);
  const sweep = createOrphanSweep({ journal, repositories, workspacesDir: r.workspacesDir, logger });
  return createMergeJob({ repositories, sweep, workspacesDir: r.workspacesDir, logger });
}

const branches = async (r: TempRepo) => (await gitOut(r.repo, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/pas/J1/')).split('\n').filter(Boolean).sort();
const mergeCommits = async (r: TempRepo) => (await gitOut(r.repo, 'log', '--format=%s', 'pas/job-J1')).split('\n').filter((s) => s.startsWith('pas: merge '));

describe('the merge-job activity', () => {
  it('deletes merged task branches, keeps a conflicting one, and on a second run merges nothing again yet reports what the job branch holds', async () => {
    repo = await createTempRepo({ 'a.txt': 'a\n', 'v.txt': '1\n' });
    const t1 = await taskBranch(repo, 'J1-t1', { 'a.txt': 'A\n', 'v.txt': '2\n' });
    const t2 = await taskBranch(repo, 'J1-t2', { 'v.txt': '3\n' });
    const mergeJob = service(repo);
    const plan = { planner: 'fallback' as const, subtasks: [], repo: repo.repo, baseCommit: repo.base };

    const first = await mergeJob({ job: JOB, plan, results: [t1, t2] }, new AbortController().signal);
    expect(first.merged).toEqual(['J1-t1']);
    expect(first.conflicts).toEqual([{ taskId: 'J1-t2', files: ['v.txt'] }]);
    expect(await branches(repo)).toEqual(['pas/J1/J1-t2']);
    expect(await mergeCommits(repo)).toEqual(['pas: merge pas/J1/J1-t1 into pas/job-J1']);

    // A resume merges the same results again: t1's branch is gone, its commit is in the job branch.
    const again = await mergeJob({ job: JOB, plan, results: [t1] }, new AbortController().signal);
    expect(again.merged).toEqual(['J1-t1']);
    expect(again.head).toBe(first.head);
    expect(await mergeCommits(repo)).toHaveLength(1);
  });
});
