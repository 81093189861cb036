/**
 * A Programmer does one subtask at a time.
 *
 * IDLE ──task.assigned──▶ EXECUTING ──executeTask done──▶ IDLE   (result reported to the pool)
 *                            │ task.cancel ─────────────▶ IDLE   (cancelled, executor stopped)
 *                            │ after timeout ───────────▶ FAILED (reason: timeout)
 *                            │ programmer.fault ────────▶ FAILED
 * FAILED ──programmer.reset──▶ IDLE (a restart; the supervisor decides when)
 *
 * Leaving EXECUTING stops the invoked executor, whose AbortSignal kills its process tree.
 */
import { assign, enqueueActions, setup, fromPromise, type AnyActorRef } from 'xstate';
import type { ActorLookup } from './actor-lookup.ts';
import type { TaskCancel } from './messages.ts';
import { asErrorData, failedResult, type ErrorData, type TaskResult, type TaskSpec } from './domain.ts';
import { codedError } from './error-codes.ts';

export interface ProgrammerInput {
  id: string;
  timeoutMs: number;
  /**
   * Extra time the statechart's own timeout waits past `timeoutMs`. The executor enforces the
   * timeout itself (and reports PAS_ERR_TASK_TIMEOUT, which also leads to FAILED); this backstop
   * catches an executor that hangs and ignores its abort signal. Default 0.
   */
  timeoutGraceMs?: number;
  /** System id of the pool that supervises this programmer. */
  poolId?: string;
}

export interface ProgrammerContext {
  id: string;
  timeoutMs: number;
  timeoutGraceMs: number;
  poolId: string;
  task: TaskSpec | null;
  lastResult: TaskResult | null;
  failure: ErrorData | null;
  restarts: number;
  completed: number;
  failed: number;
}

export type ProgrammerEvent =
  | { type: 'task.assigned'; task: TaskSpec }
  | TaskCancel
  | { type: 'programmer.fault'; error?: ErrorData }
  | { type: 'programmer.reset' };

/** What the programmer tells its pool. */
export type ProgrammerReport =
  | { type: 'programmer.done'; programmerId: string; result: TaskResult }
  | { type: 'programmer.failed'; programmerId: string; error: ErrorData; task: TaskSpec | null; result?: TaskResult }
  | { type: 'programmer.ready'; programmerId: string };

export interface ExecuteTaskInput {
  programmerId: string;
  task: TaskSpec;
}

const TIMEOUT: ErrorData = codedError('PAS_ERR_TASK_TIMEOUT', 'no result within the timeout');
const FAULT: ErrorData = codedError('PAS_ERR_PROGRAMMER_FAILED', 'programmer forced into FAILED');

/** The executor's own result for the held task, when it produced one (a timeout it enforced). */
function ownResult(context: ProgrammerContext): TaskResult | undefined {
  return context.task && context.lastResult?.taskId === context.task.id ? context.lastResult : undefined;
}

function failedReport(context: ProgrammerContext): ProgrammerReport {
  const report: ProgrammerReport = { type: 'programmer.failed', programmerId: context.id, error: context.failure ?? FAULT, task: context.task };
  const result = ownResult(context);
  if (result) report.result = result;
  return report;
}

function pool(system: ActorLookup, context: ProgrammerContext): AnyActorRef | undefined {
  return system.get(context.poolId);
}

