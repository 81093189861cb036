/**
 * The central authority over workers' model calls, without a broker: its answers come from a
 * real breaker registry and a real journal's spend, and the reports it takes from the results
 * stream are applied once per call id however often they are delivered.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { SimulatedClock } from 'xstate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createClusterLlmAuthority, reportPrefixes, type ClusterLlmAuthority, type StreamMessage } from '../../../src/distribution/cluster-llm-authority.ts';
import { encodeMessage, type BreakerMessage } from '../../../src/distribution/messages.ts';
import { distributionNames } from '../../../src/distribution/names.ts';
import Database from 'better-sqlite3';
import { openJournal, type Journal } from '../../../src/journal/journal.ts';
import { createMoneyPolicy } from '../../../src/llm/money-policy.ts';
import { utcDay } from '../../../src/llm/spend-store.ts';
import { BreakerRegistry } from '../../../src/runtime/breaker-registry.ts';

const config = loadConfig('configs');
const names = distributionNames('unit');
const PAID = 'openai/gpt-4o';
const FREE = 'ollama/qwen2.5-coder:7b-instruct';
const T0 = Date.parse('2026-03-01T12:00:00Z');
const COOLDOWN_MS = 60_000;

interface Delivered extends StreamMessage {
  acks: number;
  naks: number;
  terms: number;
}

function delivered(subject: string, data: Uint8Array): Delivered {
  const m: Delivered = { subject, data, acks: 0, naks: 0, terms: 0, ack: () => void m.acks++, nak: () => void m.naks++, term: () => void m.terms++ };
  return m;
}

const spendMsg = (callId: string, usd: number, jobId?: string) =>
  delivered(names.subjects.spend('w1'), encodeMessage('pas.v1.spend', { kind: 'pas.v1.spend', call_id: callId, worker_id: 'w1', ...(jobId ? { job_id: jobId } : {}), model: PAID, tokens: { input: 10, output: 5 }, cost_usd: usd, at: new Date(T0).toISOString() }));
const failureMsg = (callId: string, worker = 'w1') =>
  delivered(
    names.subjects.breakerOutcome(worker),
    encodeMessage('pas.v1.breaker', { kind: 'pas.v1.breaker', op: 'outcome', call_id: callId, worker_id: worker, model: PAID, ok: false, error: { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'overloaded' }, at: new Date(T0).toISOString() }),
  );
const freeFailure = (id: string) =>
  delivered(names.subjects.breakerOutcome('w1'), encodeMessage('pas.v1.breaker', { kind: 'pas.v1.breaker', op: 'outcome', call_id: id, worker_id: 'w1', model: FREE, ok: false, error: { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'overloaded' }, at: new Date(T0).toISOString() }));
const ask = (callId: string, model = PAID, jobId?: string): Extract<BreakerMessage, { op: 'probe' }> => ({ kind: 'pas.v1.breaker', op: 'probe', call_id: callId, worker_id: 'w2', model, ...(jobId ? { job_id: jobId } : {}), at: new Date(T0).toISOString() });

/** The end of this event-loop turn: the journal's group is committed and its acks sent. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** The turn's journal group is committed at its end, and the acks go once its fsync is done (off the event loop). */
const acksSent = async () => {
  await nextTurn();
  await journal.synced();
  await nextTurn();
};

let dir: string;
let journal: Journal;
let clock: SimulatedClock;
let breakers: BreakerRegistry;
let authority: ClusterLlmAuthority;
const jobSpend = new Map<string, number>();

