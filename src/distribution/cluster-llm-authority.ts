/**
 * The one authority over model calls in a cluster: every worker asks it before each model call
 * (request/reply on `breaker.probe`) and reports each call's outcome and spend on the results
 * stream. It answers from the central process's own breaker actors (the runtime's registry, so
 * their transitions show on the feed and the HMI as in-process) and its durable budget:
 *
 * - closed → allow; open → refuse (PAS_ERR_LLM_BREAKER_OPEN); half-open → the actor's own probe
 *   admission, so exactly one probe is admitted cluster-wide;
 * - a paid model once today's `max_daily_spend_usd` (the journal's spend) or the job's
 *   `max_job_spend_usd` is spent → refuse (PAS_ERR_BUDGET_EXHAUSTED);
 * - a call of an attempt that is over here (given up: its worker was offline, it was cancelled;
 *   or its task finished) → refuse (PAS_ERR_TASK_CANCELLED), whatever the model.
 *
 * - a free model (no budget can hold it back) with a closed breaker → allow with a lease
 *   (`distribution.lease_ms`): the worker calls it again without asking until the lease runs out.
 *   Once the model's breaker leaves closed (a worker's failure report, or a call of this process)
 *   every worker is told at once (`revoke`, plain publish); a worker also ends its own lease when
 *   one of its calls fails and when its link drops, so a missed revoke holds at most `lease_ms`.
 *
 * Outcomes reach the breaker (a reported probe result ends the probe); spend is added to the
 * journal once per call id (JetStream is at-least-once) and the message is acked only after the
 * journal committed it. A call admitted before the budget ran out may still finish and spend, so
 * overspend is bounded by the calls in flight.
 */
import type { Logger } from 'pino';
import type { ModelRef } from '../../machines/domain.ts';
import type { ErrorCode } from '../../machines/error-codes.ts';
import { PasError, toErrorData } from '../errors.ts';
import { LOCAL_ATTEMPT_PREFIX, type Journal } from '../journal/journal.ts';
import { breakerCauseText } from '../llm/breaker-cause.ts';
import { BREAKER_FAILURE_CODES } from '../llm/llm-client.ts';
import type { MoneyPolicy } from '../llm/money-policy.ts';
import { utcDay } from '../llm/spend-store.ts';
import type { BreakerGate } from '../llm/types.ts';
import { commitAcks } from './commit-acks.ts';
import type { DistLink } from './link.ts';
import { anyOf } from './link.ts';
import { decodeMessage, encodeMessage, type BreakerMessage, type BreakerReplyMessage, type SpendMessage } from './messages.ts';

/** A message of the results stream, as far as the authority needs it. */
export interface StreamMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  ack(): void;
  nak(delayMs?: number): void;
  term(): void;
}

export interface ClusterLlmDeps {
  /**
   * The runtime's breaker registry (its actors are the ones on the feed). `keys` lists every model
   * it has a breaker for, so a breaker opened by this process's own calls is revoked too.
   */
  breakers: BreakerGate & { keys?(): readonly ModelRef[] };
  /** Prices and the daily budget over the journal's spend store. */
  money: MoneyPolicy;
  journal: Pick<Journal, 'addCallSpend' | 'forgetCallSpend' | 'deferCommit' | 'flush' | 'commitPending' | 'synced'>;
  /** A job's own budget (the LLM gateway's ledger), shared with in-process calls. */
  jobBudget?: { limit(jobId: string): number | undefined; spent(jobId: string): number; add(jobId: string, usd: number): void };
  /** Whether a worker's attempt is over here (given up, or its task finished): its calls are refused. */
  attemptOver?: (attemptId: string) => boolean;
}

export interface ClusterLlmAuthority {
  /** The runtime's breakers, budget and journal; messages that arrived before are applied now. */
  bind(deps: ClusterLlmDeps): void;
  /** The answer to a worker's request to call a model. */
  answer(request: Extract<BreakerMessage, { op: 'probe' }>): BreakerReplyMessage;
  /** A `spend.*` or `breaker.outcome.*` message of the results stream (acked once applied). */
  take(msg: StreamMessage): void;
  /** Revokes to send now: models whose breaker left closed since last looked at (each transition returned once). */
  revocations(): BreakerMessage[];
  /** Called (with `revocations()` due) after a report may have moved a breaker. */
  onRevocable(listener: () => void): void;
}

