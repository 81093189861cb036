/**
 * In-process calls (the native editor, plans) obey a job's `max_job_spend_usd` like the calls of
 * programs behind the LLM gateway: the same per-job total, checked before every paid call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { modelsSchema } from '../../../src/config/schemas.ts';
import { CallLedger } from '../../../src/llm/gateway/call-ledger.ts';
import { breakerSettingsFrom, createLlmClient } from '../../../src/llm/llm-client.ts';
import { createMemorySpendStore } from '../../../src/llm/spend-store.ts';
import { BreakerRegistry } from '../../../src/runtime/breaker-registry.ts';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { failure } from '../../support/pas-failure.ts';

const config = loadConfig('configs');
let server: FakeProvider | undefined;
let breakers: BreakerRegistry | undefined;
afterEach(async () => {
  await server?.close();
  breakers?.stop();
});

describe('LLM client: a job budget', () => {
  it('refuses the next paid call of a job once the job has spent its budget, and counts its calls in the shared ledger', async () => {
    server = await startFakeProvider({ kind: 'anthropic', usage: { input: 1000, output: 100 } });
    const providers = structuredClone(config.models.providers) as Record<string, Record<string, unknown>>;
    providers.anthropic!.base_url = server.url;
    breakers = new BreakerRegistry(breakerSettingsFrom(config.pool.failover.circuit_breaker));
    const ledger = new CallLedger();
    const limits: Record<string, number> = { 'job-a': 0.004 };
    const client = createLlmClient({
      models: modelsSchema.parse({ providers }),
      failover: config.pool.failover,
      costOptimization: config.pool.cost_optimization,
      breakers,
      spend: createMemorySpendStore(),
      env: { ANTHROPIC_API_KEY: 'sk-ant-test' },
      jobBudget: { limit: (j) => limits[j], spent: (j) => ledger.jobSpent(j), add: (j, usd) => ledger.addJobSpend(j, usd) },
    });
    const call = (jobId: string) =>
      client.call({ agentId: 'Prog-006', primary: 'anthropic/claude-sonnet-4', request: { messages: [{ role: 'user', content: 'edit' }], meta: { jobId, taskId: 't' } } });
    // 1000 in / 100 out at $3 / $15 per million: 0.0045 USD a call.
    await call('job-a');
    expect(ledger.jobSpent('job-a')).toBeCloseTo(0.0045, 9);
    const refused = await failure(call('job-a'));
    expect(refused).toMatchObject({ code: 'PAS_ERR_BUDGET_EXHAUSTED', details: { causes: [{ details: { scope: 'job', jobId: 'job-a' } }] } });
    expect(server.requests).toHaveLength(1);
    // Another job (no limit) is not affected.
    await call('job-b');
    expect(server.requests).toHaveLength(2);
  });
});
