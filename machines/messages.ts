/**
 * The messages the job chain sends each other, one union per recipient, so a send is checked
 * against what the recipient understands (`satisfies ToManager`) instead of cast.
 */
import type { ErrorData, JobOutcome, JobResume, JobSpec, TaskResult, TaskSpec } from './domain.ts';

/** What a job's own statechart hears (from the pool and its Manager). */
export type ToJob =
  | { type: 'task.finished'; result: TaskResult }
  | { type: 'job.cancel' }
  /** Its Manager failed: stop here (cancelling what runs) without finishing; another Manager resumes it. */
  | { type: 'job.handBack' };

/** Stop this task (the pool passes it on to the programmer running it). */
export interface TaskCancel {
  type: 'task.cancel';
  taskId: string;
}

/** What the pool hears about tasks (from jobs and the runtime). */
export type ToPoolTask = { type: 'task.submitted'; task: TaskSpec } | TaskCancel;

/** What a Manager hears. */
export type ToManager =
  | { type: 'job.submitted'; job: JobSpec; resume?: JobResume }
  | { type: 'job.done'; outcome: JobOutcome }
  | { type: 'job.cancel'; jobId: string }
  | { type: 'supervisor.escalated'; programmerId: string; taskId: string; error: ErrorData }
  | { type: 'manager.fault'; error?: ErrorData }
  | { type: 'manager.reset' };

/** What a Director hears. */
export type ToDirector =
  | { type: 'job.submitted'; job: JobSpec; resume?: JobResume }
  | { type: 'job.finished'; outcome: JobOutcome }
  | { type: 'job.bounced'; job: JobSpec; from: string; resume?: JobResume }
  | { type: 'job.cancel'; jobId: string }
  | { type: 'manager.failed'; managerId: string }
  | { type: 'manager.ready'; managerId: string }
  | { type: 'director.fault'; error?: ErrorData }
  | { type: 'director.reset' };

/** What the Architect hears from the outside and from its Directors. */
export type ToArchitect =
  | { type: 'job.submitted'; job: JobSpec; resume?: JobResume }
  | { type: 'job.finished'; outcome: JobOutcome }
  | { type: 'job.cancel'; jobId: string }
  | { type: 'architect.fault'; error?: ErrorData }
  | { type: 'architect.reset' };
