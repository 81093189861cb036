/**
 * After a restart: running tasks are re-queued or marked interrupted (as configured), and every
 * accepted job that has not ended is handed to the Architect again with its journaled plan, its
 * finished results and the conflict re-runs it created, so finished work is not redone and a
 * re-run is never created twice. Tasks sent straight to a programmer go back to the pool.
 */
import type { JobResume, JobSpec, TaskResult } from '../../machines/domain.ts';
import type { ToArchitect, ToPoolTask } from '../../machines/messages.ts';
import type { Journal } from '../journal/journal.ts';
import type { Logger } from 'pino';
import { loadPlan, loadReruns } from './job-progress.ts';
import { bookInterruptedAttempts } from './interrupted-receipts.ts';
import { restoreReceiptLines } from './receipt-lines.ts';
import { DIRECT_REPLY_TO } from './runtime-types.ts';

/** Results a job answers by sending the task again, so they do not end it. */
const PROVISIONAL_CODES = new Set(['PAS_ERR_POOL_QUEUE_FULL', 'PAS_ERR_SUPERVISOR_ESCALATED']);
function provisional(result: TaskResult): boolean {
  return result.status === 'cancelled' || PROVISIONAL_CODES.has(result.error?.code ?? '');
}

/** A task's finish time as a sort key: unfinished (null) after every finished one. */
function finishOrder(finishedAt: string | null): number {
  return finishedAt ? Date.parse(finishedAt) : Number.MAX_SAFE_INTEGER;
}

export interface ResumeTargets {
  architect: (event: ToArchitect) => void;
  pool: (event: ToPoolTask) => void;
}

/** Where this run's receipts go: the restart books the receipts of attempts its predecessor was killed in there. */
export interface ResumeReceipts {
  dir: string;
  runId: string;
  /** The runtime's clock (the receipts it books say when they were booked). */
  now: () => Date;
}

export function resumeUnfinished(journal: Journal, mode: 'requeue' | 'interrupt', send: ResumeTargets, logger: Logger, receipts?: ResumeReceipts): void {
  if (receipts) {
    // An attempt cut off after paid calls gets its receipt (its failed result, taken by recovery below).
    const interrupted = bookInterruptedAttempts(journal, receipts.runId, receipts.now());
    if (interrupted.length > 0) logger.warn({ tasks: interrupted, runId: receipts.runId }, 'subtasks cut off by the stop after paid model calls: their attempts\' receipts booked');
    // Every booked receipt of an attempt whose end the journal lacks is in its file before recovery takes its result.
    const booked = journal.bookedReceiptLines();
    restoreReceiptLines(receipts.dir, booked, logger);
    journal.receiptLinesWritten(booked);
  }
  const report = journal.recover({ mode });
  // No in-process attempt runs now: the calls kept for them are spent (their receipts booked).
  journal.forgetLocalCalls();
  if (report.finishedFromReceipts.length > 0) logger.info({ tasks: report.finishedFromReceipts }, 'subtasks whose completed receipt was booked before the restart finished with it, not run again');
  for (const job of report.unfinishedJobs) {
    const plan = loadPlan(journal, job.id);
    const tasks = journal.tasksForJob(job.id);
    // Every task that finished (completed or failed) keeps its result: finished work is not redone.
    // A refusal the job would have retried (queue full, a first escalation, a hand-back cancel) is not
    // a verdict: that subtask runs again.
    // In the order they finished (the job merges in that order; a task without a finish time last).
    const results = tasks
      .filter((t) => t.result && !provisional(t.result))
      .sort((a, b) => finishOrder(a.finishedAt) - finishOrder(b.finishedAt))
      .map((t) => t.result!);
    if (mode === 'interrupt') {
      for (const t of tasks.filter((t) => t.status === 'interrupted' && !t.result)) {
        results.push({ taskId: t.id, jobId: job.id, programmerId: t.programmerId ?? '', status: 'failed', error: t.error ?? { code: 'PAS_ERR_TASK_INTERRUPTED', retryable: true, message: 'interrupted by a restart' } });
      }
    }
    const spec: JobSpec = job.lane && !job.spec.lane ? { ...job.spec, lane: job.lane } : job.spec;
    const reruns = loadReruns(journal, job.id);
    const resume: JobResume | undefined = plan ? { plan, results, ...(Object.keys(reruns).length > 0 ? { reruns } : {}) } : undefined;
    logger.info({ jobId: job.id, resumed: !!plan, finishedTasks: results.length, reruns: Object.keys(reruns).length }, 'resuming job after restart');
    send.architect(resume ? { type: 'job.submitted', job: spec, resume } : { type: 'job.submitted', job: spec });
  }
  for (const task of journal.queuedTasks()) {
    if (task.spec.replyTo !== DIRECT_REPLY_TO) continue;
    logger.info({ taskId: task.id, programmerId: task.spec.pin }, 'resuming direct task after restart');
    send.pool({ type: 'task.submitted', task: task.spec });
  }
}
