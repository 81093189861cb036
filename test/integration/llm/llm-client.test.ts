import { Writable } from 'node:stream';
import pino from 'pino';
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { modelsSchema, type ModelsConfigFile } from '../../../src/config/schemas.ts';
import { breakerSettingsFrom, createLlmClient, type LlmClientOptions } from '../../../src/llm/llm-client.ts';
import { createScriptedAdapter } from '../../../src/llm/providers/scripted-adapter.ts';
import { redactingLoggerOptions } from '../../../src/redaction.ts';
import { createMemorySpendStore, utcDay } from '../../../src/llm/spend-store.ts';
import type { ChatRequest, LlmCallResult } from '../../../src/llm/types.ts';
import { BreakerRegistry } from '../../../src/runtime/breaker-registry.ts';
import { closedPort, startFakeProvider, type FakeBehaviour, type FakeProvider } from '../../support/fake-llm-server.ts';
import type { FakeKind, FixtureUsage } from '../../support/provider-fixtures.ts';
import { failure } from '../../support/pas-failure.ts';

const shipped = loadConfig('configs');
/**
 * The shipped configs with the failover timing these tests were written against pinned (retry
 * 1 s, breaker window 5 min, cooldown 2 min), so the shipped defaults can change without
 * changing what each test means.
 */
const config = {
  ...shipped,
  pool: {
    ...shipped.pool,
    failover: { ...shipped.pool.failover, retry_delay_s: 1, circuit_breaker: { ...shipped.pool.failover.circuit_breaker, window_minutes: 5, cooldown_minutes: 2 } },
  },
} as typeof shipped;
const FAKE_KEYS = { OPENAI_API_KEY: 'sk-proj-FAKE-openai-key-1234567890', ANTHROPIC_API_KEY: 'sk-ant-FAKE-anthropic-key-123456', GEMINI_API_KEY: 'AIzaFAKE-gemini-key-1234567890' };
const T0 = Date.parse('2025-03-01T12:00:00Z');
const MINUTE = 60_000;

let servers: FakeProvider[] = [];
let registries: BreakerRegistry[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const r of registries) r.stop();
  servers = [];
  registries = [];
});

async function serve(kind: FakeKind, script: FakeBehaviour[] = [], usage?: FixtureUsage): Promise<FakeProvider> {
  const server = await startFakeProvider({ kind, script, ...(usage ? { usage } : {}) });
  servers.push(server);
  return server;
}

/** models.yaml as shipped, with providers pointed at fake servers (and an optional timeout). */
function models(urls: Partial<Record<FakeKind, string>>, timeout_s?: number): ModelsConfigFile {
  const providers = structuredClone(config.models.providers) as Record<string, Record<string, unknown>>;
  for (const [kind, url] of Object.entries(urls)) {
    providers[kind]!.base_url = url;
    if (timeout_s !== undefined) providers[kind]!.timeout_s = timeout_s;
  }
  return modelsSchema.parse({ providers });
}

interface Harness {
  clock: SimulatedClock;
  breakers: BreakerRegistry;
  spend: ReturnType<typeof createMemorySpendStore>;
  sleeps: number[];
  client: ReturnType<typeof createLlmClient>;
}

function harness(overrides: Partial<LlmClientOptions> & { models: ModelsConfigFile }): Harness {
  const clock = new SimulatedClock();
  clock.set(T0);
  const now = () => clock.now();
  const breakers = new BreakerRegistry(breakerSettingsFrom(config.pool.failover.circuit_breaker), now, clock);
  registries.push(breakers);
  const spend = createMemorySpendStore();
  const sleeps: number[] = [];
  const client = createLlmClient({
    failover: config.pool.failover,
    costOptimization: config.pool.cost_optimization,
    breakers,
    spend,
    env: FAKE_KEYS,
    now,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...overrides,
  });
  return { clock, breakers, spend, sleeps, client };
}

