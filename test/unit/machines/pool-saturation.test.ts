import { describe, expect, it } from 'vitest';
import { initialPoolContext, poolStatus, type Delivery, type PoolContext, type PoolInput } from '../../../machines/pool.machine.ts';
import { assigned, finished, poolTask as task, runPool as run } from '../../support/pool-steps.ts';

function input(): PoolInput {
  return {
    programmers: [
      { id: 'P1', capabilities: ['premium'], free: false, provider: 'anthropic' },
      { id: 'P2', capabilities: ['premium'], free: false, provider: 'openai' },
    ],
    strategy: 'least_loaded',
    preferFree: false,
    maxQueuePerProgrammer: 4,
    maxRetries: 2,
    maxRestarts: 2,
    restartPeriodMs: 60_000,
  };
}


describe('pool: providers the LLM gateway reports saturated', () => {
  it('gives no new work to programmers of a saturated provider, routes it to others, and holds it (never fails it) until the provider is available', () => {
    let { ctx, deliveries } = run(initialPoolContext(input()), { type: 'provider.saturated', provider: 'anthropic' }, { type: 'task.submitted', task: task('A') });
    expect(assigned(deliveries)).toEqual(['A@P2']);
    ({ ctx, deliveries } = run(ctx, { type: 'task.submitted', task: task('B', { pin: 'P1' }) }));
    expect(assigned(deliveries)).toEqual([]);
    expect(finished(deliveries)).toEqual([]);
    expect(ctx.queue.map((t) => t.id)).toEqual(['B']);
    expect(poolStatus(ctx).saturated_providers).toEqual(['anthropic']);

    ({ ctx, deliveries } = run(ctx, { type: 'provider.available', provider: 'anthropic' }));
    expect(assigned(deliveries)).toEqual(['B@P1']);
    expect(poolStatus(ctx).saturated_providers).toEqual([]);
  });

  it('follows a programmer onto its new provider when its primary model changes', () => {
    let { ctx } = run(initialPoolContext(input()), { type: 'provider.saturated', provider: 'openai' }, { type: 'programmer.updated', programmerId: 'P1', free: false, provider: 'openai' });
    const next = run(ctx, { type: 'task.submitted', task: task('C') });
    ctx = next.ctx;
    const deliveries: Delivery[] = next.deliveries;
    expect(assigned(deliveries)).toEqual([]);
    expect(ctx.queue).toHaveLength(1);
  });

  it('reads a context persisted before saturation existed as "nothing saturated"', () => {
    const old = initialPoolContext(input()) as Partial<PoolContext>;
    delete old.saturated;
    const { deliveries } = run(old as PoolContext, { type: 'task.submitted', task: task('D') });
    expect(assigned(deliveries)).toEqual(['D@P1']);
  });
});
