/**
 * The worker's cluster gate without a broker: the central process's answers are scripted replies
 * in the real wire format. The synchronous face (`admit`, which agent-CLI executors ask before
 * starting a program) follows what the central process said of the model.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createClusterGate } from '../../../src/distribution/cluster-gate.ts';
import { encodeMessage, type BreakerReplyMessage } from '../../../src/distribution/messages.ts';
import { distributionNames } from '../../../src/distribution/names.ts';

const REF = 'anthropic/claude-sonnet-4';
const COOLDOWN_MS = 5 * 60_000;

function gateAnswering(replies: Array<Pick<BreakerReplyMessage, 'state' | 'allow'>>) {
  let t = Date.parse('2026-03-01T12:00:00Z');
  let n = 0;
  const gate = createClusterGate({
    workerId: 'w1',
    names: distributionNames('unit'),
    request: async () => {
      const r = replies[Math.min(n++, replies.length - 1)]!;
      return { data: encodeMessage('pas.v1.breaker_reply', { kind: 'pas.v1.breaker_reply', call_id: `w1.c${n}`, model: REF, ...r }) };
    },
    publishDurably: async () => undefined,
    requestTimeoutMs: 100,
    admissionWaitMs: 1_000,
    cooldownMs: COOLDOWN_MS,
    logger: pino({ level: 'silent' }),
    now: () => t,
    newCallId: () => `w1.c${n + 1}`,
  });
  return { gate, advance: (ms: number) => void (t += ms) };
}

describe('cluster gate, spend reports', () => {
  it("names in a call's spend report the attempt its programmer runs of the task (two attempts of one task told apart), and none for a task it does not run", async () => {
    const published: unknown[] = [];
    const gate = createClusterGate({
      workerId: 'w1',
      names: distributionNames('unit'),
      request: async () => ({ data: encodeMessage('pas.v1.breaker_reply', { kind: 'pas.v1.breaker_reply', call_id: 'w1.c1', model: REF, state: 'closed', allow: true }) }),
      publishDurably: async (_subject, data) => void published.push(JSON.parse(new TextDecoder().decode(data))),
      requestTimeoutMs: 100,
      admissionWaitMs: 1_000,
      cooldownMs: COOLDOWN_MS,
      logger: pino({ level: 'silent' }),
      // Two attempts of t-1 at once: a given-up one still unwinding on p1, the next one on p2.
      attemptOf: (taskId, programmerId) => (taskId !== 't-1' ? undefined : programmerId === 'p1' ? 'att-6' : programmerId === 'p2' ? 'att-7' : undefined),
    });
    (await gate.admitCall(REF, { agentId: 'p2', jobId: 'j-1', taskId: 't-1' })).finish('success', { usage: { input: 12, output: 3 }, costUsd: 0.5 });
    (await gate.admitCall(REF, { agentId: 'p1', jobId: 'j-1', taskId: 't-1' })).finish('abandoned', { usage: { input: 2, output: 1 }, costUsd: 0.125 });
    (await gate.admitCall(REF, { agentId: 'p1', taskId: 't-gone' })).finish('failure', { usage: { input: 4, output: null }, costUsd: 0.25 });
    await gate.drain(1_000);
    const spends = published.filter((m) => (m as { kind: string }).kind === 'pas.v1.spend');
    expect(spends).toMatchObject([
      { attempt_id: 'att-7', job_id: 'j-1', programmer_id: 'p2', model: REF, tokens: { input: 12, output: 3 }, cost_usd: 0.5 },
      { attempt_id: 'att-6', programmer_id: 'p1', cost_usd: 0.125 },
      { programmer_id: 'p1', cost_usd: 0.25 },
    ]);
    expect(spends[2]).not.toHaveProperty('attempt_id');
    // What the result of each attempt names as its run's calls: taken once.
    expect(gate.takeCalls('att-7')).toEqual([(spends[0] as { call_id: string }).call_id]);
    expect(gate.takeCalls('att-6')).toEqual([(spends[1] as { call_id: string }).call_id]);
    expect(gate.takeCalls('att-7')).toEqual([]);
  });
});

describe('cluster gate, attempts the central process gave up', () => {
  it('names in its ask the attempt the call works for, and stops that attempt when the central process answers it is over, not for a refusal of another attempt or code', async () => {
    const asked: Array<{ attempt_id?: string }> = [];
    const answers = [
      { allow: false, error: { code: 'PAS_ERR_TASK_CANCELLED' as const, retryable: false, message: 'over', details: { attemptId: 'att-9' } } },
      { allow: false, error: { code: 'PAS_ERR_BUDGET_EXHAUSTED' as const, retryable: false, message: 'spent', details: { attemptId: 'att-9' } } },
      { allow: false, error: { code: 'PAS_ERR_TASK_CANCELLED' as const, retryable: false, message: 'over', details: { attemptId: 'att-other' } } },
    ];
    const over: string[] = [];
    const gate = createClusterGate({
      workerId: 'w1',
      names: distributionNames('unit'),
      request: async (_subject, data) => {
        asked.push(JSON.parse(new TextDecoder().decode(data)) as { attempt_id?: string });
        const a = answers[asked.length - 1]!;
        return { data: encodeMessage('pas.v1.breaker_reply', { kind: 'pas.v1.breaker_reply', call_id: `w1.c${asked.length}`, model: REF, state: 'closed', ...a }) };
      },
      publishDurably: async () => undefined,
      requestTimeoutMs: 100,
      admissionWaitMs: 1_000,
      cooldownMs: COOLDOWN_MS,
      logger: pino({ level: 'silent' }),
      attemptOf: (taskId, programmerId) => (taskId === 't-1' && programmerId === 'p1' ? 'att-9' : undefined),
      onAttemptOver: (attemptId) => void over.push(attemptId),
    });
    for (let i = 0; i < 3; i++) await expect(gate.admitCall(REF, { agentId: 'p1', taskId: 't-1' })).rejects.toMatchObject({ code: i === 1 ? 'PAS_ERR_BUDGET_EXHAUSTED' : 'PAS_ERR_TASK_CANCELLED' });
    expect(asked.map((a) => a.attempt_id)).toEqual(['att-9', 'att-9', 'att-9']);
    expect(over).toEqual(['att-9']);
  });
});

describe('cluster gate, synchronous face', () => {
  it('admits a model again once the half-open probe this worker made has succeeded, not only after the cooldown', async () => {
    const { gate, advance } = gateAnswering([{ state: 'halfOpen', allow: true }]);
    const ticket = await gate.admitCall(REF, { agentId: 'p1' });
    expect(ticket.admission).toBe('probe');
    advance(1_000);
    ticket.finish('success', { usage: { input: 1, output: 1 }, costUsd: 0 });
    expect(gate.admit(REF)).toBe('allow');
    expect(gate.state(REF)).toBe('closed');
  });

  it('does not hold a model back for the whole cooldown because another worker held the half-open probe', async () => {
    const { gate, advance } = gateAnswering([{ state: 'halfOpen', allow: false }]);
    await expect(gate.admitCall(REF, {})).rejects.toMatchObject({ code: 'PAS_ERR_LLM_BREAKER_OPEN' });
    advance(10_000);
    expect(gate.admit(REF)).toBe('allow');
  });

  it('refuses a model the central process said is open until the cooldown has passed', async () => {
    const { gate, advance } = gateAnswering([{ state: 'open', allow: false }]);
    await expect(gate.admitCall(REF, {})).rejects.toMatchObject({ code: 'PAS_ERR_LLM_BREAKER_OPEN' });
    advance(COOLDOWN_MS - 1);
    expect(gate.admit(REF)).toBe('reject');
    advance(2);
    expect(gate.admit(REF)).toBe('allow');
  });
});

describe('cluster gate, leases', () => {
  const FREE = 'ollama/qwen2.5-coder:7b-instruct';
  /** A gate whose asks are answered by `answer` (each ask counted); replies carry `lease_ms` when given. */
  function leasing(leaseMs: number | undefined, hold?: () => Promise<void>) {
    let t = Date.parse('2026-03-01T12:00:00Z');
    let asks = 0;
    const reported: string[] = [];
    const gate = createClusterGate({
      workerId: 'w1',
      names: distributionNames('unit'),
      request: async (_subject, data) => {
        asks++;
        const ask = JSON.parse(Buffer.from(data).toString('utf8')) as { call_id: string; model: string };
        await hold?.();
        return { data: encodeMessage('pas.v1.breaker_reply', { kind: 'pas.v1.breaker_reply', call_id: ask.call_id, model: ask.model as typeof FREE, state: 'closed', allow: true, ...(leaseMs ? { lease_ms: leaseMs } : {}) }) };
      },
      publishDurably: async (subject) => void reported.push(subject),
      requestTimeoutMs: 100,
      admissionWaitMs: 1_000,
      cooldownMs: COOLDOWN_MS,
      logger: pino({ level: 'silent' }),
      now: () => t,
    });
    return { gate, asks: () => asks, reported, advance: (ms: number) => void (t += ms) };
  }

  it('calls again without asking while the lease runs, and asks again once it has run out', async () => {
    const g = leasing(2_000);
    (await g.gate.admitCall(FREE, {})).finish('success');
    g.advance(1_999);
    (await g.gate.admitCall(FREE, {})).finish('success');
    expect(g.asks()).toBe(1);
    g.advance(1);
    expect(g.gate.leased(FREE)).toBe(false);
    await g.gate.admitCall(FREE, {});
    expect(g.asks()).toBe(2);
  });

  it('asks per call when the central process grants no lease, and then calls that start together each ask at once', async () => {
    let release!: () => void;
    let held: Promise<void> = Promise.resolve();
    const g = leasing(undefined, () => held);
    for (let i = 0; i < 3; i++) (await g.gate.admitCall(FREE, {})).finish('success');
    expect(g.asks()).toBe(3);
    held = new Promise<void>((r) => (release = r));
    const calls = Array.from({ length: 4 }, () => g.gate.admitCall(FREE, {}));
    // No call waits for another's answer: all four asks are out before any answer comes.
    await new Promise((r) => setImmediate(r));
    expect(g.asks()).toBe(7);
    release();
    await Promise.all(calls);
  });

  it('ends its lease when one of its own calls fails (the failure is reported), on a revoke, and when the link drops', async () => {
    const g = leasing(60_000);
    (await g.gate.admitCall(FREE, {})).finish('failure', { error: { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'overloaded' } });
    expect(g.gate.leased(FREE)).toBe(false);
    expect(g.reported).toHaveLength(1);
    await g.gate.admitCall(FREE, {});
    expect(g.gate.leased(FREE)).toBe(true);
    g.gate.revoke(FREE, 'open');
    expect(g.gate.leased(FREE)).toBe(false);
    expect(g.gate.admit(FREE)).toBe('reject');
    g.advance(COOLDOWN_MS);
    await g.gate.admitCall(FREE, {});
    expect(g.gate.leased(FREE)).toBe(true);
    g.gate.dropLeases();
    expect(g.gate.leased(FREE)).toBe(false);
    expect(g.asks()).toBe(3);
  });

  it('takes no lease from a reply to an ask sent before a revoke it handled first', async () => {
    const late: { gate?: ReturnType<typeof leasing>['gate'] } = {};
    const g = leasing(60_000, async () => late.gate!.revoke(FREE, 'open'));
    late.gate = g.gate;
    await g.gate.admitCall(FREE, {});
    expect(g.gate.leased(FREE)).toBe(false);
  });

  it('makes one ask for calls that start together while no lease is held, and they all go on the lease it brings', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const g = leasing(60_000, () => held);
    const calls = Array.from({ length: 5 }, () => g.gate.admitCall(FREE, {}));
    release();
    const tickets = await Promise.all(calls);
    expect(tickets.map((t) => t.admission)).toEqual(['allow', 'allow', 'allow', 'allow', 'allow']);
    expect(g.asks()).toBe(1);
  });

  it('counts its lease from when it sent the ask, so it ends before the central process\'s record of it', async () => {
    const late: { advance?: (ms: number) => void } = {};
    // The reply takes 1 s (on the worker's clock) to come back.
    const g = leasing(2_000, async () => late.advance!(1_000));
    late.advance = g.advance;
    await g.gate.admitCall(FREE, {});
    g.advance(999);
    expect(g.gate.leased(FREE)).toBe(true);
    g.advance(1);
    expect(g.gate.leased(FREE)).toBe(false);
  });

  it('refuses a call that waited on another call\'s unanswered ask when that ask runs out of admission wait, without asking again itself', async () => {
    const late: { advance?: (ms: number) => void } = {};
    // The central process never answers: each request times out after 600 ms on the worker's clock.
    const g = leasing(60_000, async () => {
      late.advance!(600);
      throw new Error('TIMEOUT');
    });
    late.advance = g.advance;
    const first = g.gate.admitCall(FREE, {});
    const waiting = g.gate.admitCall(FREE, {});
    await expect(first).rejects.toMatchObject({ code: 'PAS_ERR_DIST_NO_ADMISSION' });
    await expect(waiting).rejects.toMatchObject({ code: 'PAS_ERR_DIST_NO_ADMISSION' });
    expect(g.asks()).toBe(2);
  });

  it('stops a call waiting on another call\'s ask at once when it is cancelled', async () => {
    const g = leasing(60_000, () => new Promise<void>(() => undefined));
    void g.gate.admitCall(FREE, {}).catch(() => undefined);
    const stop = new AbortController();
    const waiting = g.gate.admitCall(FREE, { signal: stop.signal });
    stop.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'PAS_ERR_TASK_CANCELLED' });
    expect(g.asks()).toBe(1);
  });
});
