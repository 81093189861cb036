/**
 * The facts the statecharts state as they happen, for the runtime to record (the journal, usage,
 * the budget, waiters). Each machine declares the facts it knows as named actions with these
 * payloads (no-ops here); `src/` provides them with `.provide({ actions })`. Nothing outside the
 * machines infers progress from XState's own events or actor ids.
 */
import type { JobOutcome, JobPlan, Lane, MergeOutcome, Rerun, TaskResult, TaskSpec } from './domain.ts';

/** A Manager has the job (running it now, or queued behind max_concurrent_tasks). */
export interface JobAtManagerFact {
  jobId: string;
  managerId: string;
  lane?: Lane;
}

/** The job's own statechart started at its Manager: it is running. */
export interface JobRunningFact {
  jobId: string;
  managerId: string;
}

/** The plan the job runs (already capped at its Manager's max_programmers). */
export interface PlanMadeFact {
  jobId: string;
  managerId: string;
  plan: JobPlan;
}

/** A task entered the pool (queued or about to start). */
export interface TaskQueuedFact {
  task: TaskSpec;
}

/** The pool gave the task to a programmer; `attempt` counts the pool's starts of this task. */
export interface TaskStartedFact {
  task: TaskSpec;
  programmerId: string;
  attempt: number;
}

/**
 * One attempt of a task ended on its programmer (`attempt`: the pool's count of its starts, not the journal's), whether its
 * result is the task's or the task goes to another programmer: what the attempt used and cost is
 * the programmer's either way.
 */
export interface AttemptEndedFact {
  programmerId: string;
  attempt: number;
  result: TaskResult;
}

/** The task's one final result (completed, failed with a coded reason, or cancelled). */
export interface TaskFinishedFact {
  result: TaskResult;
}

/** A conflicting subtask will run again on top of what is merged, as `rerun`. */
export interface RerunCreatedFact {
  jobId: string;
  taskId: string;
  rerun: Rerun;
  task: TaskSpec;
}

/**
 * A failed verify of the merged branch planned a fix-up: `plan` now ends with it, and it runs on
 * the merged head as `rerun` (a re-run of itself).
 */
export interface FixupCreatedFact {
  jobId: string;
  plan: JobPlan;
  rerun: Rerun;
  task: TaskSpec;
}

/** The job branch now holds these tasks' work. */
export interface BranchesMergedFact {
  jobId: string;
  merge: MergeOutcome;
}

/** Where a finished subtask's branch is in the job's merge queue (the live feed shows each step). */
export const MERGE_STEP_STATES = ['queued', 'merging', 'merged', 'conflict', 'failed', 'verifying', 'verified', 'verify_failed'] as const;
export type MergeStepState = (typeof MERGE_STEP_STATES)[number];

/**
 * One step of the merge queue: a task branch queued, merging, merged (or conflicting / failed),
 * and the verify of the job branch after its merge. `queue` is what still waits, in order.
 */
export interface MergeStepFact {
  jobId: string;
  managerId: string;
  taskId: string;
  state: MergeStepState;
  queue: string[];
  /** The job branch head after the merge (merged, verifying, verified, verify_failed). */
  head?: string;
  /** The files that collided (conflict). */
  files?: string[];
  /** The verify command's exit code (verified, verify_failed). */
  exitCode?: number | null;
}

/** The job ended with this outcome. */
export interface JobFinishedFact {
  outcome: JobOutcome;
}

/** Every fact, by the name of the action that states it. */
export interface Facts {
  recordJobAtManager: JobAtManagerFact;
  recordJobRunning: JobRunningFact;
  recordPlanMade: PlanMadeFact;
  recordTaskQueued: TaskQueuedFact;
  recordTaskStarted: TaskStartedFact;
  recordAttemptEnded: AttemptEndedFact;
  recordTaskFinished: TaskFinishedFact;
  recordRerunCreated: RerunCreatedFact;
  recordBranchesMerged: BranchesMergedFact;
  recordMergeStep: MergeStepFact;
  recordFixupCreated: FixupCreatedFact;
  recordJobFinished: JobFinishedFact;
}

export type FactName = keyof Facts;

/** A fact action as a machine enqueues it: `{ type: name, params: payload }`. */
export type FactAction<K extends FactName> = { [P in K]: { type: P; params: Facts[P] } }[K];

/** What `src/` supplies: one recorder per fact. */
export type FactRecorder = { [K in FactName]: (fact: Facts[K]) => void };

/** The default (no-op) declaration of a fact action in a machine's `setup({ actions })`. */
export function fact<K extends FactName>(_name: K): (_args: unknown, _fact: Facts[K]) => void {
  return () => {};
}

/**
 * The `.provide({ actions })` map for a machine's fact actions: each calls the recorder.
 * `names` lists the facts that machine declares.
 */
export function provideFacts<K extends FactName>(recorder: FactRecorder, names: readonly K[]): { [P in K]: (_args: unknown, fact: Facts[P]) => void } {
  const out = {} as { [P in K]: (_args: unknown, fact: Facts[P]) => void };
  for (const name of names) out[name] = ((_args: unknown, payload: Facts[typeof name]) => (recorder[name] as (f: Facts[typeof name]) => void)(payload)) as (typeof out)[typeof name];
  return out;
}