export const programmerMachine = setup({
  types: {
    context: {} as ProgrammerContext,
    input: {} as ProgrammerInput,
    events: {} as ProgrammerEvent,
  },
  actors: {
    /** Runs one subtask end to end and resolves to its result (never rejects for task-level failures). */
    executeTask: fromPromise<TaskResult, ExecuteTaskInput>(async () => {
      throw new Error('executeTask is provided by the runtime');
    }),
  },
  guards: {
    /** The executor gave up on its own timeout: the programmer made no progress in time. */
    timedOut: ({ event }) => {
      const output = (event as { output?: TaskResult }).output;
      return output?.status === 'failed' && output.error?.code === 'PAS_ERR_TASK_TIMEOUT';
    },
    isCurrentTask: ({ context, event }) => event.type === 'task.cancel' && context.task?.id === event.taskId,
  },
  delays: {
    taskTimeout: ({ context }) => (context.task?.timeoutMs ?? context.timeoutMs) + context.timeoutGraceMs,
  },
  actions: {
    takeTask: assign(({ event }) => (event.type === 'task.assigned' ? { task: event.task, failure: null } : {})),
    /** Deferred like every built-in send, so the pool hears of it after this transition is done. */
    report: enqueueActions(({ context, system, enqueue }, report: ProgrammerReport) => {
      const target = pool(system, context);
      if (target) enqueue.sendTo(target, report);
    }),
  },
}).createMachine({
  id: 'programmer',
  context: ({ input }) => ({
    id: input.id,
    timeoutMs: input.timeoutMs,
    timeoutGraceMs: input.timeoutGraceMs ?? 0,
    poolId: input.poolId ?? 'pool',
    task: null,
    lastResult: null,
    failure: null,
    restarts: 0,
    completed: 0,
    failed: 0,
  }),
  initial: 'IDLE',
  states: {
    IDLE: {
      on: {
        'task.assigned': { target: 'EXECUTING', actions: 'takeTask' },
        'programmer.fault': {
          target: 'FAILED',
          actions: assign({ failure: ({ event }) => event.error ?? FAULT }),
        },
      },
    },
    EXECUTING: {
      invoke: {
        src: 'executeTask',
        input: ({ context }) => ({ programmerId: context.id, task: context.task! }),
        onDone: [
          {
            // FAILED's entry reports the task (still held) to the supervisor with this failure.
            guard: 'timedOut',
            target: 'FAILED',
            actions: assign({ failure: ({ event }) => event.output.error ?? TIMEOUT, lastResult: ({ event }) => event.output }),
          },
          {
            target: 'IDLE',
            actions: [
              assign(({ context, event }) => ({
                lastResult: event.output,
                task: null,
                completed: context.completed + (event.output.status === 'completed' ? 1 : 0),
                failed: context.failed + (event.output.status === 'completed' ? 0 : 1),
              })),
              { type: 'report', params: ({ context }) => ({ type: 'programmer.done', programmerId: context.id, result: context.lastResult! }) },
            ],
          },
        ],
        onError: {
          target: 'IDLE',
          actions: [
            assign(({ context, event }) => ({
              lastResult: failedResult(context.task!, context.id, asErrorData(event.error)),
              task: null,
              failed: context.failed + 1,
            })),
            { type: 'report', params: ({ context }) => ({ type: 'programmer.done', programmerId: context.id, result: context.lastResult! }) },
          ],
        },
      },
      after: {
        taskTimeout: {
          target: 'FAILED',
          actions: assign({ failure: () => TIMEOUT }),
        },
      },
      on: {
        'task.cancel': {
          guard: 'isCurrentTask',
          target: 'IDLE',
          actions: [
            assign(({ context }) => ({
              lastResult: failedResult(context.task!, context.id, codedError('PAS_ERR_TASK_CANCELLED', 'cancelled'), 'cancelled'),
              task: null,
            })),
            { type: 'report', params: ({ context }) => ({ type: 'programmer.done', programmerId: context.id, result: context.lastResult! }) },
          ],
        },
        'programmer.fault': {
          target: 'FAILED',
          actions: assign({ failure: ({ event }) => event.error ?? FAULT }),
        },
      },
    },
    FAILED: {
      entry: [
        { type: 'report', params: ({ context }) => failedReport(context) },
        assign(({ context }) => ({
          lastResult: context.task ? ownResult(context) ?? failedResult(context.task, context.id, context.failure ?? FAULT) : context.lastResult,
          task: null,
          failed: context.failed + (context.task ? 1 : 0),
        })),
      ],
      on: {
        'programmer.reset': {
          target: 'IDLE',
          actions: [
            assign(({ context }) => ({ restarts: context.restarts + 1, failure: null })),
            { type: 'report', params: ({ context }) => ({ type: 'programmer.ready', programmerId: context.id }) },
          ],
        },
      },
    },
  },
});
