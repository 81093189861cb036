/**
 * Every status word PAS uses, declared once. Types, zod enums (`src/gateway/schemas.ts`),
 * Prometheus label values (`src/gateway/metrics.ts`) and SQL CHECKs (`src/journal/journal.ts`)
 * are all derived from these lists.
 */

export const AGENT_ROLES = ['architect', 'director', 'manager', 'programmer', 'breaker'] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

/** Top-level states every Director, Manager and Programmer shares (CONTRACT §6). */
export const AGENT_STATES = ['IDLE', 'EXECUTING', 'FAILED'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

export const BREAKER_STATES = ['closed', 'open', 'halfOpen'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

/** A job's life: accepted by the gateway, running at a Manager, then one of the terminal four. */
export const JOB_STATUSES = ['accepted', 'running', 'completed', 'partial', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_JOB_STATUSES = ['completed', 'partial', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];
export type TerminalJobStatus = (typeof TERMINAL_JOB_STATUSES)[number];

/** How a programmer's run of a task ended (a TaskResult). */
export const TASK_RESULT_STATUSES = ['completed', 'failed', 'cancelled'] as const;
export type TaskResultStatus = (typeof TASK_RESULT_STATUSES)[number];

/** A task as the journal holds it: queued, running, its result, or interrupted by a restart. */
export const TASK_STATUSES = ['queued', 'running', ...TASK_RESULT_STATUSES, 'interrupted'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
/** A task in one of these states has its final word; only a higher attempt reopens it. */
export const FINISHED_TASK_STATUSES = [...TASK_RESULT_STATUSES, 'interrupted'] as const satisfies readonly TaskStatus[];

export function isTerminalJobStatus(status: string): status is TerminalJobStatus {
  return (TERMINAL_JOB_STATUSES as readonly string[]).includes(status);
}

export function isFinishedTaskStatus(status: string): boolean {
  return (FINISHED_TASK_STATUSES as readonly string[]).includes(status);
}
