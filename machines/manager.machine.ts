/**
 * A Manager runs up to `maxConcurrent` jobs at once (each a child `job` actor that plans,
 * dispatches to the pool, collects and merges) and queues the rest.
 *
 * IDLE ──job.submitted──▶ EXECUTING ──(no job active or queued)──▶ IDLE
 * EXECUTING / IDLE ──manager.fault──▶ FAILED: its jobs are stopped and handed back to the Director
 * FAILED ──manager.reset──▶ IDLE; while FAILED, new jobs are bounced back to the Director.
 *
 * Facts it states (facts.ts): the job is at this Manager; a queued job cancelled here finished.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { ErrorData, JobOutcome, JobResume, JobSpec } from './domain.ts';
import { fact } from './facts.ts';
import { jobMachine, jobSystemId, rerunsOf, type JobContext, type JobInput } from './job.machine.ts';
import type { ToDirector, ToJob, ToManager } from './messages.ts';
import { codedError } from './error-codes.ts';

export interface ManagerInput {
  id: string;
  directorId: string;
  maxConcurrent: number;
  maxProgrammers: number;
  timeoutMs: number;
  poolId?: string;
  requeueDelayMs?: number;
}

export interface QueuedJob {
  job: JobSpec;
  resume?: JobResume;
}

export interface ManagerContext {
  id: string;
  directorId: string;
  maxConcurrent: number;
  maxProgrammers: number;
  timeoutMs: number;
  poolId: string;
  requeueDelayMs: number;
  /** Ids of the jobs running now (child actor ids). */
  active: string[];
  queue: QueuedJob[];
  finished: number;
  escalations: number;
  failure: ErrorData | null;
}

export type ManagerEvent = ToManager;

const toDirector = (event: ToDirector): ToDirector => event;

/** The outcome of a job cancelled while it waited in the Manager's queue. */
function cancelledWhileQueued(context: ManagerContext, jobId: string): JobOutcome {
  return { jobId, managerId: context.id, status: 'cancelled', tasks: [], tokens: { input: 0, output: 0 }, costUsd: 0 };
}

/** The fact that a Manager holds a job it admits (running or queued). */
function atManager(context: ManagerContext, event: ManagerEvent) {
  const job = event.type === 'job.submitted' ? event.job : undefined;
  return { jobId: job?.id ?? '', managerId: context.id, ...(job?.lane ? { lane: job.lane } : {}) };
}
const toJob = (event: ToJob): ToJob => event;

const FAULT: ErrorData = codedError('PAS_ERR_MANAGER_FAILED', 'manager failed');

function jobInput(context: ManagerContext, queued: QueuedJob): JobInput {
  const input: JobInput = {
    job: queued.job,
    managerId: context.id,
    maxProgrammers: context.maxProgrammers,
    timeoutMs: context.timeoutMs,
    poolId: context.poolId,
    requeueDelayMs: context.requeueDelayMs,
  };
  if (queued.resume) input.resume = queued.resume;
  return input;
}

