/**
 * `pas worker`'s own LLM gateway, in process: a loopback server with only the `/llm/...` routes,
 * built from the worker's breakers and spend store. It forwards with the keys of the environment
 * it was given (the worker host's), books each priced call in that spend store and refuses paid
 * calls once it holds the day's budget; offline it answers with the scripted model over the wire;
 * it refuses a request naming another host; once closed its port is free and no task can open.
 * With the cluster gate two workers' gateways share one half-open probe and one job budget, and
 * each call's spend is booked once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createClusterGate } from '../../../src/distribution/cluster-gate.ts';
import { createClusterLlmAuthority, reportPrefixes } from '../../../src/distribution/cluster-llm-authority.ts';
import { decodeMessage, encodeMessage } from '../../../src/distribution/messages.ts';
import { distributionNames } from '../../../src/distribution/names.ts';
import { startWorkerLlmGateway, type WorkerLlmGateway } from '../../../src/distribution/worker-llm-gateway.ts';
import { openJournal, type Journal } from '../../../src/journal/journal.ts';
import type { TaskLlmAccess } from '../../../src/llm/gateway/llm-gateway.ts';
import { createMoneyPolicy } from '../../../src/llm/money-policy.ts';
import { breakerSettingsFrom, createMemorySpendStore, utcDay } from '../../../src/llm/index.ts';
import { createOfflineAdapter } from '../../../src/llm/providers/offline-adapter.ts';
import { BreakerRegistry } from '../../../src/runtime/breaker-registry.ts';
import { startFakeProvider, type FakeBehaviour, type FakeProvider } from '../../support/fake-llm-server.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { slowUpload } from '../../support/slow-upload.ts';

const WORKER_KEY = 'sk-ant-this-worker-host-only-7c21';

let cfg: TempConfig | undefined;
let fake: FakeProvider | undefined;
let wg: WorkerLlmGateway | undefined;
let breakers: BreakerRegistry | undefined;
afterEach(async () => {
  await wg?.close();
  breakers?.stop();
  await fake?.close();
  cfg?.cleanup();
  cfg = fake = wg = breakers = undefined;
});

async function start(options: { offline?: boolean; maxDailySpendUsd?: number; llmBodyLimitBytes?: number } = {}) {
  fake = await startFakeProvider({ kind: 'anthropic' });
  cfg = tempConfig('pas-worker-gw-');
  cfg.edit('models.yaml', (doc) => doc.setIn(['providers', 'anthropic', 'base_url'], fake!.url));
  if (options.llmBodyLimitBytes !== undefined) cfg.edit('pas.yaml', (doc) => doc.setIn(['gateway', 'llm_body_limit_bytes'], options.llmBodyLimitBytes));
  if (options.maxDailySpendUsd !== undefined) cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['cost_optimization', 'max_daily_spend_usd'], options.maxDailySpendUsd));
  const config = loadConfig(cfg.dir);
  breakers = new BreakerRegistry(breakerSettingsFrom(config.pool.failover.circuit_breaker));
  const spend = createMemorySpendStore();
  wg = await startWorkerLlmGateway({
    config,
    breakers,
    spend,
    logger: pino({ level: 'silent' }),
    env: { ANTHROPIC_API_KEY: WORKER_KEY },
    ...(options.offline ? { scripted: createOfflineAdapter(config.models, config.dir) } : {}),
  });
  const access = wg.gateway.openTask({ jobId: 'job-1', taskId: 'task-1', programmerId: 'Prog-011', models: ['anthropic/claude-sonnet-4'] }, 60_000);
  const call = () => callModel(access);
  return { access, spend, call };
}

/** One Anthropic Messages call of a task, with its credential. */
function callModel(access: TaskLlmAccess, signal?: AbortSignal): Promise<Response> {
  return fetch(`${access.baseUrl('anthropic')}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': access.credential, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] }),
    ...(signal ? { signal } : {}),
  });
}

function statusWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/llm/anthropic/v1/messages`, { method: 'POST', headers: { host, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end('{}');
  });
}

describe('pas worker\'s loopback LLM gateway', () => {
  it('answers a body over llm_body_limit_bytes with its 413, whole, while the caller is still sending (no reset), and calls no provider', async () => {
    await start({ llmBodyLimitBytes: 4096 });
    const half = 256 * 1024;
    const answer = await slowUpload(Number(new URL(wg!.url).port), '/llm/anthropic/v1/messages', 2 * half, half);
    expect(answer.error, answer.text).toBeUndefined();
    expect(answer.status, answer.text).toBe(413);
    expect(fake!.requests).toHaveLength(0);
  });

  it('forwards a task\'s call with the worker host\'s own key, measures it for the task and books its price in the worker\'s spend store', async () => {
    const { access, spend, call } = await start();
    expect(wg!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(access.baseUrl('anthropic')).toBe(`${wg!.url}/llm/anthropic`);
    const res = await call();
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(fake!.requests).toHaveLength(1);
    expect(fake!.requests[0]!.headers['x-api-key']).toBe(WORKER_KEY);
    const spent = access.spent();
    expect(spent).toMatchObject({ calls: 1, provider: 'anthropic', model: 'claude-sonnet-4' });
    expect(spent!.tokens.input).toBeGreaterThan(0);
    expect(spent!.costUsd).toBeGreaterThan(0);
    wg!.gateway.stop(); // flushes the batched spend
    expect(spend.spent(utcDay(Date.now()))).toBeCloseTo(spent!.costUsd, 9);
  });

  it('refuses a paid call once the worker\'s spend store holds the day\'s budget, and the provider is not called', async () => {
    const { access, spend, call } = await start({ maxDailySpendUsd: 0.5 });
    spend.add(utcDay(Date.now()), 0.5);
    const res = await call();
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(fake!.requests).toHaveLength(0);
    expect(access.budgetRefusal()).toMatchObject({ code: 'PAS_ERR_BUDGET_EXHAUSTED', details: { scope: 'day', limitUsd: 0.5 } });
  });

  it('answers offline with the scripted model in the caller\'s wire format and calls no provider', async () => {
    const { access, call } = await start({ offline: true });
    const res = await call();
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: 'message', role: 'assistant' });
    expect(fake!.requests).toHaveLength(0);
    expect(access.spent()).toMatchObject({ calls: 1, costUsd: 0 });
  });

  it('refuses a request that names another host, and once closed frees its port and opens no task', async () => {
    await start();
    const url = wg!.url;
    expect(await statusWithHost(url, 'evil.example:80')).toBe(403);
    await wg!.close();
    await expect(fetch(`${url}/llm/anthropic`, { method: 'HEAD' })).rejects.toThrow();
    expect(() => wg!.gateway.openTask({ jobId: 'j', taskId: 't', programmerId: 'Prog-011', models: ['anthropic/claude-sonnet-4'] }, 1_000)).toThrow(/not listening/);
  });
});

