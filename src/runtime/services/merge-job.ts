/**
 * The merge-job activity: the job's completed task branches into `pas/job-<id>`. Idempotent, so
 * a resume after a kill can simply merge again: a task whose commit the job branch already holds
 * (merged before the kill, its branch maybe already deleted) counts as merged without a second
 * merge. Merged task branches are deleted (the job branch keeps their work); conflicting and
 * failed ones are kept. A conflicting task gets a resolver instruction (conflict-resolver.ts): both
 * sides of each hunk, for its re-run on the merged head.
 */
import type { Logger } from 'pino';
import type { MergeOutcome } from '../../../machines/domain.ts';
import type { MergeJobInput } from '../../../machines/job.machine.ts';
import { toErrorData } from '../../errors.ts';
import { jobBranchName, mergeTaskBranches } from '../../executors/index.ts';
import { commitsInBranch, deleteMergedBranches } from '../../executors/merged-branches.ts';
import { resolverInstruction } from './conflict-resolver.ts';
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
    // A conflicting subtask's re-run resolves what collided: it is shown both sides of each hunk.
    if (outcome.head) {
      const subtaskOf = (taskId: string) => plan.subtasks.find((s) => s.id === taskId || `${s.id}-r1` === taskId);
      const mergedWork = withWork.filter((r) => merged.includes(r.taskId) && r.commit && subtaskOf(r.taskId)).map((r) => ({ subtask: subtaskOf(r.taskId)!, commit: r.commit! }));
      for (const conflict of conflicts) {
        const subtask = plan.subtasks.find((s) => s.id === conflict.taskId);
        const branch = toMerge.find((r) => r.taskId === conflict.taskId)?.branch;
        if (!subtask || !branch) continue;
        try {
          const resolver = await resolverInstruction({ repo, baseCommit: plan.baseCommit!, head: outcome.head, branch, subtask, files: conflict.files, merged: mergedWork });
          if (resolver) conflict.resolver = resolver;
        } catch (err) {
          logger.warn({ jobId: job.id, taskId: conflict.taskId, err: toErrorData(err) }, 'could not show the conflict to its resolver; the subtask is re-run as it was');
        }
      }
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
