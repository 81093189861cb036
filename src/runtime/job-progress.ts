/**
 * What a job has decided so far, kept in the journal so a resume continues it instead of starting
 * over: its plan (as the job runs it) and the conflict re-runs it created. Both are dropped when
 * the job ends.
 */
import type { JobPlan, Rerun } from '../../machines/domain.ts';
import type { Journal } from '../journal/journal.ts';

const planKey = (jobId: string) => `plan:${jobId}`;
const rerunsKey = (jobId: string) => `reruns:${jobId}`;

export function savePlan(journal: Journal, jobId: string, plan: JobPlan): void {
  journal.saveSnapshot(planKey(jobId), plan);
}

export function loadPlan(journal: Journal, jobId: string): JobPlan | undefined {
  return journal.loadSnapshot<JobPlan>(planKey(jobId));
}

/** Records that `taskId` is re-run as `rerun` (once: a second record of the same subtask is ignored). */
export function saveRerun(journal: Journal, jobId: string, taskId: string, rerun: Rerun): void {
  const reruns = loadReruns(journal, jobId);
  if (reruns[taskId]) return;
  journal.saveSnapshot(rerunsKey(jobId), { ...reruns, [taskId]: rerun });
}

/** The job's re-runs by the subtask they replace. */
export function loadReruns(journal: Journal, jobId: string): Record<string, Rerun> {
  return journal.loadSnapshot<Record<string, Rerun>>(rerunsKey(jobId)) ?? {};
}

export function forgetJobProgress(journal: Journal, jobId: string): void {
  journal.deleteSnapshot(planKey(jobId));
  journal.deleteSnapshot(rerunsKey(jobId));
}
