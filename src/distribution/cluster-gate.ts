/**
 * A worker's gate to the cluster-wide breakers and budget: before every model call it asks the
 * central process (request/reply, one round trip) and makes the call only when allowed; it
 * reports each call's outcome and cost durably on the results stream (published with the call
 * id as message id, so a broker restart loses nothing and a retried publish is stored once).
 * A refusal carries the central process's code (PAS_ERR_LLM_BREAKER_OPEN, PAS_ERR_BUDGET_EXHAUSTED)
 * so the LLM client fails over to the backup exactly as in-process. While the central process does
 * not answer (each request waits `request_timeout_ms`; it may be restarting) the gate asks again,
 * and after `admission_wait_ms` it refuses the call with PAS_ERR_DIST_NO_ADMISSION (retryable): a
 * model is never called unchecked. The keys stay on this host: no message carries one.
 *
 * Leases: for a model no budget holds back, the central process may answer "allowed" with a lease
 * (`lease_ms`) while the model's breaker is closed; this worker's later calls of that model are
 * then made without asking until it runs out. It ends early when the central process revokes it
 * (the breaker left closed: `revoke`), when a call of this worker fails (its report may open the
 * breaker), or when the link to the broker drops (a revoke may have been missed). Calls that
 * start together while no lease is held wait for one ask instead of asking each.
 *
 * The synchronous BreakerGate face (`admit`/`record`) and `spendStore` serve code that cannot
 * wait for an answer (the worker's LLM gateway awaits `admitCall` too, so agent CLIs' and aider's
 * calls share the one probe and the job budget): `admit` refuses while the central process last said
 * the breaker is open (until its cooldown has passed; a half-open breaker is asked per call, and a
 * probe this worker made that succeeded closes it here too), and spend added there is reported
 * like a call's.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ErrorData, ModelRef, TokenUsage } from '../../machines/domain.ts';
import type { BreakerState } from '../../machines/statuses.ts';
import { PasError, toErrorData } from '../errors.ts';
import type { BreakerGate, CallIntent, CallTicket, SpendStore } from '../llm/types.ts';
import { roundUsd } from '../llm/prices.ts';
import { abortableSleep, untilAborted } from '../llm/sleep.ts';
import type { DistributionNames } from './names.ts';
import type { NatsConnection } from './nats-connection.ts';
import { decodeMessage, distIdSchema, encodeMessage, subjectIdSchema, type BreakerMessage, type SpendMessage } from './messages.ts';

export interface ClusterGateOptions {
  workerId: string;
  names: DistributionNames;
  /** Request/reply to the central process (NATS `nc.request`). */
  request(subject: string, data: Uint8Array, options: { timeout: number }): Promise<{ data: Uint8Array }>;
  /** Publishes to the results stream until the broker has it (message id = `msgID`). */
  publishDurably(subject: string, data: Uint8Array, msgID: string): Promise<void>;
  /** Each request waits this long for an answer (`distribution.request_timeout_ms`). */
  requestTimeoutMs: number;
  /** Unanswered requests are asked again until this much time has passed (`distribution.admission_wait_ms`). */
  admissionWaitMs: number;
  /** The breakers' cooldown (the synchronous face refuses at most this long after hearing "open"). */
  cooldownMs: number;
  logger: Logger;
  now?: () => number;
  newCallId?: () => string;
  /**
   * The attempt of a task this worker's programmer is running (its spend reports name it, so the
   * receipt of an attempt the central process ends without a result still says what its calls
   * cost). By task and programmer: an attempt given up may still be unwinding beside the next one.
   */
  attemptOf?: (taskId: string, programmerId: string | undefined) => string | undefined;
  /** The central process refused a call because this attempt is over there (given up): the worker stops it. */
  onAttemptOver?: (attemptId: string) => void;
}

export interface ClusterGate extends BreakerGate {
  admitCall(ref: ModelRef, intent: CallIntent): Promise<CallTicket>;
  /** The central process revoked the leases on `ref` (its breaker is now `state`). */
  revoke(ref: ModelRef, state: BreakerState): void;
  /** Every lease ends (the link to the broker dropped: a revoke may have been missed). */
  dropLeases(): void;
  /** Whether a call of `ref` would be made now without asking. */
  leased(ref: ModelRef): boolean;
  /** Spend added here is reported to the central process (agent CLIs, aider on this worker). */
  readonly spendStore: SpendStore;
  /** Waits (bounded) until every report is with the broker. */
  drain(timeoutMs: number): Promise<void>;
  /**
   * The ids of the paid calls this process reported for the attempt, forgotten here: its result
   * names them, so the central process can tell the calls of an earlier run of the same attempt
   * (a worker restarted before its detection time) from this run's.
   */
  takeCalls(attemptId: string): string[];
}