/** Call ids remembered against redelivered breaker outcomes (spend is fenced by the journal). */
const SEEN_OUTCOMES = 50_000;
/** Call ids of spend are kept this long (a report stays on the broker only until it is acked). */
const SPEND_IDS_KEPT_DAYS = 30;
/** A probe whose outcome never comes is ended by the breaker's own probe timeout; its id is forgotten after this. */
const PROBE_MEMORY_MS = 60 * 60_000;

/** Subject prefixes of the worker reports on the results stream. */
export function reportPrefixes(names: DistLink['names']): { spendPrefix: string; outcomePrefix: string } {
  return { spendPrefix: anyOf(names.subjects.spend).slice(0, -1), outcomePrefix: anyOf(names.subjects.breakerOutcome).slice(0, -1) };
}

/**
 * Answers the workers' requests to call a model, and tells every worker when the leases on a model
 * end: at once after a worker's report moved its breaker, and within `checkMs` when a call of this
 * process did. Returns the stop.
 */
export function serveAdmissions(link: DistLink, authority: ClusterLlmAuthority, logger: Logger, checkMs = 50): () => void {
  const revoke = () => {
    for (const m of authority.revocations()) {
      try {
        link.nats.nc.publish(link.names.subjects.breakerRevoke, encodeMessage('pas.v1.breaker', m));
        logger.info({ ref: m.model, state: m.op === 'revoke' ? m.state : undefined }, 'leases on a model revoked: its breaker left closed');
      } catch (err) {
        // The link is down: each worker drops its leases when it loses its own link, or they run out.
        logger.warn({ err: toErrorData(err), ref: m.model }, 'a lease revoke could not be published');
      }
    }
  };
  authority.onRevocable(revoke);
  const check = setInterval(revoke, checkMs);
  check.unref();
  const sub = link.nats.nc.subscribe(link.names.subjects.breakerProbe, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const request = decodeMessage('pas.v1.breaker', msg.data);
        if (request.op !== 'probe') throw new PasError('PAS_ERR_DIST_BAD_MESSAGE', 'pas.v1.breaker: op: only a probe is asked by request', { details: { kind: 'pas.v1.breaker', field: 'op', problem: 'outcome sent as a request' } });
        msg.respond(encodeMessage('pas.v1.breaker_reply', authority.answer(request)));
      } catch (e) {
        // No answer: the worker's request times out and its call is refused with a code.
        logger.warn({ err: toErrorData(e) }, 'bad model-call request refused');
      }
    },
  });
  return () => {
    clearInterval(check);
    authority.onRevocable(() => undefined);
    sub.unsubscribe();
  };
}

