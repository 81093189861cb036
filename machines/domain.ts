/**
 * Plain data shared by the statecharts and the I/O layer. Everything here is JSON so actor
 * snapshots can be persisted and replayed.
 */
import { ERRORS, isErrorCode, type ErrorCode, type ErrorData } from './error-codes.ts';
import type { TaskResultStatus, TerminalJobStatus } from './statuses.ts';

export type { ErrorCode, ErrorData } from './error-codes.ts';

export type Lane = 'Code' | 'Models' | 'Data' | 'DevSecOps' | 'Docs';
export const LANES: readonly Lane[] = ['Code', 'Models', 'Data', 'DevSecOps', 'Docs'];

/** What edits a subtask's files (CONTRACT §8): PAS's own loop, Aider, or a coding-agent CLI. */
export const EXECUTOR_KINDS = ['native', 'aider', 'claude-code', 'codex', 'gemini-cli', 'opencode'] as const;
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];


export type { AgentRole, AgentState, BreakerState, JobStatus, TaskResultStatus, TaskStatus, TerminalJobStatus } from './statuses.ts';
export { TERMINAL_JOB_STATUSES } from './statuses.ts';


/** A model reference `provider/model`, e.g. `ollama/qwen2.5-coder:7b-instruct`. */
export type ModelRef = string;

/** Token counts as the provider reported them; `null` where it did not say. */
export interface TokenUsage {
  input: number | null;
  output: number | null;
  thinking?: number | null;
  cache_read?: number | null;
  cache_write?: number | null;
}

export interface Kpi {
  files_changed: number;
  lines_added: number;
  lines_removed: number;
}

/** A job as submitted by a user (CONTRACT §4). */
export interface JobSpec {
  id: string;
  task: string;
  lane?: Lane;
  files?: string[];
  repo?: string;
  /** Checked on every subtask after its edit (see TaskSpec.verify). */
  verify?: string[];
  /** The job's own spending limit in USD (`max_job_spend_usd` of the job body). */
  maxJobSpendUsd?: number;
  /** Runs every subtask of the job (plan, conflict resolvers, fix-ups), whatever executor its programmer has. */
  executor?: ExecutorKind;
  submittedAt: string;
}

/** One subtask of a job, as the pool routes it. */
export interface TaskSpec {
  id: string;
  jobId: string;
  /** The Manager that owns the task and hears its outcome. */
  managerId: string;
  /** System id of the actor that hears the task's outcome (`task.finished`). */
  replyTo: string;
  instruction: string;
  files: string[];
  repo?: string;
  baseCommit?: string;
  /** Capabilities the programmer must have (`capability_match`). */
  requires?: string[];
  /** Programmers that must not get the task (already tried, escalated). */
  exclude?: string[];
  /** How many times the pool has started this task. */
  attempt?: number;
  /** Per-task timeout override in ms. */
  timeoutMs?: number;
  /** Only this programmer may run the task (a programmer's own POST /execute). */
  pin?: string;
  /** Executor override for this task (POST /aider/edit forces aider; a job's `executor` sets it on each subtask). */
  executor?: ExecutorKind;
  /** A command (argv, in cmd_allowlist.yaml) run in the worktree after the edit; non-zero fails the task. */
  verify?: string[];
  /** Files the programmer is shown read-only (neighbours from the repository map). */
  context?: string[];
}

export interface TaskResult {
  taskId: string;
  jobId: string;
  programmerId: string;
  status: TaskResultStatus;
  error?: ErrorData;
  provider?: string;
  model?: string;
  usedBackup?: boolean;
  tokens?: TokenUsage;
  costUsd?: number;
  durationMs?: number;
  kpi?: Kpi;
  branch?: string;
  commit?: string;
  summary?: string;
}


export interface JobOutcome {
  jobId: string;
  managerId: string;
  status: TerminalJobStatus;
  tasks: TaskResult[];
  mergedBranch?: string;
  conflicts?: string[];
  /** The job's verify command on the merged branch, last run (absent when the job has none). */
  verification?: { command: string; passed: boolean; exitCode: number | null; head: string; fixups: number };
  error?: ErrorData;
  tokens: { input: number; output: number };
  costUsd: number;
  /** Filled in by the runtime from the journal's clock (machines keep no clock). */
  durationMs?: number;
}

/**
 * Turns anything thrown into ErrorData, keeping a known code with its retryable flag and details
 * (a `PasError` or its plain form); anything else gets `fallbackCode`. Pure: no Error kept.
 */
export function asErrorData(err: unknown, fallbackCode: ErrorCode = 'PAS_ERR_EXECUTOR_CRASHED'): ErrorData {
  if (err && typeof err === 'object' && 'code' in err && isErrorCode(err.code)) {
    const e = err as { code: ErrorCode; retryable?: unknown; message?: unknown; details?: unknown };
    const data: ErrorData = { code: e.code, retryable: e.retryable === true, message: typeof e.message === 'string' ? e.message : e.code };
    if (e.details && typeof e.details === 'object' && Object.keys(e.details).length > 0) data.details = e.details as Record<string, unknown>;
    return data;
  }
  return { code: fallbackCode, retryable: ERRORS[fallbackCode].retryable, message: err instanceof Error ? err.message : String(err) };
}

export function failedResult(task: Pick<TaskSpec, 'id' | 'jobId'>, programmerId: string, error: ErrorData, status: Exclude<TaskResultStatus, 'completed'> = 'failed'): TaskResult {
  return { taskId: task.id, jobId: task.jobId, programmerId, status, error };
}

/** One subtask of a job's plan. */
export interface Subtask {
  id: string;
  instruction: string;
  files: string[];
  requires?: string[];
  /** Neighbouring files shown read-only to the programmer. */
  context?: string[];
}

/** How a Manager split a job (journaled as the job runs it, capped at its max_programmers). */
export interface JobPlan {
  subtasks: Subtask[];
  repo?: string;
  baseCommit?: string;
  /** Whether the plan came from the LLM or the one-subtask-per-file fallback. */
  planner: 'llm' | 'fallback';
  planError?: ErrorData;
  usage?: TokenUsage;
  costUsd?: number;
  /** The job's verify command when the job body named none (its lane's default). */
  verify?: string[];
}

/** What a merge of a job's task branches left in its job branch. */
export interface MergeOutcome {
  mergedBranch: string;
  /** Commit of the job branch after the merge. */
  head?: string;
  /** Every task whose work the job branch now holds (earlier merges included). */
  merged: string[];
  /** `resolver`: the re-run's instruction showing both sides of each conflicting hunk (else it re-runs as planned). */
  conflicts: Array<{ taskId: string; files: string[]; resolver?: string }>;
}

/** A subtask run again on top of what is merged, after its first run conflicted. */
export interface Rerun {
  /** Task id of the re-run (`<subtask>-r1`). */
  id: string;
  /** The job branch's commit the re-run starts from. */
  baseCommit?: string;
  /** A resolver's instruction and files (both sides of each conflicting hunk), when the merge showed them. */
  instruction?: string;
  files?: string[];
}

/** A job picked up again (after a restart, or from a failed Manager): its plan and what is done. */
export interface JobResume {
  plan: {
    subtasks: Subtask[];
    repo?: string;
    baseCommit?: string;
    planner: 'llm' | 'fallback';
    verify?: string[];
  };
  /** In the order the tasks finished: a resume merges what is unmerged in that order. */
  results: TaskResult[];
  /** Conflict re-runs already created, by the subtask they replace: a resume runs them, never a new one. */
  reruns?: Record<string, Rerun>;
}