const ask = (extra: Partial<ChatRequest> = {}): ChatRequest => ({ messages: [{ role: 'user', content: 'Write hello.ts' }], ...extra });


describe('createLlmClient', () => {
  it('answers from the primary and prices the call from models.yaml to 6 decimals', async () => {
    const openai = await serve('openai', [], { input: 1234, output: 567, cacheRead: 200, thinking: 0 });
    const h = harness({ models: models({ openai: openai.url }) });
    const res = await h.client.call({ agentId: 'Prog-008', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', request: ask() });
    expect(res).toMatchObject({ ref: 'openai/gpt-4o', provider: 'openai', model: 'gpt-4o', usedBackup: false, attempts: [{ ref: 'openai/gpt-4o', ok: true }] });
    // (1234-200)·2.5 + 200·1.25 + 567·10 per million
    expect(res.costUsd).toBe(0.008505);
    expect(h.spend.spent(utcDay(T0))).toBe(0.008505);
  });

  it('prices Anthropic cache reads and writes and Gemini thinking as output', async () => {
    const anthropic = await serve('anthropic', [], { input: 1000, output: 500, cacheRead: 2000, cacheWrite: 100 });
    const google = await serve('google', [], { input: 1000, output: 100, thinking: 50, cacheRead: 400 });
    const h = harness({ models: models({ anthropic: anthropic.url, google: google.url }) });
    const a = await h.client.call({ agentId: 'Prog-006', primary: 'anthropic/claude-sonnet-4', request: ask() });
    expect(a.costUsd).toBe(0.011475);
    const g = await h.client.call({ agentId: 'Mgr-Code-01', primary: 'google/gemini-2.5-flash', request: ask() });
    expect(g.usage).toEqual({ input: 1000, output: 100, thinking: 50, cache_read: 400 });
    expect(g.costUsd).toBe(0.000585);
  });

  it('rounds a tiny cost to 6 decimals', async () => {
    const openai = await serve('openai', [], { input: 7, output: 3 });
    const h = harness({ models: models({ openai: openai.url }) });
    const res = await h.client.call({ agentId: 'Prog-008', primary: 'openai/gpt-4o-mini', request: ask() });
    expect(res.costUsd).toBe(0.000003);
  });

  it('retries a 429 after its retry-after when that is longer than retry_delay_s', async () => {
    const anthropic = await serve('anthropic', [{ error: 'rate_limited' }]);
    const h = harness({ models: models({ anthropic: anthropic.url }) });
    const res = await h.client.call({ agentId: 'Prog-006', primary: 'anthropic/claude-sonnet-4', backup: 'anthropic/claude-3-7-sonnet', request: ask() });
    expect(h.sleeps).toEqual([3000]);
    expect(res.usedBackup).toBe(false);
    expect(res.attempts.map((a) => [a.ok, a.error?.code])).toEqual([
      [false, 'PAS_ERR_LLM_RATE_LIMITED'],
      [true, undefined],
    ]);
    expect(anthropic.requests).toHaveLength(2);
    expect(h.breakers.failures('anthropic/claude-sonnet-4')).toBe(1);
  });

  it('retries a 500 after retry_delay_s and succeeds on the same model', async () => {
    const ollama = await serve('ollama', [{ error: 'server' }]);
    const h = harness({ models: models({ ollama: ollama.url }) });
    const res = await h.client.call({ agentId: 'Prog-001', primary: 'ollama/qwen2.5-coder:7b-instruct', request: ask() });
    expect(h.sleeps).toEqual([1000]);
    expect(res.costUsd).toBe(0);
    expect(res.usage).toEqual({ input: 26, output: 11 });
  });

  it('fails over to the backup after max_retries 529s, which also opens the primary breaker', async () => {
    const anthropic = await serve('anthropic', [{ error: 'overloaded' }, { error: 'overloaded' }, { error: 'overloaded' }]);
    const h = harness({ models: models({ anthropic: anthropic.url }) });
    const res = await h.client.call({ agentId: 'Prog-006', primary: 'anthropic/claude-sonnet-4', backup: 'anthropic/claude-3-7-sonnet', request: ask() });
    expect(res).toMatchObject({ ref: 'anthropic/claude-3-7-sonnet', model: 'claude-3-7-sonnet', usedBackup: true });
    expect(h.sleeps).toEqual([1000, 1000]);
    expect(res.attempts.filter((a) => a.error?.code === 'PAS_ERR_LLM_OVERLOADED')).toHaveLength(3);
    expect((anthropic.requests.map((r) => (r.body as { model: string }).model))).toEqual(['claude-sonnet-4', 'claude-sonnet-4', 'claude-sonnet-4', 'claude-3-7-sonnet']);
    expect(h.breakers.state('anthropic/claude-sonnet-4')).toBe('open');
    expect(h.breakers.state('anthropic/claude-3-7-sonnet')).toBe('closed');
  });

  it('skips a model whose breaker is open without sending to it', async () => {
    const ollama = await serve('ollama');
    const h = harness({ models: models({ ollama: ollama.url }) });
    for (let i = 0; i < 3; i++) h.breakers.record('ollama/qwen2.5-coder:7b-instruct', 'failure', false);
    const res = await h.client.call({ agentId: 'Prog-001', primary: 'ollama/qwen2.5-coder:7b-instruct', backup: 'ollama/qwen2.5-coder:14b-instruct', request: ask() });
    expect(res.usedBackup).toBe(true);
    expect(res.attempts[0]).toMatchObject({ ref: 'ollama/qwen2.5-coder:7b-instruct', ok: false, skipped: 'breaker_open', error: { code: 'PAS_ERR_LLM_BREAKER_OPEN' } });
    expect(ollama.requests.map((r) => (r.body as { model: string }).model)).toEqual(['qwen2.5-coder:14b-instruct']);
  });

  it('opens the breaker at failure_threshold inside window_minutes but not across it', async () => {
    const ollama = await serve('ollama', Array.from({ length: 5 }, () => ({ error: 'server' as const })));
    const h = harness({ models: models({ ollama: ollama.url }), failover: { ...config.pool.failover, max_retries: 0 } });
    const ref = 'ollama/qwen2.5-coder:7b-instruct';
    const call = () => failure(h.client.call({ agentId: 'Prog-001', primary: ref, request: ask() }));
    await call();
    await call();
    h.clock.increment(6 * MINUTE); // both failures leave the 5-minute window
    await call();
    await call();
    expect(h.breakers.state(ref)).toBe('closed');
    expect(h.breakers.failures(ref)).toBe(2);
    h.clock.increment(MINUTE);
    await call(); // third failure inside the window
    expect(h.breakers.state(ref)).toBe('open');
    expect(ollama.requests).toHaveLength(5);
    const refused = await call();
    expect((refused.details.causes as { code: string }[])[0]!.code).toBe('PAS_ERR_LLM_BREAKER_OPEN');
    expect(refused.retryable).toBe(true);
    expect(ollama.requests).toHaveLength(5);
  });

  it('sends one probe after cooldown_minutes and closes the breaker when it succeeds', async () => {
    const ollama = await serve('ollama');
    const seen: { outcome: string; probe: boolean }[] = [];
    const h = harness({ models: models({ ollama: ollama.url }) });
    const ref = 'ollama/qwen2.5-coder:7b-instruct';
    for (let i = 0; i < 3; i++) h.breakers.record(ref, 'failure', false);
    expect(h.breakers.state(ref)).toBe('open');
    h.clock.increment(2 * MINUTE);
    expect(h.breakers.state(ref)).toBe('halfOpen');
    const gate = {
      admit: (r: string) => h.breakers.admit(r),
      record: (r: string, outcome: 'success' | 'failure', probe: boolean) => {
        seen.push({ outcome, probe });
        h.breakers.record(r, outcome, probe);
      },
      state: (r: string) => h.breakers.state(r),
      failures: (r: string) => h.breakers.failures(r),
      abandonProbe: (r: string) => h.breakers.abandonProbe(r),
    };
    const client = createLlmClient({ models: models({ ollama: ollama.url }), failover: config.pool.failover, costOptimization: config.pool.cost_optimization, breakers: gate, spend: h.spend, now: () => h.clock.now(), sleep: async () => {} });
    const res = await client.call({ agentId: 'Prog-001', primary: ref, request: ask() });
    expect(res.usedBackup).toBe(false);
    expect(seen).toEqual([{ outcome: 'success', probe: true }]);
    expect(h.breakers.state(ref)).toBe('closed');
  });

  it('reopens the breaker when the probe fails and goes to the backup', async () => {
    const ollama = await serve('ollama', [{ error: 'server' }]);
    const h = harness({ models: models({ ollama: ollama.url }) });
    const ref = 'ollama/qwen2.5-coder:7b-instruct';
    for (let i = 0; i < 3; i++) h.breakers.record(ref, 'failure', false);
    h.clock.increment(2 * MINUTE);
    const res = await h.client.call({ agentId: 'Prog-001', primary: ref, backup: 'ollama/qwen2.5-coder:14b-instruct', request: ask() });
    expect(h.breakers.state(ref)).toBe('open');
    expect(res.usedBackup).toBe(true);
    // The probe failed; the retry found the breaker open again and did not send.
    expect(res.attempts.map((a) => a.skipped ?? a.error?.code ?? 'ok')).toEqual(['PAS_ERR_LLM_SERVER', 'breaker_open', 'ok']);
    expect(ollama.requests).toHaveLength(2);
  });

  it('gives up on a hanging provider after timeout_s and fails over', async () => {
    const openai = await serve('openai', ['hang']);
    const h = harness({ models: models({ openai: openai.url }, 0.2), failover: { ...config.pool.failover, max_retries: 0 } });
    const res = await h.client.call({ agentId: 'Prog-008', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', request: ask() });
    expect(res.usedBackup).toBe(true);
    expect(res.attempts[0]!.error?.code).toBe('PAS_ERR_LLM_TIMEOUT');
    expect(h.breakers.failures('openai/gpt-4o')).toBe(1);
  });

  it('retries a refused connection, then fails over to a backup on another provider', async () => {
    const port = await closedPort();
    const google = await serve('google');
    const h = harness({ models: models({ anthropic: `http://127.0.0.1:${port}`, google: google.url }) });
    const res = await h.client.call({ agentId: 'Mgr-Code-01', primary: 'anthropic/claude-haiku-4', backup: 'google/gemini-2.5-flash', request: ask() });
    expect(res).toMatchObject({ ref: 'google/gemini-2.5-flash', provider: 'google', usedBackup: true });
    expect(res.attempts.slice(0, 3).map((a) => a.error?.code)).toEqual(['PAS_ERR_LLM_CONNECTION', 'PAS_ERR_LLM_CONNECTION', 'PAS_ERR_LLM_CONNECTION']);
    expect(h.sleeps).toEqual([1000, 1000]);
  });

  it('retries a malformed body as a retryable failure', async () => {
    const google = await serve('google', ['malformed']);
    const h = harness({ models: models({ google: google.url }) });
    const res = await h.client.call({ agentId: 'Mgr-Code-01', primary: 'google/gemini-2.5-flash', request: ask() });
    expect(res.attempts.map((a) => a.error?.code ?? 'ok')).toEqual(['PAS_ERR_LLM_MALFORMED', 'ok']);
  });

  it('fails the call without failover when the stream breaks after the first token', async () => {
    const openai = await serve('openai', ['midstream-error']);
    const h = harness({ models: models({ openai: openai.url }) });
    const tokens: string[] = [];
    const err = await failure(
      h.client.call({ agentId: 'Prog-008', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', request: ask({ stream: true, onToken: (t) => tokens.push(t) }) }),
    );
    expect(err.code).toBe('PAS_ERR_LLM_STREAM');
    expect(err.details.afterFirstToken).toBe(true);
    expect(tokens).toHaveLength(1);
    expect(openai.requests).toHaveLength(1);
    expect(h.sleeps).toEqual([]);
    expect(h.breakers.failures('openai/gpt-4o')).toBe(1);
  });

  it('fails over when the stream breaks before any token', async () => {
    const anthropic = await serve('anthropic', ['early-stream-error', 'early-stream-error', 'early-stream-error']);
    const h = harness({ models: models({ anthropic: anthropic.url }) });
    const tokens: string[] = [];
    const res = await h.client.call({ agentId: 'Prog-006', primary: 'anthropic/claude-sonnet-4', backup: 'anthropic/claude-3-7-sonnet', request: ask({ stream: true, onToken: (t) => tokens.push(t) }) });
    expect(res.usedBackup).toBe(true);
    expect(tokens.join('')).toBe(res.text);
  });

  it('does not retry a context-length error nor count it on the breaker, but tries the backup', async () => {
    const openai = await serve('openai', [{ error: 'context_length' }]);
    const h = harness({ models: models({ openai: openai.url }) });
    const res = await h.client.call({ agentId: 'Prog-008', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', request: ask() });
    expect(res.usedBackup).toBe(true);
    expect(h.sleeps).toEqual([]);
    expect(res.attempts[0]!.error?.code).toBe('PAS_ERR_LLM_CONTEXT_LENGTH');
    expect(h.breakers.failures('openai/gpt-4o')).toBe(0);
  });

  it('does not retry exhausted quota but counts it on the breaker', async () => {
    const openai = await serve('openai', [{ error: 'quota' }, { error: 'quota' }]);
    const h = harness({ models: models({ openai: openai.url }) });
    const err = await failure(h.client.call({ agentId: 'Prog-008', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', request: ask() }));
    expect(err.code).toBe('PAS_ERR_LLM_ALL_FAILED');
    expect(err.retryable).toBe(false);
    expect(h.sleeps).toEqual([]);
    expect(h.breakers.failures('openai/gpt-4o')).toBe(1);
    expect(h.breakers.failures('openai/gpt-4o-mini')).toBe(1);
  });

  it('reports PAS_ERR_LLM_ALL_FAILED with both causes when primary and backup fail', async () => {
    const ollama = await serve('ollama', Array.from({ length: 6 }, () => ({ error: 'server' as const })));
    const h = harness({ models: models({ ollama: ollama.url }) });
    const err = await failure(h.client.call({ agentId: 'Prog-009', primary: 'ollama/deepseek-coder-v3:14b', backup: 'ollama/deepseek-coder-v3:7b', request: ask() }));
    expect(err.code).toBe('PAS_ERR_LLM_ALL_FAILED');
    expect(err.retryable).toBe(true);
    const causes = err.details.causes as { code: string; details: { model: string } }[];
    expect(causes).toHaveLength(2);
    expect(causes.map((c) => [c.code, c.details.model])).toEqual([
      ['PAS_ERR_LLM_SERVER', 'deepseek-coder-v3:14b'],
      ['PAS_ERR_LLM_SERVER', 'deepseek-coder-v3:7b'],
    ]);
    expect(ollama.requests).toHaveLength(6);
  });

  it('refuses paid models once the daily budget is spent and still calls free ones', async () => {
    const openai = await serve('openai', [], { input: 1234, output: 567, cacheRead: 200 });
    const ollama = await serve('ollama');
    const h = harness({ models: models({ openai: openai.url, ollama: ollama.url }), costOptimization: { enabled: true, max_daily_spend_usd: 0.01 } });
    const paid = () => h.client.call({ agentId: 'Prog-008', primary: 'openai/gpt-4o', backup: 'ollama/qwen2.5-coder:7b-instruct', request: ask() });
    expect((await paid()).usedBackup).toBe(false); // 0.008505 spent
    expect((await paid()).usedBackup).toBe(false); // 0.01701 spent: over the limit now
    const third = await paid();
    expect(third).toMatchObject({ usedBackup: true, costUsd: 0, ref: 'ollama/qwen2.5-coder:7b-instruct' });
    expect(third.attempts[0]).toMatchObject({ ref: 'openai/gpt-4o', skipped: 'budget', error: { code: 'PAS_ERR_BUDGET_EXHAUSTED' } });
    expect(openai.requests).toHaveLength(2);
    const onlyPaid = await failure(h.client.call({ agentId: 'Prog-008', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', request: ask() }));
    expect(onlyPaid.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');
    expect(openai.requests).toHaveLength(2);
    // A new UTC day has a fresh budget.
    h.clock.increment(24 * 60 * MINUTE);
    expect((await paid()).usedBackup).toBe(false);
    expect(openai.requests).toHaveLength(3);
  });

  it('routes every model to the scripted adapter offline, keeping the configured model name at cost 0', async () => {
    const openai = await serve('openai');
    const scripted = createScriptedAdapter([{ match: { contains: 'hello.ts' }, reply: 'export const hello = 1;\n', usage: { input: 40, output: 9 } }]);
    const h = harness({ models: models({ openai: openai.url }), offline: true, adapters: { scripted } });
    const tokens: string[] = [];
    const res: LlmCallResult = await h.client.call({ agentId: 'Prog-008', primary: 'openai/gpt-4o', request: ask({ stream: true, onToken: (t) => tokens.push(t) }) });
    expect(res).toMatchObject({ ref: 'openai/gpt-4o', provider: 'scripted', model: 'gpt-4o', costUsd: 0, text: 'export const hello = 1;\n', usage: { input: 40, output: 9 } });
    expect(tokens.join('')).toBe(res.text);
    expect(openai.requests).toHaveLength(0);
    expect(h.spend.spent(utcDay(T0))).toBe(0);
  });

  it('fails with PAS_ERR_LLM_CASSETTE naming the prompt when no cassette entry matches', async () => {
    const scripted = createScriptedAdapter([{ match: { contains: 'nothing like this' }, reply: 'x' }]);
    const h = harness({ models: models({}), offline: true, adapters: { scripted } });
    const err = await failure(h.client.call({ agentId: 'Prog-001', primary: 'ollama/qwen2.5-coder:7b-instruct', request: ask() }));
    expect(err.code).toBe('PAS_ERR_LLM_ALL_FAILED');
    const cause = (err.details.causes as { code: string; message: string }[])[0]!;
    expect(cause.code).toBe('PAS_ERR_LLM_CASSETTE');
    expect(cause.message).toContain('Write hello.ts');
  });

  it('never writes a fake API key into error messages or logs', async () => {
    const openai = await serve('openai', [{ error: 'auth' }, { error: 'auth' }]);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ level: 'trace', ...redactingLoggerOptions(FAKE_KEYS) }, sink);
    const h = harness({ models: models({ openai: openai.url }), logger });
    const err = await failure(h.client.call({ agentId: 'Prog-008', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', request: ask() }));
    expect(err.code).toBe('PAS_ERR_LLM_ALL_FAILED');
    // The fake server did echo the key back.
    expect(openai.requests[0]!.headers.authorization).toBe(`Bearer ${FAKE_KEYS.OPENAI_API_KEY}`);
    logger.info({ headers: { authorization: `Bearer ${FAKE_KEYS.OPENAI_API_KEY}`, 'x-api-key': FAKE_KEYS.ANTHROPIC_API_KEY } }, 'request');
    logger.info(`key is ${FAKE_KEYS.GEMINI_API_KEY}`);
    const everything = [err.message, JSON.stringify(err.details), ...lines].join('\n');
    expect(lines.length).toBeGreaterThan(2);
    expect(everything).toContain('[REDACTED]');
    for (const key of Object.values(FAKE_KEYS)) expect(everything).not.toContain(key);
  });
});
