/**
 * A worker's gate to the cluster's breakers and budget, over a real nats-server with the real LLM
 * client and local provider servers: no answer from the central process refuses the call with a
 * coded, retryable error (no paid model is called unchecked), and the central process's refusal
 * keeps its code, so the client fails over to the backup exactly as in-process.
 */
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { distributionSchema, modelsSchema } from '../../../src/config/schemas.ts';
import { createClusterGate, followRevokes, type ClusterGate } from '../../../src/distribution/cluster-gate.ts';
import { createClusterLlmAuthority, reportPrefixes, serveAdmissions } from '../../../src/distribution/cluster-llm-authority.ts';
import { openLink, publishUntilStored, type DistLink } from '../../../src/distribution/link.ts';
import { decodeMessage } from '../../../src/distribution/messages.ts';
import { createLlmClient } from '../../../src/llm/llm-client.ts';
import { createMoneyPolicy } from '../../../src/llm/money-policy.ts';
import { createMemorySpendStore } from '../../../src/llm/spend-store.ts';
import { BreakerRegistry } from '../../../src/runtime/breaker-registry.ts';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';
import { failure } from '../../support/pas-failure.ts';
import { settled } from './central-harness.ts';

const config = loadConfig('configs');
const PAID = 'openai/gpt-4o';
const PAID_BACKUP = 'openai/gpt-4o-mini';
const FREE = 'ollama/qwen2.5-coder:7b-instruct';
const logger = pino({ level: 'silent' });

let server: NatsServerHandle;
let link: DistLink;
let openai: FakeProvider;
let ollama: FakeProvider;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  server = await startNatsServer();
  link = await openLink(distributionSchema.parse({ nats_url: server.url, prefix: 'gate', request_timeout_ms: 300 }), 'gate-test');
  openai = await startFakeProvider({ kind: 'openai' });
  ollama = await startFakeProvider({ kind: 'ollama' });
}, 30_000);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  openai.requests.length = 0;
  ollama.requests.length = 0;
});
afterAll(async () => {
  await link?.close();
  await server?.close();
  await Promise.all([openai?.close(), ollama?.close()]);
});

function gate(onAsk?: () => void, admissionWaitMs = 500, durable = false, workerId = 'w1'): ClusterGate {
  return createClusterGate({
    workerId,
    names: link.names,
    request: (subject, data, opts) => {
      onAsk?.();
      return link.nats.nc.request(subject, data, opts);
    },
    publishDurably: durable ? (subject, data, msgID) => publishUntilStored(link, subject, data, msgID, logger) : async (subject, data, msgID) => void (await link.nats.js.publish(subject, data, { msgID })),
    requestTimeoutMs: 200,
    admissionWaitMs,
    cooldownMs: 60_000,
    logger,
  });
}

function client(breakers: ClusterGate) {
  const models = modelsSchema.parse({ providers: { ...config.models.providers, openai: { ...config.models.providers.openai, base_url: openai.url }, ollama: { ...config.models.providers.ollama, base_url: ollama.url } } });
  return createLlmClient({ models, failover: { enabled: true, max_retries: 0, retry_delay_s: 0 }, costOptimization: config.pool.cost_optimization, breakers, spend: createMemorySpendStore(), env: { OPENAI_API_KEY: 'sk-gate-test-1234' } });
}

/**
 * The central side: a real breaker registry (threshold `threshold`) and the authority over it; it
 * answers on the broker once `serve()` is called (it returns the stop). Spend goes to `spend`.
 */
function central(threshold: number, money = createMoneyPolicy({ models: config.models, costOptimization: config.pool.cost_optimization }), spend = createMemorySpendStore(), leaseMs = 0) {
  const breakers = new BreakerRegistry({ enabled: true, failureThreshold: threshold, windowMs: 60_000, cooldownMs: 60_000 });
  cleanups.push(() => breakers.stop());
  const authority = createClusterLlmAuthority({ logger, leaseMs, ...reportPrefixes(link.names) });
  authority.bind({ breakers, money, journal: { addCallSpend: (_id, day, usd) => (spend.add(day, usd), true), forgetCallSpend: () => 0, deferCommit: () => undefined, flush: () => undefined, commitPending: () => undefined, synced: () => Promise.resolve() } });
  return {
    breakers,
    serve: () => {
      const stop = serveAdmissions(link, authority, logger);
      cleanups.push(stop);
      return stop;
    },
  };
}