function setup(limitUsd: number, threshold = 2, leaseMs = 0) {
  clock = new SimulatedClock();
  clock.set(T0);
  breakers = new BreakerRegistry({ enabled: true, failureThreshold: threshold, windowMs: 5 * 60_000, cooldownMs: COOLDOWN_MS }, () => clock.now(), clock);
  const money = createMoneyPolicy({ models: config.models, costOptimization: { enabled: true, max_daily_spend_usd: limitUsd }, spend: journal.spendStore(), now: () => clock.now() });
  authority = createClusterLlmAuthority({ logger: pino({ level: 'silent' }), ...reportPrefixes(names), now: () => clock.now(), leaseMs });
  authority.bind({
    breakers,
    money,
    journal,
    jobBudget: { limit: (jobId) => (jobId === 'job-small' ? 0.5 : undefined), spent: (jobId) => jobSpend.get(jobId) ?? 0, add: (jobId, usd) => void jobSpend.set(jobId, (jobSpend.get(jobId) ?? 0) + usd) },
  });
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pas-authority-'));
  journal = openJournal(path.join(dir, 'pas.db'));
  jobSpend.clear();
});
afterEach(() => {
  breakers?.stop();
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the cluster LLM authority', () => {
  it('counts a spend report delivered twice once, acks both, and the count survives a reopened journal', async () => {
    setup(100);
    const first = spendMsg('w1.call-1', 0.25, 'job-a');
    const again = spendMsg('w1.call-1', 0.25, 'job-a');
    authority.take(first);
    authority.take(again);
    authority.take(spendMsg('w1.call-2', 0.5));
    expect(journal.spendStore().spent(utcDay(T0))).toBe(0.75);
    expect(jobSpend.get('job-a')).toBe(0.25);
    await acksSent();
    expect([first.acks, again.acks]).toEqual([1, 1]);

    // A central restart: the same call delivered again after the reopen is still fenced.
    journal.close();
    journal = openJournal(path.join(dir, 'pas.db'));
    setup(100);
    authority.take(spendMsg('w1.call-1', 0.25, 'job-a'));
    expect(journal.spendStore().spent(utcDay(T0))).toBe(0.75);
  });

  it('acks a burst of spend reports only once one journal commit holds them all', async () => {
    setup(100);
    // Another connection sees only what the journal committed.
    const reader = new Database(path.join(dir, 'pas.db'), { readonly: true });
    const committedAtAck: number[] = [];
    const burst = [1, 2, 3].map((i) => {
      const m = spendMsg(`w1.burst-${i}`, 0.1);
      m.ack = () => {
        m.acks++;
        committedAtAck.push(reader.prepare<[], { n: number }>('SELECT count(*) AS n FROM call_spend').get()!.n);
      };
      return m;
    });
    for (const m of burst) authority.take(m);
    await acksSent();
    reader.close();
    expect(burst.map((m) => m.acks)).toEqual([1, 1, 1]);
    expect(committedAtAck).toEqual([3, 3, 3]);
  });

  it('counts a breaker failure delivered twice once; failures from two workers open one breaker', () => {
    setup(100, 2);
    authority.take(failureMsg('w1.fail-1'));
    authority.take(failureMsg('w1.fail-1'));
    expect(breakers.state(PAID)).toBe('closed');
    expect(authority.answer(ask('w2.q-1'))).toMatchObject({ allow: true, state: 'closed' });
    authority.take(failureMsg('w2.fail-2', 'w2'));
    expect(breakers.state(PAID)).toBe('open');
    const refused = authority.answer(ask('w2.q-2'));
    expect(refused).toMatchObject({ allow: false, state: 'open', error: { code: 'PAS_ERR_LLM_BREAKER_OPEN' } });
    expect(refused.error!.message).toContain('PAS_ERR_LLM_OVERLOADED');
  });

  it('leases only a free model with a closed breaker, and names it for revoke once (at once after a report) when its breaker opens', () => {
    setup(100, 2, 3_000);
    let due = 0;
    authority.onRevocable(() => void due++);
    expect(authority.answer(ask('w2.free-1', FREE))).toMatchObject({ allow: true, state: 'closed', lease_ms: 3_000 });
    // A paid model's budget is checked per call: never leased.
    expect(authority.answer(ask('w2.paid-1', PAID)).lease_ms).toBeUndefined();
    expect(authority.revocations()).toEqual([]);
    authority.take(freeFailure('w1.ff-1'));
    expect(due).toBe(0);
    authority.take(freeFailure('w1.ff-2'));
    expect(due).toBe(1);
    expect(authority.revocations()).toEqual([{ kind: 'pas.v1.breaker', op: 'revoke', model: FREE, state: 'open', at: new Date(T0).toISOString() }]);
    expect(authority.revocations()).toEqual([]);
    // Open, then half-open: no lease, not even for the probe.
    expect(authority.answer(ask('w2.free-2', FREE))).toMatchObject({ allow: false, state: 'open' });
    clock.increment(COOLDOWN_MS);
    const probe = authority.answer(ask('w2.free-3', FREE));
    expect(probe).toMatchObject({ allow: true, state: 'halfOpen' });
    expect(probe.lease_ms).toBeUndefined();
  });

  it('revokes the leases on a model whose breaker opens after the lease it last granted has run out (a worker counts its lease from later)', () => {
    setup(100, 2, 3_000);
    expect(authority.answer(ask('w2.free-1', FREE))).toMatchObject({ allow: true, lease_ms: 3_000 });
    clock.increment(3_001);
    expect(authority.revocations()).toEqual([]);
    authority.take(freeFailure('w1.ff-1'));
    authority.take(freeFailure('w1.ff-2'));
    expect(breakers.state(FREE)).toBe('open');
    expect(authority.revocations()).toMatchObject([{ op: 'revoke', model: FREE, state: 'open' }]);
    expect(authority.revocations()).toEqual([]);
  });

  it('after a restart revokes the leases on a model it never leased when a worker report opens its breaker', () => {
    // A fresh authority (the central process restarted): a worker may still hold a lease it granted before.
    setup(100, 2, 3_000);
    let due = 0;
    authority.onRevocable(() => void due++);
    authority.take(freeFailure('w1.ff-1'));
    authority.take(freeFailure('w1.ff-2'));
    expect(due).toBe(1);
    expect(authority.revocations()).toMatchObject([{ op: 'revoke', model: FREE, state: 'open' }]);
  });

  it('after a restart revokes the leases on a model whose breaker only its own calls opened (no worker asked or reported since)', () => {
    // A fresh authority (the central process restarted): a worker still holds a lease granted before,
    // so it neither asks nor reports; the central process's own calls open the model's breaker.
    setup(100, 2, 3_000);
    breakers.record(FREE, 'failure', false, { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'overloaded' });
    breakers.record(FREE, 'failure', false, { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'overloaded' });
    expect(breakers.state(FREE)).toBe('open');
    expect(authority.revocations()).toEqual([{ kind: 'pas.v1.breaker', op: 'revoke', model: FREE, state: 'open', at: new Date(T0).toISOString() }]);
    expect(authority.revocations()).toEqual([]);
    // Closed again after a probe, then open again: revoked again.
    clock.increment(COOLDOWN_MS);
    expect(breakers.admit(FREE)).toBe('probe');
    breakers.record(FREE, 'success', true);
    expect(authority.revocations()).toEqual([]);
    breakers.record(FREE, 'failure', false, { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'overloaded' });
    breakers.record(FREE, 'failure', false, { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'overloaded' });
    expect(authority.revocations()).toMatchObject([{ op: 'revoke', model: FREE, state: 'open' }]);
  });

  it('publishes no revokes while leases are off', () => {
    setup(100, 2, 0);
    authority.take(freeFailure('w1.ff-1'));
    authority.take(freeFailure('w1.ff-2'));
    expect(breakers.state(FREE)).toBe('open');
    expect(authority.revocations()).toEqual([]);
  });

  it('admits exactly one probe after the cooldown, and the probe outcome closes the breaker', () => {
    setup(100, 2);
    authority.take(failureMsg('w1.f1'));
    authority.take(failureMsg('w1.f2'));
    clock.increment(COOLDOWN_MS);
    const answers = ['w1.p1', 'w2.p2', 'w1.p3'].map((id) => authority.answer(ask(id)));
    expect(answers.map((a) => a.allow)).toEqual([true, false, false]);
    expect(answers[0]).toMatchObject({ state: 'halfOpen' });
    // The probe's success (reported under its own call id) closes the breaker for everyone.
    authority.take(delivered(names.subjects.breakerOutcome('w1'), encodeMessage('pas.v1.breaker', { kind: 'pas.v1.breaker', op: 'outcome', call_id: 'w1.p1', worker_id: 'w1', model: PAID, ok: true, at: new Date(T0).toISOString() })));
    expect(breakers.state(PAID)).toBe('closed');
    expect(authority.answer(ask('w2.after'))).toMatchObject({ allow: true });
  });

  it('admits the probe again when its worker asks again under the same call id (the first reply was lost), and no second one', () => {
    setup(100, 2);
    authority.take(failureMsg('w1.f1'));
    authority.take(failureMsg('w1.f2'));
    clock.increment(COOLDOWN_MS);
    expect(authority.answer(ask('w2.p1'))).toMatchObject({ allow: true, state: 'halfOpen' });
    expect(authority.answer(ask('w2.p1'))).toMatchObject({ allow: true, state: 'halfOpen' });
    expect(authority.answer(ask('w2.p2'))).toMatchObject({ allow: false });
  });

  it('refuses paid models once the day or the job has spent its budget, and still admits free ones', () => {
    setup(1);
    authority.take(spendMsg('w1.c1', 0.5, 'job-small'));
    expect(authority.answer(ask('q1', PAID, 'job-small'))).toMatchObject({ allow: false, error: { code: 'PAS_ERR_BUDGET_EXHAUSTED', details: { scope: 'job' } } });
    expect(authority.answer(ask('q2', PAID, 'job-other'))).toMatchObject({ allow: true });
    authority.take(spendMsg('w1.c2', 0.6));
    expect(authority.answer(ask('q3', PAID))).toMatchObject({ allow: false, error: { code: 'PAS_ERR_BUDGET_EXHAUSTED', details: { spentUsd: 1.1, limitUsd: 1 } } });
    expect(authority.answer(ask('q4', FREE))).toMatchObject({ allow: true });
  });

  it("books each spend report under the attempt it names, with its tokens and model, so an attempt's calls can be listed", () => {
    setup(100);
    const named = (callId: string, usd: number, attemptId: string) =>
      delivered(names.subjects.spend('w1'), encodeMessage('pas.v1.spend', { kind: 'pas.v1.spend', call_id: callId, worker_id: 'w1', attempt_id: attemptId, model: PAID, tokens: { input: 10, output: 5 }, cost_usd: usd, at: new Date(T0).toISOString() }));
    authority.take(named('w1.a1', 0.25, 'att-1'));
    authority.take(named('w1.a2', 0.5, 'att-1'));
    authority.take(named('w1.a2', 0.5, 'att-1'));
    authority.take(named('w1.b1', 1, 'att-2'));
    expect(journal.attemptCalls('att-1')).toEqual([
      { callId: 'w1.a1', costUsd: 0.25, tokens: { input: 10, output: 5 }, model: PAID },
      { callId: 'w1.a2', costUsd: 0.5, tokens: { input: 10, output: 5 }, model: PAID },
    ]);
    expect(journal.attemptCalls('att-2')).toEqual([{ callId: 'w1.b1', costUsd: 1, tokens: { input: 10, output: 5 }, model: PAID }]);
    // An attempt named in the in-process form (no dispatch makes one) is not taken: the spend is, under no attempt.
    authority.take(named('w1.c1', 2, 'local:t1.a1'));
    expect(journal.localAttemptCalls('t1', 1)).toEqual([]);
    expect(journal.spendStore().spent(new Date(T0).toISOString().slice(0, 10))).toBe(3.75);
  });

  it('forgets the call ids of days long past when it starts, and keeps recent ones', () => {
    journal.addCallSpend('w1.old', '2026-01-01', 0.1);
    journal.addCallSpend('w1.recent', '2026-02-25', 0.1);
    setup(100);
    expect(journal.forgetCallSpend('9999-12-31')).toBe(1);
  });

  it('refuses a malformed report without applying it', () => {
    setup(100);
    const bad = delivered(names.subjects.spend('w1'), new TextEncoder().encode(JSON.stringify({ kind: 'pas.v1.spend', call_id: 'x', worker_id: 'w1', cost_usd: -1 })));
    authority.take(bad);
    expect(bad.terms).toBe(1);
    expect(journal.spendStore().spent(utcDay(T0))).toBe(0);
  });
});

