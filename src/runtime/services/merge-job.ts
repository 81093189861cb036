/**
 * The merge-job activity: the job's completed task branches into `pas/job-<id>`. Idempotent, so
 * a resume after a kill can simply merge again: a task whose commit the job branch already holds
 * (merged before the kill, its branch maybe already deleted) counts as merged without a second
 * merge. Merged task branches are deleted (the job branch keeps their work); conflicting and
 * failed ones are kept.
 */
import type { Logger } from 'pino';
import type { MergeOutcome } from '../../../machines/domain.ts';
import type { MergeJobInput } from '../../../machines/job.machine.ts';
import { toErrorData } from '../../errors.ts';
import { jobBranchName, mergeTaskBranches } from '../../executors/index.ts';
import { commitsInBranch, deleteMergedBranches } from '../../executors/merged-branches.ts';
import type { OrphanSweep } from './orphan-sweep.ts';
import type { Repositories } from './repositories.ts';

export interface MergeJobDeps {
  repositories: Repositories;
  sweep: OrphanSweep;
  workspacesDir: string;
  logger: Logger;
}

export function createMergeJob({ repositories, sweep, workspacesDir, logger }: MergeJobDeps) {
  return async ({ job, plan, results }: MergeJobInput, signal: AbortSignal): Promise<MergeOutcome> => {
    await sweep.afterCrash;
    const repo = plan.repo ?? repositories.pathOf(job.id, job.repo);
    const jobBranch = jobBranchName(job.id);
    const withWork = results.filter((r) => r.branch || r.commit);
    const held = await commitsInBranch(repo, jobBranch, withWork.flatMap((r) => (r.commit ? [r.commit] : [])));
    const merged = withWork.filter((r) => r.commit && held.has(r.commit)).map((r) => r.taskId);
    const toMerge = withWork.filter((r) => r.branch && !merged.includes(r.taskId));
    const outcome = await mergeTaskBranches({
      repo,
      jobBranch,
      baseCommit: plan.baseCommit!,
      branches: toMerge.map((r) => r.branch!),
      workspacesDir,
      signal,
    });
    const taskOf = new Map(toMerge.map((r) => [r.branch!, r.taskId]));
    const conflicts: MergeOutcome['conflicts'] = [];
    for (const r of outcome.results) {
      const taskId = taskOf.get(r.branch);
      if (!taskId) continue;
      if (r.status === 'merged') merged.push(taskId);
      else if (r.status === 'conflict') conflicts.push({ taskId, files: r.files });
      else logger.error({ jobId: job.id, taskId, error: r.error }, 'merge of a task branch failed');
    }
    const mergedBranches = withWork.filter((r) => r.branch && merged.includes(r.taskId)).map((r) => r.branch!);
    try {
      await deleteMergedBranches(repo, jobBranch, mergedBranches);
    } catch (err) {
      logger.warn({ jobId: job.id, err: toErrorData(err) }, 'could not delete merged task branches');
    }
    return { mergedBranch: outcome.jobBranch, head: outcome.head, merged: results.filter((r) => merged.includes(r.taskId)).map((r) => r.taskId), conflicts };
  };
}
