/**
 * Why a job did not complete, when nothing stopped it as a whole (no timeout, plan, git or verify
 * error): every job that ends partial or failed names a coded reason (README Guarantees).
 */
import type { ErrorData, TaskResult } from './domain.ts';
import { codedError } from './error-codes.ts';

export interface UnfinishedWork {
  /** The subtasks' final results (a re-run's stands in for the original it replaced), plan order. */
  tasks: TaskResult[];
  /** Planned subtasks (fix-ups included). */
  planned: number;
  /** Task ids the job branch holds. */
  merged: readonly string[];
  /** Files of conflicts no re-run has merged over. */
  conflictFiles: string[];
}

export function unfinishedReason({ tasks, planned, merged, conflictFiles }: UnfinishedWork): ErrorData {
  // A subtask (or the re-run that replaced it) that failed says why.
  const failed = tasks.find((t) => t.status !== 'completed' && t.error);
  if (failed?.error) return failed.error;
  if (conflictFiles.length > 0) return codedError('PAS_ERR_MERGE_CONFLICT', `conflicts in ${conflictFiles.join(', ')} were not resolved`, { files: conflictFiles });
  const ended = tasks.find((t) => t.status !== 'completed');
  if (ended) return codedError(ended.status === 'cancelled' ? 'PAS_ERR_TASK_CANCELLED' : 'PAS_ERR_PROGRAMMER_FAILED', `subtask ${ended.taskId} ended ${ended.status}`, { taskId: ended.taskId });
  const unmerged = tasks.find((t) => !merged.includes(t.taskId));
  if (unmerged) return codedError('PAS_ERR_GIT', `subtask ${unmerged.taskId} completed but its branch was not merged`, { taskId: unmerged.taskId });
  return codedError('PAS_ERR_INTERNAL', `${planned - tasks.length} of ${planned} subtasks have no result`, { planned, finished: tasks.length });
}