const request = { messages: [{ role: 'user' as const, content: 'hello' }], meta: { agentId: 'Prog-001', jobId: 'job-1' } };

describe("a worker's gate to the cluster's breakers and budget", () => {
  it('refuses the call with a coded, retryable error when the central process does not answer in time, and calls no model', async () => {
    // Someone listens on the subject (so the request is not refused at once) but never answers.
    const silent = link.nats.nc.subscribe(link.names.subjects.breakerProbe, { callback: () => undefined });
    cleanups.push(() => silent.unsubscribe());
    const err = await failure(client(gate()).call({ agentId: 'Prog-001', primary: PAID, backup: FREE, request }));
    expect(err.code).toBe('PAS_ERR_LLM_ALL_FAILED');
    expect(err.retryable).toBe(true);
    const causes = err.details.causes as Array<{ code: string; retryable: boolean }>;
    expect(causes.map((c) => c.code)).toEqual(['PAS_ERR_DIST_NO_ADMISSION', 'PAS_ERR_DIST_NO_ADMISSION']);
    expect(causes.every((c) => c.retryable)).toBe(true);
    expect(openai.requests).toHaveLength(0);
    expect(ollama.requests).toHaveLength(0);
  });

  it('keeps asking while the central process is not there (a restart) and makes the call once it answers', async () => {
    const { serve } = central(1);
    let asked = 0;
    // Nobody answers until the gate has asked twice; then the central process is "back".
    const call = client(gate(() => void asked++, 60_000)).call({ agentId: 'Prog-001', primary: FREE, request });
    let settled = false;
    void call.catch(() => undefined).finally(() => (settled = true));
    while (asked < 2 && !settled) await new Promise((r) => setTimeout(r, 10));
    expect(ollama.requests).toHaveLength(0);
    serve();
    const answer = await call;
    expect(answer).toMatchObject({ usedBackup: false, provider: 'ollama' });
    expect(ollama.requests).toHaveLength(1);
  });

  it("carries the central process's refusal codes: breaker open fails over to the backup, a spent budget ends with PAS_ERR_BUDGET_EXHAUSTED", async () => {
    const spend = createMemorySpendStore();
    const money = createMoneyPolicy({ models: config.models, costOptimization: { enabled: true, max_daily_spend_usd: 1 }, spend });
    const { breakers, serve } = central(1, money, spend);
    serve();
    breakers.record(PAID, 'failure', false, { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'overloaded' });

    const answer = await client(gate()).call({ agentId: 'Prog-001', primary: PAID, backup: FREE, request });
    expect(answer).toMatchObject({ usedBackup: true, provider: 'ollama' });
    expect(answer.attempts[0]).toMatchObject({ ref: PAID, ok: false, skipped: 'breaker_open', error: { code: 'PAS_ERR_LLM_BREAKER_OPEN' } });
    expect(openai.requests).toHaveLength(0);

    spend.add(money.today(), 1);
    const err = await failure(client(gate()).call({ agentId: 'Prog-001', primary: PAID_BACKUP, backup: PAID_BACKUP, request }));
    expect(err.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');
    expect(openai.requests).toHaveLength(0);
  });

  it("reports a paid call's cost and a failure on the results stream, under the call's id, with no key in them", async () => {
    central(5).serve();
    const g = gate();
    openai.script.push({ error: 'server' });
    await client(g).call({ agentId: 'Prog-001', primary: PAID, backup: PAID_BACKUP, request });
    await g.drain(5_000);

    const stream = await link.nats.jsm.streams.info(link.names.resultStream);
    expect(stream.state.messages).toBeGreaterThanOrEqual(2);
    const spend = await link.nats.jsm.streams.getMessage(link.names.resultStream, { last_by_subj: link.names.subjects.spend('w1') });
    const outcome = await link.nats.jsm.streams.getMessage(link.names.resultStream, { last_by_subj: link.names.subjects.breakerOutcome('w1') });
    const spent = decodeMessage('pas.v1.spend', spend!.data);
    const failed = decodeMessage('pas.v1.breaker', outcome!.data);
    expect(spent).toMatchObject({ worker_id: 'w1', programmer_id: 'Prog-001', job_id: 'job-1', model: PAID_BACKUP });
    expect(spent.cost_usd).toBeGreaterThan(0);
    expect(failed).toMatchObject({ op: 'outcome', model: PAID, ok: false, error: { code: 'PAS_ERR_LLM_SERVER' } });
    expect(spend!.header?.get('Nats-Msg-Id')).toBe(`spend.${spent.call_id}`);
    for (const m of [spend!, outcome!]) expect(new TextDecoder().decode(m.data)).not.toContain('sk-gate-test');
  });

  it('stops waiting for the admission at once when the task is cancelled: the call fails as cancelled, no model is called and no spend or failure is booked', async () => {
    // The central process hears the request but does not answer (busy, or restarting): without the
    // cancel the gate would wait request_timeout_ms, then ask again up to admission_wait_ms.
    let heard!: () => void;
    const asked = new Promise<void>((resolve) => (heard = resolve));
    const silent = link.nats.nc.subscribe(link.names.subjects.breakerProbe, { callback: () => heard() });
    cleanups.push(() => silent.unsubscribe());
    const g = createClusterGate({
      workerId: 'w-abort',
      names: link.names,
      request: (subject, data, opts) => link.nats.nc.request(subject, data, opts),
      publishDurably: async (subject, data, msgID) => void (await link.nats.js.publish(subject, data, { msgID })),
      requestTimeoutMs: 60_000,
      admissionWaitMs: 600_000,
      cooldownMs: 60_000,
      logger,
    });
    const controller = new AbortController();
    const call = client(g).call({ agentId: 'Prog-001', primary: PAID, request: { ...request, signal: controller.signal } });
    await asked;
    controller.abort(new Error('task cancelled'));
    const err = await failure(settled(call, 'the cancelled call', 10_000));
    expect(err.code).toBe('PAS_ERR_TASK_CANCELLED');
    await g.drain(5_000);
    expect(openai.requests).toHaveLength(0);
    // Only the given-back admission is reported: no spend, no failure against the breaker.
    const reports = await link.nats.jsm.streams.info(link.names.resultStream, { subjects_filter: `${link.names.subjects.spend('w-abort')}` });
    expect(reports.state.subjects?.[link.names.subjects.spend('w-abort')] ?? 0).toBe(0);
    const outcome = await link.nats.jsm.streams.getMessage(link.names.resultStream, { last_by_subj: link.names.subjects.breakerOutcome('w-abort') });
    expect(decodeMessage('pas.v1.breaker', outcome!.data)).toMatchObject({ op: 'outcome', model: PAID, ok: false, abandoned: true });
  });

  // Last: it restarts the broker under the shared link.
  it('keeps a report published while the broker is down and stores it once the broker is back', async () => {
    central(5).serve();
    const g = gate(undefined, 500, true);
    const ticket = await g.admitCall(PAID, { agentId: 'Prog-001', jobId: 'job-2' });
    await server.kill9();
    ticket.finish('success', { usage: { input: 10, output: 5 }, costUsd: 0.5 });
    // Down for longer than one publish waits for its acknowledgement (request_timeout_ms).
    await new Promise((r) => setTimeout(r, 1_500));
    await server.restart();
    await g.drain(30_000);
    const stored = await link.nats.jsm.streams.getMessage(link.names.resultStream, { last_by_subj: link.names.subjects.spend('w1') });
    expect(decodeMessage('pas.v1.spend', stored!.data)).toMatchObject({ job_id: 'job-2', model: PAID, cost_usd: 0.5 });
  }, 60_000);

  it('leases a free model to two workers, and ends both leases when the shared breaker opens: neither calls the model again, both fail over, and a paid model is never leased', async () => {
    const { breakers, serve } = central(2, undefined, undefined, 60_000);
    serve();
    const asks = { w1: 0, w2: 0 };
    const workers = { w1: gate(() => void asks.w1++, 500, false, 'w1'), w2: gate(() => void asks.w2++, 500, false, 'w2') };
    for (const g of Object.values(workers)) cleanups.push(followRevokes(link.nats.nc, link.names, g, logger));
    // The first call of each worker asks and gets a lease; the next ones do not ask.
    for (const [id, g] of Object.entries(workers)) {
      for (let i = 0; i < 3; i++) expect(await client(g).call({ agentId: 'Prog-001', primary: FREE, request })).toMatchObject({ provider: 'ollama', usedBackup: false });
      expect(g.leased(FREE), id).toBe(true);
    }
    expect(asks).toEqual({ w1: 1, w2: 1 });
    expect(ollama.requests).toHaveLength(6);
    // A paid model is asked for per call (its budget is checked each time): no lease.
    await client(workers.w1).call({ agentId: 'Prog-001', primary: PAID, request });
    await client(workers.w1).call({ agentId: 'Prog-001', primary: PAID, request });
    expect(workers.w1.leased(PAID)).toBe(false);
    expect(asks.w1).toBe(3);

    // Failures reach the one central breaker (as reports or calls of the central process): it opens, both leases end.
    for (let i = 0; i < 2; i++) breakers.record(FREE, 'failure', false, { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'overloaded' });
    expect(breakers.state(FREE)).toBe('open');
    await waitUntil(() => !workers.w1.leased(FREE) && !workers.w2.leased(FREE), 'both leases revoked');
    for (const g of Object.values(workers)) {
      const answer = await client(g).call({ agentId: 'Prog-001', primary: FREE, backup: PAID_BACKUP, request });
      expect(answer).toMatchObject({ usedBackup: true, provider: 'openai' });
      expect(answer.attempts[0]).toMatchObject({ ref: FREE, ok: false, skipped: 'breaker_open' });
      expect(g.admit(FREE)).toBe('reject');
    }
    expect(ollama.requests).toHaveLength(6);
  });

  it('ends a lease granted before a central restart when the restarted central process\'s own calls open the breaker (no worker asked or reported since)', async () => {
    const before = central(2, undefined, undefined, 60_000);
    const stopBefore = before.serve();
    let asks = 0;
    const w1 = gate(() => void asks++, 500, false, 'w1');
    cleanups.push(followRevokes(link.nats.nc, link.names, w1, logger));
    expect(await client(w1).call({ agentId: 'Prog-001', primary: FREE, request })).toMatchObject({ provider: 'ollama' });
    expect(w1.leased(FREE)).toBe(true);
    // The central process restarts: a new authority and breaker registry that never heard of the lease.
    stopBefore();
    const after = central(2, undefined, undefined, 60_000);
    after.serve();
    // Only its own calls fail: the worker, holding its lease, neither asks nor reports.
    for (let i = 0; i < 2; i++) after.breakers.record(FREE, 'failure', false, { code: 'PAS_ERR_LLM_OVERLOADED', retryable: true, message: 'overloaded' });
    expect(after.breakers.state(FREE)).toBe('open');
    await waitUntil(() => !w1.leased(FREE), 'the lease from before the restart revoked');
    expect(asks).toBe(1);
    const answer = await client(w1).call({ agentId: 'Prog-001', primary: FREE, backup: PAID_BACKUP, request });
    expect(answer).toMatchObject({ usedBackup: true, provider: 'openai' });
    expect(ollama.requests).toHaveLength(1);
  });
});

async function waitUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
