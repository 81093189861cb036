import { describe, expect, it } from 'vitest';
import { initialPoolContext, poolStatus, type PoolContext, type PoolInput } from '../../../machines/pool.machine.ts';
import { assigned, finished, poolTask as task, runPool as run } from '../../support/pool-steps.ts';

function input(): PoolInput {
  return {
    programmers: [
      { id: 'P1', capabilities: ['code'], free: true },
      { id: 'P2', capabilities: ['code'], free: true },
      { id: 'P3', capabilities: ['code'], free: true },
    ],
    strategy: 'least_loaded',
    preferFree: false,
    maxQueuePerProgrammer: 4,
    maxRetries: 2,
    maxRestarts: 2,
    restartPeriodMs: 60_000,
  };
}


describe('pool: programmers whose host cannot be reached (a pas worker offline or not started)', () => {
  it('gives them no new work: every task goes to reachable programmers, the rest wait their turn there, none fails', () => {
    const { ctx, deliveries } = run(
      initialPoolContext(input()),
      { type: 'programmers.unreachable', programmerIds: ['P1', 'P2'] },
      { type: 'task.submitted', task: task('A') },
      { type: 'task.submitted', task: task('B') },
      { type: 'task.submitted', task: task('C') },
    );
    expect(assigned(deliveries)).toEqual(['A@P3']);
    expect(finished(deliveries)).toEqual([]);
    expect(ctx.queue.map((t) => t.id)).toEqual(['B', 'C']);
    expect(poolStatus(ctx).unreachable_programmers).toEqual(['P1', 'P2']);
    // Neither counts as available, idle as they are.
    expect(poolStatus(ctx).available).toBe(0);
    expect(poolStatus(run(initialPoolContext(input()), { type: 'programmers.unreachable', programmerIds: ['P1', 'P2'] }).ctx).available).toBe(1);
  });

  it('holds work only an unreachable programmer can take (never fails it) and hands it out once its host is back', () => {
    let { ctx, deliveries } = run(initialPoolContext(input()), { type: 'programmers.unreachable', programmerIds: ['P1'] }, { type: 'task.submitted', task: task('D', { pin: 'P1' }) });
    expect(assigned(deliveries)).toEqual([]);
    expect(finished(deliveries)).toEqual([]);
    expect(ctx.queue.map((t) => t.id)).toEqual(['D']);

    ({ ctx, deliveries } = run(ctx, { type: 'programmers.unreachable', programmerIds: [] }));
    expect(assigned(deliveries)).toEqual(['D@P1']);
    expect(poolStatus(ctx).unreachable_programmers).toEqual([]);
  });

  it('takes each report as the whole list: a host back and another lost in one report', () => {
    let { ctx } = run(initialPoolContext(input()), { type: 'programmers.unreachable', programmerIds: ['P1', 'P2'] });
    ({ ctx } = run(ctx, { type: 'programmers.unreachable', programmerIds: ['P3'] }));
    const { deliveries } = run(ctx, { type: 'task.submitted', task: task('E') }, { type: 'task.submitted', task: task('F') }, { type: 'task.submitted', task: task('G') });
    expect(assigned(deliveries)).toEqual(['E@P1', 'F@P2']);
  });

  it('reads a context persisted before hosts could be unreachable as "every programmer reachable"', () => {
    const old = initialPoolContext(input()) as Partial<PoolContext>;
    delete old.unreachable;
    const { deliveries } = run(old as PoolContext, { type: 'task.submitted', task: task('H') });
    expect(assigned(deliveries)).toEqual(['H@P1']);
  });
});
