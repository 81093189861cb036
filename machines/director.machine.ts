/**
 * A Director owns one lane and spreads its jobs over the lane's Managers: the Manager with the
 * fewest jobs in flight, round-robin among equals; failed Managers are skipped. A job handed back
 * by a failed Manager is re-routed once; with no healthy Manager left it fails with the reason.
 *
 * IDLE ──job.submitted──▶ EXECUTING ──(no job in flight)──▶ IDLE; director.fault ──▶ FAILED ──director.reset──▶ IDLE
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { ErrorData, JobOutcome } from './domain.ts';
import { codedError } from './error-codes.ts';
import { fact } from './facts.ts';
import type { ToArchitect, ToDirector, ToManager } from './messages.ts';

const FAULT: ErrorData = codedError('PAS_ERR_DIRECTOR_FAILED', 'director forced into FAILED');

export interface DirectorInput {
  id: string;
  architectId: string;
  lane: string;
  managers: string[];
}

export interface DirectorContext {
  id: string;
  architectId: string;
  lane: string;
  managers: string[];
  /** Jobs in flight per Manager. */
  load: Record<string, number>;
  /** jobId → Manager running it. */
  jobs: Record<string, string>;
  down: string[];
  bounces: Record<string, number>;
  cursor: number;
  failure: ErrorData | null;
}

export type DirectorEvent = ToDirector;

const toArchitect = (event: ToArchitect): ToArchitect => event;
const toManager = (event: ToManager): ToManager => event;

/** A job no healthy Manager of the lane can take: it fails here, with the reason. */
export function noManagerOutcome(jobId: string, lane: string): JobOutcome {
  return { jobId, managerId: '', status: 'failed', tasks: [], tokens: { input: 0, output: 0 }, costUsd: 0, error: NO_MANAGER(lane) };
}

/** Fewest jobs in flight; among equals the first at or after the round-robin cursor. */
export function pickManager(context: Pick<DirectorContext, 'managers' | 'load' | 'down' | 'cursor'>, exclude: readonly string[] = []): { id: string; cursor: number } | null {
  const n = context.managers.length;
  let best: { id: string; index: number; load: number } | null = null;
  for (let step = 0; step < n; step++) {
    const index = (context.cursor + step) % n;
    const id = context.managers[index]!;
    if (context.down.includes(id) || exclude.includes(id)) continue;
    const load = context.load[id] ?? 0;
    if (!best || load < best.load) best = { id, index, load };
  }
  return best ? { id: best.id, cursor: (best.index + 1) % n } : null;
}

/** Where a submitted or bounced job goes: the Manager picked (null: none left), and the books after it. */
function routeOf(context: DirectorContext, event: Extract<DirectorEvent, { type: 'job.submitted' | 'job.bounced' }>) {
  const job = event.job;
  const bounces = event.type === 'job.bounced' ? (context.bounces[job.id] ?? 0) + 1 : 0;
  const load = { ...context.load };
  const jobs = { ...context.jobs };
  if (event.type === 'job.bounced' && jobs[job.id] === event.from) {
    load[event.from] = Math.max(0, (load[event.from] ?? 1) - 1);
    delete jobs[job.id];
  }
  const down = event.type === 'job.bounced' && !context.down.includes(event.from) ? [...context.down, event.from] : context.down;
  const pick = bounces > 1 ? null : pickManager({ ...context, load, down });
  return { bounces, load, jobs, down, pick };
}

/** Route a job; one no healthy Manager can take fails here, and that is a fact for the journal. */
function routeTo(target?: 'EXECUTING') {
  return [
    {
      ...(target ? { target } : {}),
      guard: 'noManagerLeft' as const,
      actions: [
        {
          type: 'recordJobFinished' as const,
          params: ({ context, event }: { context: DirectorContext; event: DirectorEvent }) => ({
            outcome: noManagerOutcome(event.type === 'job.submitted' || event.type === 'job.bounced' ? event.job.id : '', context.lane),
          }),
        },
        'route' as const,
      ],
    },
    { ...(target ? { target } : {}), actions: 'route' as const },
  ];
}

const NO_MANAGER = (lane: string): ErrorData => codedError('PAS_ERR_MANAGER_FAILED', `no healthy Manager in lane ${lane}`);