export function createClusterLlmAuthority(options: { logger: Logger; spendPrefix: string; outcomePrefix: string; now?: () => number; /** `distribution.lease_ms` (0: no leases). */ leaseMs?: number }): ClusterLlmAuthority {
  const leaseMs = options.leaseMs ?? 0;
  /**
   * Every model a worker asked about or reported on, and every model the breaker registry has a
   * breaker for (this process's own calls) → whether its breaker was closed when last looked at.
   * A revoke goes out to every worker whenever one leaves closed, whether or not this process
   * remembers a lease on it (a worker's lease can outlive this record, and a restart empties it:
   * a worker still holding a lease from before neither asks nor reports). A model first seen not
   * closed is revoked too.
   */
  const watched = new Map<ModelRef, boolean>();
  const watch = (ref: ModelRef) => {
    if (!watched.has(ref)) watched.set(ref, true);
  };
  let revocable: () => void = () => undefined;
  const log = options.logger.child({ component: 'cluster-llm' });
  const now = options.now ?? Date.now;
  let deps: ClusterLlmDeps | undefined;
  const early: StreamMessage[] = [];
  /** Probe call ids this process admitted → when (their outcome ends the half-open probe). */
  const probes = new Map<string, number>();
  /** The call id each model's latest probe was admitted for. */
  const probeOf = new Map<ModelRef, string>();
  const seen = new Set<string>();
  const acks = commitAcks(() => deps!.journal);

  const remember = (callId: string) => {
    seen.add(callId);
    if (seen.size > SEEN_OUTCOMES) seen.delete(seen.values().next().value!);
  };

  const refusal = (d: ClusterLlmDeps, ref: ModelRef, jobId: string | undefined): PasError | undefined => {
    if (!d.money.isPaid(ref)) return undefined;
    const daily = d.money.checkBudget(ref);
    if (daily) return daily;
    const limit = jobId && d.jobBudget ? d.jobBudget.limit(jobId) : undefined;
    if (jobId === undefined || limit === undefined) return undefined;
    const spent = d.jobBudget!.spent(jobId);
    if (spent < limit) return undefined;
    return new PasError('PAS_ERR_BUDGET_EXHAUSTED', `${ref}: job ${jobId} has spent its budget (${spent} of ${limit} USD)`, { details: { ref, jobId, spentUsd: spent, limitUsd: limit, scope: 'job' } });
  };

  const applySpend = (d: ClusterLlmDeps, msg: StreamMessage) => {
    const m: SpendMessage = decodeMessage('pas.v1.spend', msg.data);
    const day = utcDay(Date.parse(m.at));
    // In this turn's journal group: the reports of a burst share one commit.
    d.journal.deferCommit();
    // An attempt id in the in-process form (no dispatch makes one) is not taken: its calls would land on a local attempt's receipt.
    const attemptId = m.attempt_id !== undefined && !m.attempt_id.startsWith(LOCAL_ATTEMPT_PREFIX) ? m.attempt_id : undefined;
    const added = d.journal.addCallSpend(m.call_id, day, m.cost_usd, { ...(attemptId ? { attemptId } : {}), tokens: m.tokens, ...(m.model ? { model: m.model } : {}) });
    if (added && m.job_id && m.cost_usd > 0) d.jobBudget?.add(m.job_id, m.cost_usd);
    // The spend leaves the stream only once the journal has it on disk.
    acks.later(() => msg.ack());
    log.debug({ callId: m.call_id, worker: m.worker_id, usd: m.cost_usd, added }, added ? 'worker spend counted' : 'worker spend already counted');
  };

  const applyOutcome = (d: ClusterLlmDeps, msg: StreamMessage) => {
    const m = decodeMessage('pas.v1.breaker', msg.data);
    if (m.op !== 'outcome') throw new PasError('PAS_ERR_DIST_BAD_MESSAGE', 'pas.v1.breaker: op: a probe request belongs on the request subject, not the results stream', { details: { kind: 'pas.v1.breaker', field: 'op', problem: 'probe on the results stream' } });
    watch(m.model);
    if (seen.has(m.call_id)) {
      msg.ack();
      return;
    }
    remember(m.call_id);
    const probe = probes.delete(m.call_id);
    if (m.abandoned) {
      if (probe) d.breakers.abandonProbe(m.model);
    } else if (m.ok || !m.error || !BREAKER_FAILURE_CODES.has(m.error.code)) {
      d.breakers.record(m.model, 'success', probe);
    } else {
      d.breakers.record(m.model, 'failure', probe, m.error);
    }
    msg.ack();
    log.debug({ callId: m.call_id, worker: m.worker_id, model: m.model, ok: m.ok, probe }, 'worker call outcome applied');
    if (leaseMs > 0 && d.breakers.state(m.model) !== 'closed') revocable();
  };

  const apply = (d: ClusterLlmDeps, msg: StreamMessage) => {
    try {
      if (msg.subject.startsWith(options.spendPrefix)) applySpend(d, msg);
      else if (msg.subject.startsWith(options.outcomePrefix)) applyOutcome(d, msg);
      else msg.ack();
    } catch (err) {
      const error = toErrorData(err);
      if (error.code === 'PAS_ERR_DIST_BAD_MESSAGE') {
        log.error({ err: error, subject: msg.subject }, 'bad worker report refused');
        msg.term();
      } else {
        // The journal could not take it now: the message comes back later.
        log.error({ err: error, subject: msg.subject }, 'worker report not applied; it is delivered again');
        msg.nak(1_000);
      }
    }
  };

  return {
    bind(given) {
      deps = given;
      given.journal.forgetCallSpend(utcDay(now() - SPEND_IDS_KEPT_DAYS * 86_400_000));
      for (const msg of early.splice(0)) apply(given, msg);
    },
    take(msg) {
      if (!deps) early.push(msg);
      else apply(deps, msg);
    },
    answer(request) {
      const ref = request.model;
      watch(ref);
      const reply = (allow: boolean, state: BreakerReplyMessage['state'], error?: PasError): BreakerReplyMessage => ({
        kind: 'pas.v1.breaker_reply',
        call_id: request.call_id,
        model: ref,
        state,
        allow,
        ...(error ? { error: error.toData() } : {}),
      });
      const d = deps;
      if (!d) return reply(false, 'closed', new PasError('PAS_ERR_DIST_NO_ADMISSION', `${ref}: the central process is starting; ask again`, { details: { ref } }));
      // An attempt this process gave up (its worker was paused past its detection time, say) spends nothing more.
      if (request.attempt_id !== undefined && d.attemptOver?.(request.attempt_id)) {
        log.info({ ref, worker: request.worker_id, attemptId: request.attempt_id, code: 'PAS_ERR_TASK_CANCELLED' satisfies ErrorCode }, 'worker call refused: its attempt is over');
        return reply(false, d.breakers.state(ref), new PasError('PAS_ERR_TASK_CANCELLED', `attempt ${request.attempt_id} is over for the central process (given up, or its task finished): its model calls are refused`, { details: { ref, attemptId: request.attempt_id } }));
      }
      const budget = refusal(d, ref, request.job_id);
      if (budget) {
        log.info({ ref, worker: request.worker_id, code: budget.code, ...budget.details }, 'worker call refused: budget spent');
        return reply(false, d.breakers.state(ref), budget);
      }
      const admission = d.breakers.admit(ref);
      if (admission === 'reject') {
        const state = d.breakers.state(ref);
        // The probe in flight asked for again by its own call (the reply was lost, or came after the
        // worker's request timed out and it asked again under the same call id): still that call's.
        if (state === 'halfOpen' && probeOf.get(ref) === request.call_id) return reply(true, 'halfOpen');
        const why = breakerCauseText(d.breakers.recentFailures?.(ref) ?? []);
        const error = new PasError('PAS_ERR_LLM_BREAKER_OPEN', `${ref}: circuit breaker is ${state}${why ? ` after ${why}` : ''}`, { details: { ref, state, ...(why ? { cause: why } : {}) } });
        log.info({ ref, worker: request.worker_id, code: 'PAS_ERR_LLM_BREAKER_OPEN' satisfies ErrorCode }, 'worker call refused: breaker open');
        return reply(false, state, error);
      }
      if (admission === 'probe') {
        const at = now();
        for (const [id, when] of probes) if (at - when > PROBE_MEMORY_MS) probes.delete(id);
        probes.set(request.call_id, at);
        probeOf.set(ref, request.call_id);
        log.info({ ref, worker: request.worker_id, callId: request.call_id }, 'half-open probe admitted for a worker');
        return reply(true, 'halfOpen');
      }
      // A free model with a closed breaker: the worker may call it again without asking for a while.
      if (leaseMs > 0 && !d.money.isPaid(ref)) {
        return { ...reply(true, 'closed'), lease_ms: leaseMs };
      }
      return reply(true, 'closed');
    },
    revocations() {
      const d = deps;
      if (!d || leaseMs === 0) return [];
      const out: BreakerMessage[] = [];
      const at = now();
      for (const ref of d.breakers.keys?.() ?? []) watch(ref);
      for (const [ref, wasClosed] of watched) {
        const state = d.breakers.state(ref);
        watched.set(ref, state === 'closed');
        if (wasClosed && state !== 'closed') out.push({ kind: 'pas.v1.breaker', op: 'revoke', model: ref, state, at: new Date(at).toISOString() });
      }
      return out;
    },
    onRevocable(listener) {
      revocable = listener;
    },
  };
}