const optional = <T>(schema: { safeParse(v: unknown): { success: boolean } }, value: T | undefined): T | undefined => (value !== undefined && schema.safeParse(value).success ? value : undefined);

export function createClusterGate(options: ClusterGateOptions): ClusterGate {
  const { workerId, names, logger } = options;
  const log = logger.child({ component: 'cluster-gate' });
  const now = options.now ?? Date.now;
  const newCallId = options.newCallId ?? (() => `${workerId}.${randomBytes(9).toString('hex')}`);
  /** What the central process last said of each model (the synchronous face). */
  const heard = new Map<ModelRef, { state: BreakerState; at: number }>();
  /** Spend per day as far as this worker knows it: its own reports, or the central total a refusal named. */
  const spentByDay = new Map<string, { own: number; central: number }>();
  const inFlight = new Set<Promise<void>>();
  /** Attempt id → the paid calls reported for it, until its result takes them (takeCalls). */
  const callsOf = new Map<string, string[]>();
  /** Model → until when this worker may call it without asking (its own clock). */
  const leases = new Map<ModelRef, number>();
  /** Model → the ask in flight that may bring a lease (calls starting meanwhile wait for it). */
  const asking = new Map<ModelRef, Promise<unknown>>();
  /** Models whose latest answer brought no lease (paid, breaker not closed, leases off): each call asks at once. */
  const unleased = new Set<ModelRef>();
  /**
   * Rises with every revoke and dropped link: a reply to an ask sent before one brings no lease (the
   * revoke can be handled before the reply it followed on the wire is, since the reply resumes its
   * caller a microtask later).
   */
  let revocations = 0;
  const leaseHeld = (ref: ModelRef) => {
    const until = leases.get(ref);
    if (until === undefined) return false;
    if (now() < until) return true;
    leases.delete(ref);
    return false;
  };

  const report = (subject: string, data: Uint8Array, msgID: string) => {
    const p = options.publishDurably(subject, data, msgID).catch((err) => log.error({ err: toErrorData(err), subject }, 'a model call report could not be published'));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const outcome = (callId: string, ref: ModelRef, intent: CallIntent, fields: { ok: boolean; error?: ErrorData; abandoned?: boolean }) => {
    const programmerId = optional<string>(subjectIdSchema, intent.agentId);
    const message: BreakerMessage = { kind: 'pas.v1.breaker', op: 'outcome', call_id: callId, worker_id: workerId, ...(programmerId ? { programmer_id: programmerId } : {}), model: ref, ok: fields.ok, ...(fields.error ? { error: fields.error } : {}), ...(fields.abandoned ? { abandoned: true } : {}), at: new Date(now()).toISOString() };
    report(names.subjects.breakerOutcome(workerId), encodeMessage('pas.v1.breaker', message), `outcome.${callId}`);
  };

  const spend = (callId: string, ref: ModelRef | undefined, intent: CallIntent, usage: TokenUsage, usd: number) => {
    const programmerId = optional<string>(subjectIdSchema, intent.agentId);
    const jobId = optional<string>(distIdSchema, intent.jobId);
    const attemptId = optional<string>(distIdSchema, intent.taskId !== undefined ? options.attemptOf?.(intent.taskId, intent.agentId) : undefined);
    const at = new Date(now()).toISOString();
    const day = at.slice(0, 10);
    const known = spentByDay.get(day) ?? { own: 0, central: 0 };
    spentByDay.set(day, { ...known, own: roundUsd(known.own + usd) });
    if (attemptId) {
      const calls = callsOf.get(attemptId);
      if (calls) calls.push(callId);
      else callsOf.set(attemptId, [callId]);
    }
    const message: SpendMessage = { kind: 'pas.v1.spend', call_id: callId, worker_id: workerId, ...(programmerId ? { programmer_id: programmerId } : {}), ...(attemptId ? { attempt_id: attemptId } : {}), ...(jobId ? { job_id: jobId } : {}), ...(ref ? { model: ref } : {}), tokens: usage, cost_usd: roundUsd(usd), at };
    report(names.subjects.spend(workerId), encodeMessage('pas.v1.spend', message), `spend.${callId}`);
  };

  /** The ticket of an admitted call: it reports how the call ended; a failure ends this worker's lease on the model. */
  const ticket = (callId: string, ref: ModelRef, intent: CallIntent, probe: boolean): CallTicket => {
    let finished = false;
    return {
      admission: probe ? 'probe' : 'allow',
      finish(how, detail = {}) {
        if (finished) return;
        finished = true;
        if (how === 'success') {
          // A plain success changes no breaker state: only failures and the probe's result are reported.
          if (probe) {
            outcome(callId, ref, intent, { ok: true });
            // The probe succeeded: the central breaker closes on this report, so this worker stops refusing too.
            heard.set(ref, { state: 'closed', at: now() });
          }
        } else if (how === 'failure') {
          // The report may open the breaker: this worker asks again before its next call.
          leases.delete(ref);
          outcome(callId, ref, intent, { ok: false, ...(detail.error ? { error: detail.error } : {}) });
        } else if (probe) {
          outcome(callId, ref, intent, { ok: false, abandoned: true });
        }
        // What the call used is paid for however it ended (an answer that broke off mid-stream).
        if ((detail.costUsd ?? 0) > 0) spend(callId, ref, intent, detail.usage ?? { input: null, output: null }, detail.costUsd!);
      },
    };
  };

  /** A call cancelled while the central process was asked (by it or by a call it waited on). */
  const cancelled = (ref: ModelRef, reason: unknown) =>
    new PasError('PAS_ERR_TASK_CANCELLED', `${ref}: the call was cancelled while the central process was asked whether it may be made; it was not made`, { details: { ref }, cause: reason });

  /**
   * Asks the central process whether this call may be made (and whether a lease comes with it),
   * asking again while it does not answer until `deadline` (the call's own admission wait).
   */
  const ask = async (ref: ModelRef, intent: CallIntent, deadline: number): Promise<CallTicket> => {
    const callId = newCallId();
    const programmerId = optional<string>(subjectIdSchema, intent.agentId);
    const jobId = optional<string>(distIdSchema, intent.jobId);
    const attemptId = optional<string>(distIdSchema, intent.taskId !== undefined ? options.attemptOf?.(intent.taskId, intent.agentId) : undefined);
    const request: BreakerMessage = { kind: 'pas.v1.breaker', op: 'probe', call_id: callId, worker_id: workerId, ...(programmerId ? { programmer_id: programmerId } : {}), ...(attemptId ? { attempt_id: attemptId } : {}), ...(jobId ? { job_id: jobId } : {}), model: ref, at: new Date(now()).toISOString() };
    const data = encodeMessage('pas.v1.breaker', request);
    const revokedBefore = revocations;
    const signal = intent.signal;
    const cancelledWaiting = (reason: unknown) => {
      // The central process may have admitted this call as the one half-open probe: it is given back.
      outcome(callId, ref, intent, { ok: false, abandoned: true });
      return cancelled(ref, reason);
    };
    let answer: { data: Uint8Array } | undefined;
    /** When the request that was answered went out: a lease counts from then, so it ends before the central process's record of it. */
    let sentAt = now();
    for (let wait = 100; !answer; wait = Math.min(wait * 2, 1_000)) {
      try {
        sentAt = now();
        // A cancel or a timeout ends the wait at once: the answer, if one comes, is not used.
        answer = await untilAborted(options.request(names.subjects.breakerProbe, data, { timeout: Math.max(50, Math.min(options.requestTimeoutMs, deadline - now())) }), signal);
      } catch (err) {
        if (signal?.aborted) throw cancelledWaiting(signal.reason);
        if (now() + wait >= deadline) {
          log.warn({ ref, err: toErrorData(err), waitedMs: options.admissionWaitMs }, 'the central process did not answer a model-call request: call refused');
          throw new PasError('PAS_ERR_DIST_NO_ADMISSION', `${ref}: the central process did not say within ${options.admissionWaitMs} ms whether this call may be made (breaker and budget are kept there); the call was not made`, {
            details: { ref, waitedMs: options.admissionWaitMs },
          });
        }
        if (wait === 100) log.info({ ref, err: toErrorData(err) }, 'no answer from the central process yet: asking again');
        await abortableSleep(wait, signal).catch((reason: unknown) => {
          throw cancelledWaiting(reason);
        });
      }
    }
    const reply = decodeMessage('pas.v1.breaker_reply', answer.data);
    heard.set(ref, { state: reply.state, at: now() });
    if (!reply.allow) {
      unleased.add(ref);
      const error = reply.error ?? { code: 'PAS_ERR_LLM_BREAKER_OPEN' as const, retryable: true, message: `${ref}: circuit breaker is ${reply.state}` };
      if (error.code === 'PAS_ERR_BUDGET_EXHAUSTED' && typeof error.details?.spentUsd === 'number' && typeof error.details.day === 'string') {
        const known = spentByDay.get(error.details.day) ?? { own: 0, central: 0 };
        spentByDay.set(error.details.day, { ...known, central: Math.max(known.central, error.details.spentUsd) });
      }
      if (error.code === 'PAS_ERR_TASK_CANCELLED' && attemptId !== undefined && error.details?.attemptId === attemptId) options.onAttemptOver?.(attemptId);
      throw new PasError(error.code, error.message, { details: error.details ?? { ref }, retryable: error.retryable });
    }
    const probe = reply.state === 'halfOpen';
    if (reply.lease_ms === undefined) unleased.add(ref);
    else unleased.delete(ref);
    if (!probe && reply.lease_ms !== undefined && revocations === revokedBefore) leases.set(ref, sentAt + reply.lease_ms);
    return ticket(callId, ref, intent, probe);
  };

  const gate: ClusterGate = {
    async admitCall(ref, intent) {
      if (leaseHeld(ref)) return ticket(newCallId(), ref, intent, false);
      // This call's own admission wait, whether it waits on another call's ask first or not.
      const deadline = now() + options.admissionWaitMs;
      // An ask for this model is in flight (calls start together when answers land together): it may
      // bring a lease, unless the model's last answer brought none (then waiting would only add a round trip).
      const inFlightAsk = unleased.has(ref) ? undefined : asking.get(ref);
      if (inFlightAsk) {
        const shared = await untilAborted(
          inFlightAsk.then(
            () => undefined,
            (err: unknown) => err,
          ),
          intent.signal,
        ).catch((reason: unknown) => {
          throw cancelled(ref, reason);
        });
        if (leaseHeld(ref)) return ticket(newCallId(), ref, intent, false);
        // The central process did not answer within that ask's wait, which began no later than this call's: this call's wait is over too.
        if (shared instanceof PasError && shared.code === 'PAS_ERR_DIST_NO_ADMISSION') throw shared;
      }
      const own = ask(ref, intent, deadline);
      if (!asking.has(ref)) {
        asking.set(ref, own);
        void own.catch(() => undefined).finally(() => asking.get(ref) === own && asking.delete(ref));
      }
      return own;
    },
    revoke(ref, state) {
      revocations++;
      leases.delete(ref);
      heard.set(ref, { state, at: now() });
      log.info({ ref, state }, 'lease on a model revoked by the central process');
    },
    dropLeases() {
      revocations++;
      leases.clear();
    },
    leased: leaseHeld,
    admit(ref) {
      const last = heard.get(ref);
      // Only "open" holds calls back here: half-open is the central process's call (one probe at a time).
      if (last && last.state === 'open' && now() - last.at < options.cooldownMs) return 'reject';
      return 'allow';
    },
    record(ref, how, _probe, error) {
      if (how === 'failure') outcome(newCallId(), ref, {}, { ok: false, ...(error ? { error } : {}) });
    },
    abandonProbe() {
      // The synchronous face never admits a probe: the central process admits the one probe.
    },
    state: (ref) => {
      const last = heard.get(ref);
      return last && now() - last.at < options.cooldownMs ? last.state : 'closed';
    },
    failures: () => 0,
    takeCalls(attemptId) {
      const calls = callsOf.get(attemptId) ?? [];
      callsOf.delete(attemptId);
      return calls;
    },
    spendStore: {
      spent: (day) => {
        const known = spentByDay.get(day);
        return known ? Math.max(known.own, known.central) : 0;
      },
      add: (_day, usd) => {
        if (!Number.isFinite(usd) || usd < 0) throw new RangeError(`spend must be a non-negative number, got ${usd}`);
        if (usd > 0) spend(newCallId(), undefined, {}, { input: null, output: null }, usd);
      },
    },
    async drain(timeoutMs) {
      await Promise.race([Promise.all([...inFlight]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    },
  };
  return gate;
}

/**
 * Hands the central process's lease revokes (`breaker.revoke`, to every worker) to `gate`; a bad
 * message is refused and logged. Returns the unsubscribe.
 */
export function followRevokes(nc: Pick<NatsConnection, 'subscribe'>, names: DistributionNames, gate: Pick<ClusterGate, 'revoke'>, logger: Logger): () => void {
  const sub = nc.subscribe(names.subjects.breakerRevoke, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const m = decodeMessage('pas.v1.breaker', msg.data);
        if (m.op !== 'revoke') throw new PasError('PAS_ERR_DIST_BAD_MESSAGE', `pas.v1.breaker: op: only a revoke is published on ${names.subjects.breakerRevoke}`, { details: { kind: 'pas.v1.breaker', field: 'op', problem: `${m.op} on the revoke subject` } });
        gate.revoke(m.model, m.state);
      } catch (e) {
        logger.warn({ err: toErrorData(e) }, 'bad lease revoke refused');
      }
    },
  });
  return () => sub.unsubscribe();
}