export const directorMachine = setup({
  types: {
    context: {} as DirectorContext,
    input: {} as DirectorInput,
    events: {} as DirectorEvent,
  },
  guards: {
    noJobs: ({ context }) => Object.keys(context.jobs).length === 0,
    noManagerLeft: ({ context, event }) => (event.type === 'job.submitted' || event.type === 'job.bounced') && routeOf(context, event).pick === null,
  },
  actions: {
    recordJobFinished: fact('recordJobFinished'),
    route: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'job.submitted' && event.type !== 'job.bounced') return;
      const job = event.job;
      const { bounces, load, jobs, down } = routeOf(context, event);
      const pick = routeOf(context, event).pick;
      const target = pick ? system.get(pick.id) : undefined;
      if (!pick || !target) {
        const outcome = noManagerOutcome(job.id, context.lane);
        const architect = system.get(context.architectId);
        if (architect) enqueue.sendTo(architect, toArchitect({ type: 'job.finished', outcome }));
        enqueue.assign({ load, jobs, down, bounces: { ...context.bounces, [job.id]: bounces } });
        return;
      }
      load[pick.id] = (load[pick.id] ?? 0) + 1;
      jobs[job.id] = pick.id;
      enqueue.assign({ load, jobs, down, cursor: pick.cursor, bounces: { ...context.bounces, [job.id]: bounces } });
      enqueue.sendTo(target, toManager(event.resume ? { type: 'job.submitted', job, resume: event.resume } : { type: 'job.submitted', job }));
    }),
    settle: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'job.finished') return;
      const managerId = context.jobs[event.outcome.jobId];
      const jobs = { ...context.jobs };
      delete jobs[event.outcome.jobId];
      const load = { ...context.load };
      if (managerId) load[managerId] = Math.max(0, (load[managerId] ?? 1) - 1);
      const bounces = { ...context.bounces };
      delete bounces[event.outcome.jobId];
      enqueue.assign({ jobs, load, bounces });
      const architect = system.get(context.architectId);
      if (architect) enqueue.sendTo(architect, toArchitect({ type: 'job.finished', outcome: event.outcome }));
    }),
    cancel: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'job.cancel') return;
      const managerId = context.jobs[event.jobId];
      const manager = managerId ? system.get(managerId) : undefined;
      if (manager) enqueue.sendTo(manager, toManager({ type: 'job.cancel', jobId: event.jobId }));
    }),
  },
}).createMachine({
  id: 'director',
  context: ({ input }) => ({
    id: input.id,
    architectId: input.architectId,
    lane: input.lane,
    managers: input.managers,
    load: Object.fromEntries(input.managers.map((m) => [m, 0])),
    jobs: {},
    down: [],
    bounces: {},
    cursor: 0,
    failure: null,
  }),
  initial: 'IDLE',
  on: {
    'job.finished': { actions: 'settle' },
    'job.cancel': { actions: 'cancel' },
    'manager.failed': { actions: assign({ down: ({ context, event }) => (context.down.includes(event.managerId) ? context.down : [...context.down, event.managerId]) }) },
    'manager.ready': { actions: assign({ down: ({ context, event }) => context.down.filter((m) => m !== event.managerId) }) },
  },
  states: {
    IDLE: {
      on: {
        'job.submitted': routeTo('EXECUTING'),
        'job.bounced': routeTo('EXECUTING'),
        'director.fault': { target: 'FAILED', actions: assign({ failure: ({ event }) => event.error ?? FAULT }) },
      },
    },
    EXECUTING: {
      always: { guard: 'noJobs', target: 'IDLE' },
      on: {
        'job.submitted': routeTo(),
        'job.bounced': routeTo(),
        'director.fault': { target: 'FAILED', actions: assign({ failure: ({ event }) => event.error ?? FAULT }) },
      },
    },
    FAILED: {
      on: {
        // A failed Director still forwards work: its Managers keep running. Reset returns it to service.
        'job.submitted': routeTo(),
        'job.bounced': routeTo(),
        'director.reset': { target: 'IDLE', actions: assign({ failure: () => null }) },
      },
    },
  },
});
