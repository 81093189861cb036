import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { breakerSettingsFrom, llmClientOptionsFrom } from '../../../src/llm/llm-client.ts';

describe('llmClientOptionsFrom', () => {
  it('takes models, failover, cost_optimization and the configs folder from a loaded config', () => {
    const config = loadConfig('configs');
    const opts = llmClientOptionsFrom(config);
    expect(opts.failover.max_retries).toBe(config.pool.failover.max_retries);
    expect(opts.costOptimization.max_daily_spend_usd).toBe(config.pool.cost_optimization.max_daily_spend_usd);
    expect(opts.configDir).toBe(config.dir);
    expect(breakerSettingsFrom({ enabled: true, failure_threshold: 3, window_minutes: 5, cooldown_minutes: 2 })).toEqual({
      enabled: true,
      failureThreshold: 3,
      windowMs: 300_000,
      cooldownMs: 120_000,
    });
  });
});