/**
 * Two workers' gateways and the central authority in one process: each worker's real cluster
 * gate asks a real authority (over a real breaker registry, money policy, SQLite journal and a
 * job ledger) by calling it directly where NATS would carry the request and the reports.
 */
describe('worker gateways share the cluster\'s breakers and budgets', () => {
  const REF = 'anthropic/claude-sonnet-4';
  const COOLDOWN_MS = 60_000;
  const names = distributionNames('unit');
  let dir: string | undefined;
  let journal: Journal | undefined;
  let central: BreakerRegistry | undefined;
  const workers: WorkerLlmGateway[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.close();
    central?.stop();
    journal?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = journal = central = undefined;
  });

  async function cluster(options: { script?: FakeBehaviour[]; jobLimitUsd?: number; beforeAnswer?: () => Promise<void> } = {}) {
    fake = await startFakeProvider({ kind: 'anthropic', ...(options.script ? { script: options.script } : {}) });
    cfg = tempConfig('pas-worker-gw-');
    cfg.edit('models.yaml', (doc) => doc.setIn(['providers', 'anthropic', 'base_url'], fake!.url));
    const config = loadConfig(cfg.dir);
    dir = mkdtempSync(path.join(os.tmpdir(), 'pas-worker-gw-central-'));
    journal = openJournal(path.join(dir, 'pas.db'));
    const clock = new SimulatedClock();
    clock.set(Date.now());
    central = new BreakerRegistry({ enabled: true, failureThreshold: 2, windowMs: 5 * 60_000, cooldownMs: COOLDOWN_MS }, () => clock.now(), clock);
    const money = createMoneyPolicy({ models: config.models, costOptimization: config.pool.cost_optimization, spend: journal.spendStore() });
    const jobSpend = new Map<string, number>();
    const authority = createClusterLlmAuthority({ logger: pino({ level: 'silent' }), ...reportPrefixes(names) });
    authority.bind({
      breakers: central,
      money,
      journal,
      jobBudget: { limit: () => options.jobLimitUsd, spent: (jobId) => jobSpend.get(jobId) ?? 0, add: (jobId, usd) => void jobSpend.set(jobId, (jobSpend.get(jobId) ?? 0) + usd) },
    });
    const worker = async (workerId: string) => {
      const gate = createClusterGate({
        workerId,
        names,
        request: async (_subject, data) => {
          const ask = decodeMessage('pas.v1.breaker', data);
          if (ask.op !== 'probe') throw new Error('an outcome sent as a request');
          await options.beforeAnswer?.();
          return { data: encodeMessage('pas.v1.breaker_reply', authority.answer(ask)) };
        },
        publishDurably: async (subject, data) => authority.take({ subject, data, ack: () => undefined, nak: () => undefined, term: () => undefined }),
        requestTimeoutMs: 200,
        admissionWaitMs: 500,
        cooldownMs: COOLDOWN_MS,
        logger: pino({ level: 'silent' }),
      });
      const w = await startWorkerLlmGateway({ config, breakers: gate, spend: gate.spendStore, logger: pino({ level: 'silent' }), env: { ANTHROPIC_API_KEY: WORKER_KEY } });
      workers.push(w);
      let task = 0;
      const open = () => w.gateway.openTask({ jobId: 'job-1', taskId: `${workerId}-task-${++task}`, programmerId: 'Prog-011', models: [REF] }, 60_000);
      return { gate, gateway: w.gateway, open, call: callModel };
    };
    return { a: await worker('wA'), b: await worker('wB'), clock, jobSpend, daySpent: () => journal!.spendStore().spent(utcDay(Date.now())) };
  }

  it('lets exactly one probe reach the provider while the shared breaker is half-open, and frees it when its caller hangs up', async () => {
    const { a, b, clock } = await cluster({ script: ['hang'] });
    const overloaded = { code: 'PAS_ERR_LLM_OVERLOADED' as const, retryable: true, message: 'overloaded' };
    central!.record(REF, 'failure', false, overloaded);
    central!.record(REF, 'failure', false, overloaded);
    clock.increment(COOLDOWN_MS);
    expect(central!.state(REF)).toBe('halfOpen');

    const hangingUp = new AbortController();
    const probe = a.call(a.open(), hangingUp.signal).catch((err: unknown) => err);
    await vi.waitFor(() => expect(fake!.requests).toHaveLength(1));
    const second = await b.call(b.open());
    expect(second.status).not.toBe(200);
    expect(JSON.stringify(await second.json())).toContain('circuit breaker is halfOpen');
    expect(fake!.requests).toHaveLength(1);

    // The probe's caller goes away: the probe is given back and the next caller may probe.
    hangingUp.abort();
    await probe;
    const third = await vi.waitFor(async () => {
      const res = await b.call(b.open());
      expect(res.status).toBe(200);
      return res;
    });
    await third.arrayBuffer();
    expect(fake!.requests).toHaveLength(2);
    await vi.waitFor(() => expect(central!.state(REF)).toBe('closed'));
  });

  it('makes no call whose task ended while it waited for admission, and gives its half-open probe back', async () => {
    let asked = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { a, b, clock } = await cluster({ beforeAnswer: () => (++asked === 1 ? held : Promise.resolve()) });
    const overloaded = { code: 'PAS_ERR_LLM_OVERLOADED' as const, retryable: true, message: 'overloaded' };
    central!.record(REF, 'failure', false, overloaded);
    central!.record(REF, 'failure', false, overloaded);
    clock.increment(COOLDOWN_MS);

    const access = a.open();
    const waiting = a.call(access);
    await vi.waitFor(() => expect(asked).toBe(1));
    access.revoke();
    release();
    const res = await waiting;
    expect(res.status).toBe(401);
    expect(fake!.requests).toHaveLength(0);
    // The probe it was admitted as is free again: the next caller probes and closes the breaker.
    const next = await b.call(b.open());
    expect(next.status).toBe(200);
    await next.arrayBuffer();
    expect(fake!.requests).toHaveLength(1);
    await vi.waitFor(() => expect(central!.state(REF)).toBe('closed'));
  });

  it('refuses a paid call through one worker once the job\'s budget was spent by calls through another', async () => {
    const { a, b, jobSpend } = await cluster({ jobLimitUsd: 0.000001 });
    const first = await a.call(a.open());
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    await vi.waitFor(() => expect(jobSpend.get('job-1')).toBeGreaterThan(0));

    const access = b.open();
    const refused = await b.call(access);
    expect(refused.status).toBe(400);
    expect(JSON.stringify(await refused.json())).toContain('PAS_ERR_BUDGET_EXHAUSTED');
    expect(fake!.requests).toHaveLength(1);
    expect(access.budgetRefusal()).toMatchObject({ code: 'PAS_ERR_BUDGET_EXHAUSTED', details: { scope: 'job', jobId: 'job-1' } });
  });

  it('books each call\'s spend once in the cluster, for the day and for its job', async () => {
    const { a, jobSpend, daySpent } = await cluster();
    const access = a.open();
    const res = await a.call(access);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const cost = access.spent()!.costUsd;
    expect(cost).toBeGreaterThan(0);
    // Everything the worker holds back is written and reported.
    a.gateway.stop();
    await a.gate.drain(1_000);
    await vi.waitFor(() => expect(jobSpend.get('job-1')).toBeCloseTo(cost, 9));
    expect(daySpent()).toBeCloseTo(cost, 9);
    expect(a.gate.spendStore.spent(utcDay(Date.now()))).toBeCloseTo(cost, 9);
  });
});
