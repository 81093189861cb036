/**
 * A model whose breaker is open says why: the breaker keeps its last failures' codes and
 * messages, a refused call names the cause that opened it, and PAS_ERR_LLM_ALL_FAILED carries
 * every model's cause. Real refused sockets and a missing API key, no mocks.
 */
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { modelsSchema } from '../../../src/config/schemas.ts';
import { breakerSettingsFrom, createLlmClient } from '../../../src/llm/llm-client.ts';
import { createMemorySpendStore } from '../../../src/llm/spend-store.ts';
import { BreakerRegistry } from '../../../src/runtime/breaker-registry.ts';
import { closedPort } from '../../support/fake-llm-server.ts';

const config = loadConfig('configs');
let registry: BreakerRegistry | undefined;
afterEach(() => registry?.stop());

async function setup() {
  const port = await closedPort();
  const providers = structuredClone(config.models.providers) as Record<string, Record<string, unknown>>;
  providers.ollama!.base_url = `http://127.0.0.1:${port}`;
  const clock = new SimulatedClock();
  clock.set(Date.parse('2026-01-01T00:00:00Z'));
  registry = new BreakerRegistry(breakerSettingsFrom(config.pool.failover.circuit_breaker), () => clock.now(), clock);
  const client = createLlmClient({
    models: modelsSchema.parse({ providers }),
    failover: { ...config.pool.failover, max_retries: 0 },
    costOptimization: config.pool.cost_optimization,
    breakers: registry,
    spend: createMemorySpendStore(),
    // No GEMINI_API_KEY: the backup fails with PAS_ERR_LLM_AUTH.
    env: {},
    now: () => clock.now(),
    sleep: async () => {},
  });
  return { client, registry, port };
}

const call = (client: ReturnType<typeof createLlmClient>) =>
  client.call({ agentId: 'Prog-001', primary: 'ollama/qwen2.5-coder:7b-instruct', backup: 'google/gemini-2.5-flash', request: { messages: [{ role: 'user', content: 'hi' }] } }).then(
    () => {
      throw new Error('expected a failure');
    },
    (err: { code: string; message: string; details?: { causes?: Array<{ code: string; message: string; details?: { cause?: string } }> } }) => err,
  );

describe('breaker failure causes', () => {
  it('keeps the last failures with their codes and messages, and a refused call names what opened the breaker', async () => {
    const { client, registry, port } = await setup();
    const threshold = config.pool.failover.circuit_breaker.failure_threshold;
    for (let i = 0; i < threshold; i++) await call(client);
    expect(registry.state('ollama/qwen2.5-coder:7b-instruct')).toBe('open');
    const recent = registry.recentFailures('ollama/qwen2.5-coder:7b-instruct');
    expect(recent).toHaveLength(threshold);
    expect(recent.every((f) => f.message.includes(`127.0.0.1:${port}`))).toBe(true);
    const gemini = registry.recentFailures('google/gemini-2.5-flash');
    expect(gemini.at(-1)).toMatchObject({ code: 'PAS_ERR_LLM_AUTH', message: 'google/gemini-2.5-flash: GEMINI_API_KEY is not set' });

    const refused = await call(client);
    expect(refused.code).toBe('PAS_ERR_LLM_ALL_FAILED');
    const [primary, backup] = refused.details!.causes!;
    expect(primary!.code).toBe('PAS_ERR_LLM_BREAKER_OPEN');
    expect(primary!.message).toMatch(new RegExp(`^ollama/qwen2.5-coder:7b-instruct: circuit breaker is open after PAS_ERR_LLM_\\w+: .*127\\.0\\.0\\.1:${port}.* \\(${threshold} of the last ${threshold} failures\\)$`));
    expect(backup!.message).toContain('GEMINI_API_KEY is not set');
    // The job's error message alone tells both causes.
    expect(refused.message).toContain(`ollama/qwen2.5-coder:7b-instruct: breaker open after PAS_ERR_LLM_`);
    expect(refused.message).toContain(`127.0.0.1:${port}`);
    expect(refused.message).toContain('GEMINI_API_KEY is not set');
  });

  it('forgets the causes once the breaker closes again', async () => {
    const { registry } = await setup();
    const ref = 'ollama/qwen2.5-coder:7b-instruct';
    for (let i = 0; i < config.pool.failover.circuit_breaker.failure_threshold; i++) {
      registry.record(ref, 'failure', false, { code: 'PAS_ERR_LLM_SERVER', retryable: true, message: `${ref}: 503 #${i}` });
    }
    expect(registry.recentFailures(ref).map((f) => f.message)).toEqual([`${ref}: 503 #0`, `${ref}: 503 #1`, `${ref}: 503 #2`]);
    registry.get(ref).send({ type: 'breaker.reset' });
    expect(registry.recentFailures(ref)).toEqual([]);
    expect(registry.get(ref).getSnapshot().context.recentErrors).toEqual([]);
  });
});