describe('cluster LLM authority, attempts that are over', () => {
  it('refuses with PAS_ERR_TASK_CANCELLED naming the attempt a call of an attempt that is over here, paid or free, and admits the calls of a live attempt and of an ask that names none', () => {
    setup(100, 2, 10_000);
    const over = new Set(['t-1.a1.0badc0de']);
    authority.bind({ breakers, money: createMoneyPolicy({ models: config.models, costOptimization: { enabled: true, max_daily_spend_usd: 100 }, spend: journal.spendStore(), now: () => clock.now() }), journal, attemptOver: (id) => over.has(id) });
    const withAttempt = (callId: string, model: string, attemptId: string) => ({ ...ask(callId, model), attempt_id: attemptId });
    for (const model of [PAID, FREE]) {
      const refused = authority.answer(withAttempt(`c-${model}`, model, 't-1.a1.0badc0de'));
      expect(refused).toMatchObject({ allow: false, error: { code: 'PAS_ERR_TASK_CANCELLED', details: { attemptId: 't-1.a1.0badc0de' } } });
      expect(refused).not.toHaveProperty('lease_ms');
    }
    expect(authority.answer(withAttempt('c-live', PAID, 't-1.a2.0badcafe'))).toMatchObject({ allow: true, state: 'closed' });
    expect(authority.answer(ask('c-none', PAID))).toMatchObject({ allow: true });
  });
});
