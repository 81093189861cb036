/**
 * The Architect routes every job to the Director of its lane. A job without a lane is
 * classified by the Architect's LLM (`classifyLane`); an unusable answer or a failed call falls
 * back to the default lane (Code). Outcomes come back up as `job.finished`.
 *
 * IDLE ──job.submitted──▶ EXECUTING ──(no job in flight)──▶ IDLE
 */
import { assign, enqueueActions, fromPromise, setup, type AnyActorRef, type DoneActorEvent, type ErrorActorEvent } from 'xstate';
import type { ActorLookup } from './actor-lookup.ts';
import { codedError } from './error-codes.ts';
import type { ErrorData, JobOutcome, JobResume, JobSpec, Lane } from './domain.ts';
import { fact } from './facts.ts';
import type { ToArchitect, ToDirector } from './messages.ts';

const FAULT: ErrorData = codedError('PAS_ERR_ARCHITECT_FAILED', 'architect forced into FAILED');

export interface ArchitectInput {
  id: string;
  /** lane → Director id */
  directors: Record<string, string>;
  defaultLane?: Lane;
}

export interface ArchitectContext {
  id: string;
  directors: Record<string, string>;
  defaultLane: Lane;
  /** jobId → lane it was routed to (null while being classified). */
  inflight: Record<string, string | null>;
  /** Jobs waiting for classification, by the classifier actor id. */
  classifying: Record<string, { job: JobSpec; resume?: JobResume }>;
  routed: number;
  failure: ErrorData | null;
}

export type ArchitectEvent =
  | ToArchitect
  /** To itself: a job whose lane has no Director ends here. */
  | { type: 'job.unroutable'; outcome: JobOutcome }
  | DoneActorEvent<{ lane: string | null }>
  | ErrorActorEvent;

const toDirector = (event: ToDirector): ToDirector => event;

export interface ClassifyLaneInput {
  job: JobSpec;
  lanes: string[];
}

export function classifierId(jobId: string): string {
  return `classify-${jobId}`;
}

/** Where a routed job goes: its lane's Director, or a `job.finished` failure when the lane has none. */
function forwardTo(
  context: ArchitectContext,
  system: ActorLookup,
  job: JobSpec,
  lane: string,
  resume?: JobResume,
): { target: AnyActorRef; event: ToDirector } | { event: { type: 'job.unroutable'; outcome: JobOutcome } } {
  const directorId = context.directors[lane];
  const director = directorId ? system.get(directorId) : undefined;
  if (director) return { target: director, event: toDirector(resume ? { type: 'job.submitted', job, resume } : { type: 'job.submitted', job }) };
  const outcome: JobOutcome = {
    jobId: job.id,
    managerId: '',
    status: 'failed',
    tasks: [],
    tokens: { input: 0, output: 0 },
    costUsd: 0,
    error: codedError('PAS_ERR_NO_LANE', `lane "${lane}" has no Director`),
  };
  return { event: { type: 'job.unroutable', outcome } };
}

export const architectMachine = setup({
  types: {
    context: {} as ArchitectContext,
    input: {} as ArchitectInput,
    events: {} as ArchitectEvent,
  },
  actors: {
    classifyLane: fromPromise<{ lane: string | null }, ClassifyLaneInput>(async () => {
      throw new Error('classifyLane is provided by the runtime');
    }),
  },
  guards: {
    noJobs: ({ context }) => Object.keys(context.inflight).length === 0,
  },
  actions: {
    accept: enqueueActions(({ context, event, enqueue, system, self }) => {
      if (event.type !== 'job.submitted') return;
      const { job } = event;
      if (job.id in context.inflight) return;
      if (job.lane) {
        enqueue.assign({ inflight: { ...context.inflight, [job.id]: job.lane } });
        const route = forwardTo(context, system, job, job.lane, event.resume);
        if ('target' in route) {
          enqueue.sendTo(route.target, route.event);
          enqueue.assign({ routed: context.routed + 1 });
        } else enqueue.sendTo(self, route.event);
        return;
      }
      const id = classifierId(job.id);
      enqueue.assign({ inflight: { ...context.inflight, [job.id]: null }, classifying: { ...context.classifying, [id]: event.resume ? { job, resume: event.resume } : { job } } });
      enqueue.spawnChild('classifyLane', { id, input: { job, lanes: Object.keys(context.directors) } });
    }),
    classified: enqueueActions(({ context, event, enqueue, system, self }) => {
      const actorId = event.type.replace(/^xstate\.(done|error)\.actor\./, '');
      const pending = context.classifying[actorId];
      if (!pending) return;
      const { job } = pending;
      const answer = event.type.startsWith('xstate.done.actor.') ? (event as DoneActorEvent<{ lane: string | null }>).output.lane : null;
      const lane = answer && context.directors[answer] ? answer : context.defaultLane;
      const classifying = { ...context.classifying };
      delete classifying[actorId];
      enqueue.assign({ classifying, inflight: { ...context.inflight, [job.id]: lane } });
      const route = forwardTo(context, system, { ...job, lane: lane as Lane }, lane, pending.resume);
      if ('target' in route) {
        enqueue.sendTo(route.target, route.event);
        enqueue.assign({ routed: context.routed + 1 });
      } else enqueue.sendTo(self, route.event);
    }),
    recordJobFinished: fact('recordJobFinished'),
    settle: assign(({ context, event }) => {
      if (event.type !== 'job.finished' && event.type !== 'job.unroutable') return {};
      const inflight = { ...context.inflight };
      delete inflight[event.outcome.jobId];
      return { inflight };
    }),
    cancel: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'job.cancel') return;
      const lane = context.inflight[event.jobId];
      const directorId = lane ? context.directors[lane] : undefined;
      const director = directorId ? system.get(directorId) : undefined;
      if (director) enqueue.sendTo(director, toDirector({ type: 'job.cancel', jobId: event.jobId }));
    }),
  },
}).createMachine({
  id: 'architect',
  context: ({ input }) => ({
    id: input.id,
    directors: input.directors,
    defaultLane: input.defaultLane ?? 'Code',
    inflight: {},
    classifying: {},
    routed: 0,
    failure: null,
  }),
  initial: 'IDLE',
  on: {
    'job.finished': { actions: 'settle' },
    'job.unroutable': { actions: [{ type: 'recordJobFinished', params: ({ event }) => ({ outcome: event.outcome }) }, 'settle'] },
    'job.cancel': { actions: 'cancel' },
    'xstate.done.actor.*': { actions: 'classified' },
    'xstate.error.actor.*': { actions: 'classified' },
  },
  states: {
    IDLE: {
      on: {
        'job.submitted': { target: 'EXECUTING', actions: 'accept' },
        'architect.fault': { target: 'FAILED', actions: assign({ failure: ({ event }) => event.error ?? FAULT }) },
      },
    },
    EXECUTING: {
      always: { guard: 'noJobs', target: 'IDLE' },
      on: {
        'job.submitted': { actions: 'accept' },
        'architect.fault': { target: 'FAILED', actions: assign({ failure: ({ event }) => event.error ?? FAULT }) },
      },
    },
    FAILED: {
      on: {
        'job.submitted': { actions: 'accept' },
        'architect.reset': { target: 'IDLE', actions: assign({ failure: () => null }) },
      },
    },
  },
});