export const managerMachine = setup({
  types: {
    context: {} as ManagerContext,
    input: {} as ManagerInput,
    events: {} as ManagerEvent,
  },
  actors: { job: jobMachine },
  guards: {
    idleNow: ({ context }) => context.active.length === 0 && context.queue.length === 0,
    isQueued: ({ context, event }) => event.type === 'job.cancel' && context.queue.some((q) => q.job.id === event.jobId),
  },
  actions: {
    recordJobAtManager: fact('recordJobAtManager'),
    recordJobFinished: fact('recordJobFinished'),
    /** Start the job now when a slot is free, else queue it. Duplicate ids are ignored. */
    admit: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'job.submitted') return;
      const id = event.job.id;
      if (context.active.includes(id) || context.queue.some((q) => q.job.id === id)) return;
      const queued: QueuedJob = event.resume ? { job: event.job, resume: event.resume } : { job: event.job };
      if (context.active.length < context.maxConcurrent) {
        enqueue.spawnChild('job', { id, systemId: jobSystemId(id), input: jobInput(context, queued) });
        enqueue.assign({ active: [...context.active, id] });
      } else {
        enqueue.assign({ queue: [...context.queue, queued] });
      }
    }),
    /** A job ended: report it up, free its slot and start the next queued job. */
    complete: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'job.done') return;
      const id = event.outcome.jobId;
      if (!context.active.includes(id)) return;
      enqueue.stopChild(id);
      const director = system.get(context.directorId);
      if (director) enqueue.sendTo(director, toDirector({ type: 'job.finished', outcome: event.outcome }));
      const active = context.active.filter((j) => j !== id);
      const [next, ...rest] = context.queue;
      if (next) {
        enqueue.spawnChild('job', { id: next.job.id, systemId: jobSystemId(next.job.id), input: jobInput(context, next) });
        active.push(next.job.id);
      }
      enqueue.assign({ active, queue: rest, finished: context.finished + 1 });
    }),
    cancel: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'job.cancel') return;
      if (context.active.includes(event.jobId)) {
        const child = system.get(jobSystemId(event.jobId));
        if (child) enqueue.sendTo(child, toJob({ type: 'job.cancel' }));
        return;
      }
      const queued = context.queue.find((q) => q.job.id === event.jobId);
      if (!queued) return;
      enqueue.assign({ queue: context.queue.filter((q) => q.job.id !== event.jobId) });
      const director = system.get(context.directorId);
      if (director) enqueue.sendTo(director, toDirector({ type: 'job.finished', outcome: cancelledWhileQueued(context, event.jobId) }));
    }),
    /** Stop every job and hand it back to the Director to run elsewhere. */
    handBack: enqueueActions(({ context, enqueue, system }) => {
      const director = system.get(context.directorId);
      for (const id of context.active) {
        const child = system.get(jobSystemId(id));
        const ctx = (child?.getSnapshot() as { context?: JobContext } | undefined)?.context;
        if (child) enqueue.sendTo(child, toJob({ type: 'job.handBack' }));
        enqueue.stopChild(id);
        if (!director || !ctx) continue;
        // The next Manager picks up the plan, what is already done and the re-runs already created:
        // finished work is not redone.
        const resume: JobResume | undefined = ctx.plan
          ? { plan: ctx.plan, results: Object.values(ctx.results).filter((r) => r.status === 'completed'), reruns: rerunsOf(ctx) }
          : undefined;
        enqueue.sendTo(director, toDirector({ type: 'job.bounced', job: ctx.job, from: context.id, ...(resume ? { resume } : {}) }));
      }
      for (const queued of context.queue) {
        if (director) enqueue.sendTo(director, toDirector({ type: 'job.bounced', job: queued.job, from: context.id, ...(queued.resume ? { resume: queued.resume } : {}) }));
      }
      enqueue.assign({ active: [], queue: [] });
      if (director) enqueue.sendTo(director, toDirector({ type: 'manager.failed', managerId: context.id }));
    }),
    bounce: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'job.submitted') return;
      const director = system.get(context.directorId);
      if (director) enqueue.sendTo(director, toDirector({ type: 'job.bounced', job: event.job, from: context.id }));
    }),
    announceReady: enqueueActions(({ context, enqueue, system }) => {
      const director = system.get(context.directorId);
      if (director) enqueue.sendTo(director, toDirector({ type: 'manager.ready', managerId: context.id }));
    }),
  },
}).createMachine({
  id: 'manager',
  context: ({ input }) => ({
    id: input.id,
    directorId: input.directorId,
    maxConcurrent: input.maxConcurrent,
    maxProgrammers: input.maxProgrammers,
    timeoutMs: input.timeoutMs,
    poolId: input.poolId ?? 'pool',
    requeueDelayMs: input.requeueDelayMs ?? 250,
    active: [],
    queue: [],
    finished: 0,
    escalations: 0,
    failure: null,
  }),
  initial: 'IDLE',
  on: {
    'supervisor.escalated': { actions: assign({ escalations: ({ context }) => context.escalations + 1 }) },
  },
  states: {
    IDLE: {
      on: {
        'job.submitted': { target: 'EXECUTING', actions: [{ type: 'recordJobAtManager', params: ({ context, event }) => atManager(context, event) }, 'admit'] },
        'manager.fault': { target: 'FAILED', actions: assign({ failure: ({ event }) => event.error ?? FAULT }) },
      },
    },
    EXECUTING: {
      always: { guard: 'idleNow', target: 'IDLE' },
      on: {
        'job.submitted': { actions: [{ type: 'recordJobAtManager', params: ({ context, event }) => atManager(context, event) }, 'admit'] },
        'job.done': { actions: 'complete' },
        'job.cancel': [
          {
            guard: 'isQueued',
            actions: [{ type: 'recordJobFinished', params: ({ context, event }) => ({ outcome: cancelledWhileQueued(context, event.jobId) }) }, 'cancel'],
          },
          { actions: 'cancel' },
        ],
        'manager.fault': { target: 'FAILED', actions: assign({ failure: ({ event }) => event.error ?? FAULT }) },
      },
    },
    FAILED: {
      entry: 'handBack',
      on: {
        'job.submitted': { actions: 'bounce' },
        'manager.reset': { target: 'IDLE', actions: [assign({ failure: () => null }), 'announceReady'] },
      },
    },
  },
});
