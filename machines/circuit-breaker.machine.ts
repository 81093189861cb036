/**
 * A circuit breaker per provider/model (CONTRACT §6), shared by every agent that calls the model.
 *
 * - closed: calls flow. `failure_threshold` failures whose `at` lies inside the sliding
 *   `window_minutes` open it.
 * - open: every call is refused (callers go straight to their backup) for `cooldown_minutes`.
 *   Outcomes of calls that started before it opened are ignored.
 * - halfOpen.ready: the next caller is admitted as the single probe (`probe.started`).
 * - halfOpen.probing: a probe is in flight; every other call is refused. The probe's success
 *   closes the breaker (failures forgotten), its failure reopens it. A probe whose caller gives up
 *   (cancelled) frees the slot for the next caller; one that never reports within `probeTimeoutMs`
 *   (the runtime sets it past the provider's own call timeout) counts as a failure.
 */
import { assign, setup } from 'xstate';
import type { BreakerState, ErrorData } from './domain.ts';

export interface BreakerInput {
  /** `provider/model`. */
  key: string;
  threshold: number;
  windowMs: number;
  cooldownMs: number;
  probeTimeoutMs?: number;
}

export interface BreakerContext {
  key: string;
  threshold: number;
  windowMs: number;
  cooldownMs: number;
  probeTimeoutMs: number;
  /** Times (ms) of the failures still inside the window. */
  failures: number[];
  /** How many times the breaker has opened. */
  trips: number;
  openedAt: number | null;
  /** When the probe in flight started (its timeout reopens the breaker at this + probeTimeoutMs). */
  probeStartedAt: number | null;
  lastError: ErrorData | null;
  /** The last failures with their codes and messages, newest last (so "open" can say why). */
  recentErrors: BreakerFailure[];
}

/** One failure a breaker counted, as shown to users. */
export interface BreakerFailure {
  at: number;
  code: string;
  message: string;
}

/** How many failures a breaker remembers for its "why". */
export const BREAKER_RECENT_ERRORS = 5;

export type BreakerEvent =
  | { type: 'call.failed'; at: number; probe?: boolean; error?: ErrorData }
  | { type: 'call.succeeded'; at: number; probe?: boolean }
  | { type: 'probe.started'; at: number }
  /** The probe's caller gave up (its task was cancelled): the next caller may probe instead. */
  | { type: 'probe.abandoned'; at: number }
  | { type: 'breaker.reset' };

/** Failures that still count at time `at`. */
export function failuresInWindow(context: Pick<BreakerContext, 'failures' | 'windowMs'>, at: number): number[] {
  return context.failures.filter((t) => t > at - context.windowMs && t <= at);
}

export const circuitBreakerMachine = setup({
  types: {
    context: {} as BreakerContext,
    input: {} as BreakerInput,
    events: {} as BreakerEvent,
  },
  guards: {
    willTrip: ({ context, event }) =>
      event.type === 'call.failed' && failuresInWindow(context, event.at).length + 1 >= context.threshold,
    isProbeOutcome: ({ event }) => (event.type === 'call.failed' || event.type === 'call.succeeded') && event.probe === true,
  },
  actions: {
    recordFailure: assign(({ context, event }) => {
      if (event.type !== 'call.failed') return {};
      const recent = event.error ? [...(context.recentErrors ?? []), { at: event.at, code: event.error.code, message: event.error.message }].slice(-BREAKER_RECENT_ERRORS) : (context.recentErrors ?? []);
      return { failures: [...failuresInWindow(context, event.at), event.at], lastError: event.error ?? context.lastError, recentErrors: recent };
    }),
    trip: assign(({ context, event }) => ({
      trips: context.trips + 1,
      openedAt: 'at' in event ? event.at : context.openedAt,
    })),
    /** The probe never reported: the breaker reopens at the moment its timeout ran out. */
    tripOnProbeTimeout: assign(({ context }) => ({
      trips: context.trips + 1,
      openedAt: context.probeStartedAt !== null ? context.probeStartedAt + context.probeTimeoutMs : context.openedAt,
    })),
    startProbe: assign({ probeStartedAt: ({ event }) => (event.type === 'probe.started' ? event.at : null) }),
    forget: assign({ failures: () => [], openedAt: () => null, recentErrors: () => [] }),
  },
  delays: {
    cooldown: ({ context }) => context.cooldownMs,
    probeTimeout: ({ context }) => context.probeTimeoutMs,
  },
}).createMachine({
  id: 'circuitBreaker',
  context: ({ input }) => ({
    key: input.key,
    threshold: input.threshold,
    windowMs: input.windowMs,
    cooldownMs: input.cooldownMs,
    probeTimeoutMs: input.probeTimeoutMs ?? 60_000,
    failures: [],
    trips: 0,
    openedAt: null,
    probeStartedAt: null,
    lastError: null,
    recentErrors: [],
  }),
  initial: 'closed',
  on: {
    'breaker.reset': { target: '.closed', actions: 'forget' },
  },
  states: {
    closed: {
      on: {
        'call.failed': [
          { guard: 'willTrip', target: 'open', actions: ['recordFailure', 'trip'] },
          { actions: 'recordFailure' },
        ],
      },
    },
    open: {
      after: { cooldown: 'halfOpen' },
    },
    halfOpen: {
      initial: 'ready',
      states: {
        ready: {
          on: { 'probe.started': { target: 'probing', actions: 'startProbe' } },
        },
        probing: {
          after: { probeTimeout: { target: '#circuitBreaker.open', actions: 'tripOnProbeTimeout' } },
          on: {
            'probe.abandoned': 'ready',
            'call.succeeded': { guard: 'isProbeOutcome', target: '#circuitBreaker.closed', actions: 'forget' },
            'call.failed': { guard: 'isProbeOutcome', target: '#circuitBreaker.open', actions: ['recordFailure', 'trip'] },
          },
        },
      },
    },
  },
});

/** The breaker's own top-level state name. */
export function breakerStateOf(value: unknown): BreakerState {
  if (value === 'closed' || value === 'open') return value;
  return 'halfOpen';
}

/** What a caller may do now: call normally, call as the one probe, or go elsewhere. */
export function breakerAdmission(value: unknown): 'allow' | 'probe' | 'reject' {
  if (value === 'closed') return 'allow';
  if (typeof value === 'object' && value !== null && (value as Record<string, unknown>).halfOpen === 'ready') return 'probe';
  return 'reject';
}
