/**
 * Plain data shared by the statecharts and the I/O layer. Everything here is JSON so actor
 * snapshots can be persisted and replayed.
 */

export type Lane = 'Code' | 'Models' | 'Data' | 'DevSecOps' | 'Docs';
export const LANES: readonly Lane[] = ['Code', 'Models', 'Data', 'DevSecOps', 'Docs'];

export type AgentRole = 'architect' | 'director' | 'manager' | 'programmer' | 'breaker';

/** Top-level states every Director, Manager and Programmer shares (CONTRACT §6). */
export type AgentState = 'IDLE' | 'EXECUTING' | 'FAILED';
export type BreakerState = 'closed' | 'open' | 'halfOpen';

/** A failure as machines hold it: never an Error instance. */
export interface ErrorData {
  code: string;
  retryable: boolean;
  message: string;
  details?: Record<string, unknown>;
}

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
  submittedAt: string;
}

/** One subtask of a job, as the pool routes it. */
export interface TaskSpec {
  id: string;
  jobId: string;
  /** The Manager that owns the task and hears its outcome. */
  managerId: string;
  /** System id of the actor that receives `task.completed` / `task.failed`. */
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
  /** Executor override for this task (POST /aider/edit forces aider). */
  executor?: 'aider' | 'native';
  /** A command (argv, in cmd_allowlist.yaml) run in the worktree after the edit; non-zero fails the task. */
  verify?: string[];
  /** Files the programmer is shown read-only (neighbours from the repository map). */
  context?: string[];
}

export interface TaskResult {
  taskId: string;
  jobId: string;
  programmerId: string;
  status: 'completed' | 'failed' | 'cancelled';
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

export type JobStatus = 'accepted' | 'running' | 'completed' | 'partial' | 'failed' | 'cancelled';
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['completed', 'partial', 'failed', 'cancelled'];

export interface JobOutcome {
  jobId: string;
  managerId: string;
  status: Exclude<JobStatus, 'accepted' | 'running'>;
  tasks: TaskResult[];
  mergedBranch?: string;
  conflicts?: string[];
  error?: ErrorData;
  tokens: { input: number; output: number };
  costUsd: number;
  /** Filled in by the runtime from the journal's clock (machines keep no clock). */
  durationMs?: number;
}

/** Turns anything thrown into ErrorData, keeping a coded error's code. Pure: no Error kept. */
export function asErrorData(err: unknown, fallbackCode = 'PAS_ERR_EXECUTOR_CRASHED'): ErrorData {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    const e = err as { code: string; retryable?: unknown; message?: unknown; details?: unknown };
    if (e.code.startsWith('PAS_ERR_')) {
      const data: ErrorData = {
        code: e.code,
        retryable: e.retryable === true,
        message: typeof e.message === 'string' ? e.message : e.code,
      };
      if (e.details && typeof e.details === 'object') data.details = e.details as Record<string, unknown>;
      return data;
    }
  }
  return { code: fallbackCode, retryable: true, message: err instanceof Error ? err.message : String(err) };
}

export function failedResult(task: Pick<TaskSpec, 'id' | 'jobId'>, programmerId: string, error: ErrorData, status: 'failed' | 'cancelled' = 'failed'): TaskResult {
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
}

/** What a merge of a job's task branches left in its job branch. */
export interface MergeOutcome {
  mergedBranch: string;
  /** Commit of the job branch after the merge. */
  head?: string;
  /** Every task whose work the job branch now holds (earlier merges included). */
  merged: string[];
  conflicts: Array<{ taskId: string; files: string[] }>;
}

/** A subtask run again on top of what is merged, after its first run conflicted. */
export interface Rerun {
  /** Task id of the re-run (`<subtask>-r1`). */
  id: string;
  /** The job branch's commit the re-run starts from. */
  baseCommit?: string;
}

/** A job picked up again (after a restart, or from a failed Manager): its plan and what is done. */
export interface JobResume {
  plan: {
    subtasks: Subtask[];
    repo?: string;
    baseCommit?: string;
    planner: 'llm' | 'fallback';
  };
  results: TaskResult[];
  /** Conflict re-runs already created, by the subtask they replace: a resume runs them, never a new one. */
  reruns?: Record<string, Rerun>;
}
