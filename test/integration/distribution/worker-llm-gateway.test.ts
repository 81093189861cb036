/**
 * `pas worker`'s own LLM gateway, in process: a loopback server with only the `/llm/...` routes,
 * built from the worker's breakers and spend store. It forwards with the keys of the environment
 * it was given (the worker host's), books each priced call in that spend store and refuses paid
 * calls once it holds the day's budget; offline it answers with the scripted model over the wire;
 * it refuses a request naming another host; once closed its port is free and no task can open.
 */
import { request } from 'node:http';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { startWorkerLlmGateway, type WorkerLlmGateway } from '../../../src/distribution/worker-llm-gateway.ts';
import { breakerSettingsFrom, createMemorySpendStore, utcDay } from '../../../src/llm/index.ts';
import { createOfflineAdapter } from '../../../src/llm/providers/offline-adapter.ts';
import { BreakerRegistry } from '../../../src/runtime/breaker-registry.ts';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';

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

async function start(options: { offline?: boolean; maxDailySpendUsd?: number } = {}) {
  fake = await startFakeProvider({ kind: 'anthropic' });
  cfg = tempConfig('pas-worker-gw-');
  cfg.edit('models.yaml', (doc) => doc.setIn(['providers', 'anthropic', 'base_url'], fake!.url));
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
  const call = () =>
    fetch(`${access.baseUrl('anthropic')}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': access.credential, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] }),
    });
  return { access, spend, call };
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
