import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ErrorData, TaskResult, TaskSpec } from '../../../machines/domain.ts';
import { initialPoolContext, maxQueueLength, poolStatus, poolStep, type Delivery, type PoolContext, type PoolEvent, type PoolInput } from '../../../machines/pool.machine.ts';
import { pickProgrammer, type RoutingPolicy } from '../../../machines/pool-routing.ts';

const RETRYABLE: ErrorData = { code: 'PAS_ERR_LLM_SERVER', retryable: true, message: 'model down' };
const FATAL: ErrorData = { code: 'PAS_ERR_FS_NOT_ALLOWED', retryable: false, message: 'denied' };

function input(extra: Partial<PoolInput> = {}): PoolInput {
  return {
    programmers: [
      { id: 'P1', capabilities: ['fast', 'free'], free: true },
      { id: 'P2', capabilities: ['fast', 'free'], free: true },
      { id: 'P3', capabilities: ['premium', 'reasoning', 'paid'], free: false },
    ],
    strategy: 'least_loaded',
    preferFree: false,
    maxQueuePerProgrammer: 1,
    maxRetries: 2,
    maxRestarts: 2,
    restartPeriodMs: 60_000,
    ...extra,
  };
}

function task(id: string, extra: Partial<TaskSpec> = {}): TaskSpec {
  return { id, jobId: 'J1', managerId: 'Mgr-1', replyTo: 'job:J1', instruction: `do ${id}`, files: [], ...extra };
}

/** Runs events through poolStep, collecting every delivery. */
function run(ctx: PoolContext, ...events: PoolEvent[]) {
  const deliveries: Delivery[] = [];
  const later: Array<{ event: PoolEvent; delayMs: number }> = [];
  for (const event of events) {
    const step = poolStep(ctx, event);
    ctx = step.context;
    deliveries.push(...step.deliveries);
    later.push(...step.later);
  }
  return { ctx, deliveries, later };
}

const submit = (t: TaskSpec): PoolEvent => ({ type: 'task.submitted', task: t });
const done = (programmerId: string, taskId: string, status: TaskResult['status'] = 'completed', error?: ErrorData): PoolEvent => ({
  type: 'programmer.done',
  programmerId,
  result: { taskId, jobId: 'J1', programmerId, status, ...(error ? { error } : {}) },
});
const assignedTo = (deliveries: Delivery[]) => deliveries.flatMap((d) => (d.event.type === 'task.assigned' ? [`${d.event.task.id}@${d.to}`] : []));
const finished = (deliveries: Delivery[]) => deliveries.flatMap((d) => (d.event.type === 'task.finished' ? [d.event.result] : []));

describe('poolStep routing strategies', () => {
  it('least_loaded gives each task to the programmer with the fewest tasks so far, config order among equals', () => {
    let { ctx, deliveries } = run(initialPoolContext(input()), submit(task('A')), submit(task('B')), done('P1', 'A'), submit(task('C')));
    expect(assignedTo(deliveries)).toEqual(['A@P1', 'B@P2', 'C@P3']);
    ({ ctx, deliveries } = run(ctx, done('P2', 'B'), done('P3', 'C'), submit(task('D'))));
    expect(assignedTo(deliveries)).toEqual(['D@P1']);
    expect(ctx.members.map((m) => m.assigned)).toEqual([2, 1, 1]);
  });

  it('round_robin walks the programmers in config order and skips busy ones', () => {
    const { deliveries } = run(
      initialPoolContext(input({ strategy: 'round_robin' })),
      submit(task('A')),
      done('P1', 'A'),
      submit(task('B')),
      submit(task('C')),
      done('P2', 'B'),
      done('P3', 'C'),
      submit(task('D')),
      submit(task('E')),
    );
    expect(assignedTo(deliveries)).toEqual(['A@P1', 'B@P2', 'C@P3', 'D@P1', 'E@P2']);
  });

  it('round_robin skips a busy programmer at the cursor', () => {
    const { deliveries, ctx } = run(initialPoolContext(input({ strategy: 'round_robin' })), submit(task('A')), submit(task('B')), done('P2', 'B'), submit(task('C')));
    // cursor is at P3 after B; P3 is idle
    expect(assignedTo(deliveries)).toEqual(['A@P1', 'B@P2', 'C@P3']);
    const next = run(ctx, submit(task('D')));
    // P1 busy with A → P2
    expect(assignedTo(next.deliveries)).toEqual(['D@P2']);
  });

  it('capability_match sends a task only to programmers with every required capability', () => {
    const { deliveries } = run(
      initialPoolContext(input({ strategy: 'capability_match' })),
      submit(task('A', { requires: ['premium'] })),
      submit(task('B', { requires: ['fast'] })),
      submit(task('C', { requires: ['fast'] })),
    );
    expect(assignedTo(deliveries)).toEqual(['A@P3', 'B@P1', 'C@P2']);
  });

  it('capability_routing lets a listed programmer serve a capability it does not declare', () => {
    const { deliveries } = run(initialPoolContext(input({ strategy: 'capability_match', capabilityRouting: { docs: ['P2'] } })), submit(task('A', { requires: ['docs'] })));
    expect(assignedTo(deliveries)).toEqual(['A@P2']);
  });

  it('queues a capable task while its only capable programmer is busy', () => {
    const { deliveries, ctx } = run(initialPoolContext(input()), submit(task('A', { requires: ['premium'] })), submit(task('B', { requires: ['premium'] })));
    expect(assignedTo(deliveries)).toEqual(['A@P3']);
    expect(ctx.queue.map((t) => t.id)).toEqual(['B']);
    const next = run(ctx, done('P3', 'A'));
    expect(assignedTo(next.deliveries)).toEqual(['B@P3']);
  });

  it('fails a task no programmer can ever take with PAS_ERR_NO_PROGRAMMER', () => {
    const { deliveries, ctx } = run(initialPoolContext(input()), submit(task('A', { requires: ['quantum'] })));
    expect(finished(deliveries)).toEqual([
      { taskId: 'A', jobId: 'J1', programmerId: '', status: 'failed', error: { code: 'PAS_ERR_NO_PROGRAMMER', retryable: false, message: 'no programmer in the pool can take this task', details: { requires: ['quantum'], exclude: [] } } },
    ]);
    expect(ctx.stats).toMatchObject({ submitted: 1, rejected: 1, failed: 1 });
  });

  it('prefer_free picks an idle free programmer over a less loaded paid one', () => {
    const ctx0 = initialPoolContext(input({ preferFree: true }));
    ctx0.members[0]!.assigned = 5;
    ctx0.members[1]!.assigned = 5;
    const { deliveries } = run(ctx0, submit(task('A')));
    expect(assignedTo(deliveries)).toEqual(['A@P1']);
  });

  it('prefer_free still uses a paid programmer when no free one is idle', () => {
    const { deliveries } = run(initialPoolContext(input({ preferFree: true })), submit(task('A')), submit(task('B')), submit(task('C')));
    expect(assignedTo(deliveries)).toEqual(['A@P1', 'B@P2', 'C@P3']);
  });

  it('without prefer_free the least loaded programmer wins even when it is paid', () => {
    const ctx0 = initialPoolContext(input());
    ctx0.members[0]!.assigned = 5;
    ctx0.members[1]!.assigned = 5;
    expect(assignedTo(run(ctx0, submit(task('A'))).deliveries)).toEqual(['A@P3']);
  });

  it('pickProgrammer returns null when nobody eligible is idle', () => {
    const ctx = initialPoolContext(input());
    for (const m of ctx.members) m.status = 'busy';
    const policy: RoutingPolicy = { strategy: 'least_loaded', preferFree: false, capabilityRouting: {}, budgetExhausted: false };
    expect(pickProgrammer(ctx.members, task('A'), policy, 0)).toBeNull();
  });
});

describe('poolStep budget', () => {
  it('once the budget is exhausted paid programmers get no tasks', () => {
    const { deliveries, ctx } = run(initialPoolContext(input()), { type: 'budget.exhausted' }, submit(task('A')), submit(task('B')), submit(task('C')));
    expect(assignedTo(deliveries)).toEqual(['A@P1', 'B@P2']);
    expect(ctx.queue.map((t) => t.id)).toEqual(['C']);
    expect(poolStatus(ctx).budget_exhausted).toBe(true);
  });

  it('refuses a task only paid programmers could take with PAS_ERR_BUDGET_EXHAUSTED', () => {
    const { deliveries } = run(initialPoolContext(input()), { type: 'budget.exhausted' }, submit(task('A', { requires: ['premium'] })));
    expect(finished(deliveries)).toEqual([
      { taskId: 'A', jobId: 'J1', programmerId: '', status: 'failed', error: { code: 'PAS_ERR_BUDGET_EXHAUSTED', retryable: false, message: 'the daily budget is spent and only paid programmers can take this task' } },
    ]);
  });

  it('refuses a queued paid-only task when the budget runs out while it waits', () => {
    const { deliveries } = run(initialPoolContext(input()), submit(task('A', { requires: ['premium'] })), submit(task('B', { requires: ['premium'] })), { type: 'budget.exhausted' });
    expect(finished(deliveries).map((r) => [r.taskId, r.error?.code])).toEqual([['B', 'PAS_ERR_BUDGET_EXHAUSTED']]);
  });

  it('uses paid programmers again after budget.restored', () => {
    const { deliveries } = run(initialPoolContext(input()), { type: 'budget.exhausted' }, { type: 'budget.restored' }, submit(task('A', { requires: ['premium'] })));
    expect(assignedTo(deliveries)).toEqual(['A@P3']);
  });
});

describe('poolStep queue', () => {
  it('queues up to max_queue_per_programmer × pool size, then refuses with PAS_ERR_POOL_QUEUE_FULL', () => {
    let ctx = initialPoolContext(input({ maxQueuePerProgrammer: 2 }));
    expect(maxQueueLength(ctx)).toBe(6);
    const ids = Array.from({ length: 10 }, (_, i) => `T${i}`);
    const result = run(ctx, ...ids.map((id) => submit(task(id))));
    ctx = result.ctx;
    expect(assignedTo(result.deliveries)).toEqual(['T0@P1', 'T1@P2', 'T2@P3']);
    expect(ctx.queue.map((t) => t.id)).toEqual(['T3', 'T4', 'T5', 'T6', 'T7', 'T8']);
    const refused = finished(result.deliveries);
    expect(refused.map((r) => r.taskId)).toEqual(['T9']);
    expect(refused[0]!.error).toEqual({ code: 'PAS_ERR_POOL_QUEUE_FULL', retryable: true, message: 'every programmer is busy and the queue holds 6 tasks', details: { limit: 6 } });
    expect(poolStatus(ctx)).toMatchObject({ pool_size: 3, available: 0, unavailable: 3, total_queue_depth: 6, running: 3 });
  });

  it('refuses the first task that finds everyone busy when max_queue_per_programmer is 0', () => {
    const { deliveries } = run(initialPoolContext(input({ maxQueuePerProgrammer: 0 })), submit(task('A')), submit(task('B')), submit(task('C')), submit(task('D')));
    expect(finished(deliveries).map((r) => [r.taskId, r.error?.code])).toEqual([['D', 'PAS_ERR_POOL_QUEUE_FULL']]);
  });

  it('starts a task an idle programmer can take even when the queue is full of work for a busy one', () => {
    const premium = { requires: ['premium'] };
    const { deliveries } = run(initialPoolContext(input({ maxQueuePerProgrammer: 1 })), ...['A', 'B', 'C', 'D'].map((id) => submit(task(id, premium))), submit(task('E', { requires: ['fast'] })));
    // A runs on P3; B, C, D fill the queue (3 = 1 × 3 programmers); E fits idle P1
    expect(assignedTo(deliveries)).toEqual(['A@P3', 'E@P1']);
    expect(finished(deliveries)).toEqual([]);
  });

  it('serves the queue in arrival order as programmers free up', () => {
    const { deliveries } = run(initialPoolContext(input()), ...['A', 'B', 'C', 'D', 'E'].map((id) => submit(task(id))), done('P2', 'B'), done('P1', 'A'));
    expect(assignedTo(deliveries)).toEqual(['A@P1', 'B@P2', 'C@P3', 'D@P2', 'E@P1']);
  });

  it('ignores a second submission of a task it already holds', () => {
    const { deliveries, ctx } = run(initialPoolContext(input()), submit(task('A')), submit(task('A')));
    expect(assignedTo(deliveries)).toEqual(['A@P1']);
    expect(ctx.stats.submitted).toBe(1);
  });

  it('runs, retries and finishes tasks whose ids are names of Object.prototype members (constructor, toString, __proto__) like any other', () => {
    const ids = ['constructor', 'toString', '__proto__', 'hasOwnProperty'];
    let { ctx, deliveries } = run(initialPoolContext(input({ maxQueuePerProgrammer: 2 })), ...ids.map((id) => submit(task(id))));
    expect(assignedTo(deliveries)).toEqual(['constructor@P1', 'toString@P2', '__proto__@P3']);
    expect(Object.keys(ctx.running)).toEqual(['constructor', 'toString', '__proto__']);
    ({ ctx, deliveries } = run(ctx, done('P1', 'constructor', 'failed', RETRYABLE), done('P2', 'toString'), done('P3', '__proto__')));
    expect(finished(deliveries).map((r) => `${r.taskId}:${r.status}`)).toEqual(['toString:completed', '__proto__:completed']);
    ({ ctx, deliveries } = run(ctx, ...ctx.members.filter((m) => m.taskId).map((m) => done(m.id, m.taskId!))));
    expect(finished(deliveries).map((r) => `${r.taskId}:${r.status}`).sort()).toEqual(['constructor:completed', 'hasOwnProperty:completed']);
    expect(Object.keys(ctx.running)).toEqual([]);
    expect(Object.keys(ctx.tried)).toEqual([]);
    expect(ctx.queue).toEqual([]);
  });

  it('cancels a queued task at once with a cancelled result', () => {
    const { deliveries, ctx } = run(initialPoolContext(input()), ...['A', 'B', 'C', 'D'].map((id) => submit(task(id))), { type: 'task.cancel', taskId: 'D' });
    expect(finished(deliveries)).toEqual([
      { taskId: 'D', jobId: 'J1', programmerId: '', status: 'cancelled', error: { code: 'PAS_ERR_TASK_CANCELLED', retryable: false, message: 'cancelled while queued' } },
    ]);
    expect(ctx.queue).toEqual([]);
    expect(ctx.stats.cancelled).toBe(1);
  });

  it('passes a cancel of a running task to its programmer and finishes it when the programmer reports', () => {
    let { deliveries, ctx } = run(initialPoolContext(input()), submit(task('A')), { type: 'task.cancel', taskId: 'A' });
    expect(deliveries.at(-1)).toEqual({ to: 'P1', event: { type: 'task.cancel', taskId: 'A' } });
    ({ deliveries, ctx } = run(ctx, done('P1', 'A', 'cancelled', { code: 'PAS_ERR_TASK_CANCELLED', retryable: false, message: 'cancelled' })));
    expect(finished(deliveries).map((r) => r.status)).toEqual(['cancelled']);
    expect(ctx.members[0]!.status).toBe('idle');
  });

  it('ignores a cancel of a task it does not know', () => {
    const { deliveries } = run(initialPoolContext(input()), { type: 'task.cancel', taskId: 'nope' });
    expect(deliveries).toEqual([]);
  });
});

describe('poolStep re-dispatch', () => {
  it('re-dispatches a retryable failure to a different programmer, numbering the attempts', () => {
    const { deliveries, ctx } = run(initialPoolContext(input()), submit(task('A')), done('P1', 'A', 'failed', RETRYABLE));
    const assigned = deliveries.flatMap((d) => (d.event.type === 'task.assigned' ? [{ to: d.to, task: d.event.task }] : []));
    expect(assigned.map((d) => [d.to, d.task.attempt, d.task.exclude])).toEqual([
      ['P1', 1, undefined],
      ['P2', 2, ['P1']],
    ]);
    expect(finished(deliveries)).toEqual([]);
    expect(ctx.stats.redispatched).toBe(1);
  });

  it('gives up after max_retries re-dispatches and reports the last failure', () => {
    const { deliveries, ctx } = run(
      initialPoolContext(input({ maxRetries: 1 })),
      submit(task('A')),
      done('P1', 'A', 'failed', RETRYABLE),
      done('P2', 'A', 'failed', RETRYABLE),
    );
    expect(assignedTo(deliveries)).toEqual(['A@P1', 'A@P2']);
    expect(finished(deliveries)).toEqual([{ taskId: 'A', jobId: 'J1', programmerId: 'P2', status: 'failed', error: RETRYABLE }]);
    expect(ctx.stats).toMatchObject({ redispatched: 1, failed: 1 });
    expect(ctx.tried).toEqual({});
  });

  it('never re-dispatches to a programmer the task already failed on', () => {
    const { deliveries } = run(
      initialPoolContext(input({ maxRetries: 5 })),
      submit(task('A')),
      done('P1', 'A', 'failed', RETRYABLE),
      done('P2', 'A', 'failed', RETRYABLE),
      done('P3', 'A', 'failed', RETRYABLE),
    );
    expect(assignedTo(deliveries)).toEqual(['A@P1', 'A@P2', 'A@P3']);
    expect(finished(deliveries).map((r) => r.programmerId)).toEqual(['P3']);
  });

  it('does not re-dispatch a non-retryable failure', () => {
    const { deliveries } = run(initialPoolContext(input()), submit(task('A')), done('P1', 'A', 'failed', FATAL));
    expect(assignedTo(deliveries)).toEqual(['A@P1']);
    expect(finished(deliveries)).toEqual([{ taskId: 'A', jobId: 'J1', programmerId: 'P1', status: 'failed', error: FATAL }]);
  });

  it('puts a re-dispatched task at the head of the queue', () => {
    const { deliveries } = run(
      initialPoolContext(input()),
      ...['A', 'B', 'C', 'D'].map((id) => submit(task(id))),
      done('P1', 'A', 'failed', RETRYABLE),
      done('P2', 'B'),
    );
    // P1 freed first, but A may not go back to P1: D waits. P2 frees: A (at the head) goes there.
    expect(assignedTo(deliveries)).toEqual(['A@P1', 'B@P2', 'C@P3', 'D@P1', 'A@P2']);
  });

  it('ignores a report from a programmer that no longer holds the task', () => {
    const { deliveries, ctx } = run(initialPoolContext(input()), submit(task('A')), done('P2', 'A'));
    expect(finished(deliveries)).toEqual([]);
    expect(ctx.running['A']?.programmerId).toBe('P1');
  });
});

describe('poolStep supervision', () => {
  const failed = (programmerId: string, t: TaskSpec | null, error: ErrorData = { code: 'PAS_ERR_TASK_TIMEOUT', retryable: true, message: 'timeout' }): PoolEvent => ({
    type: 'programmer.failed',
    programmerId,
    error,
    task: t,
  });

  it('restarts a failed programmer, schedules the restart to expire after the period, and re-dispatches its task', () => {
    const { deliveries, ctx, later } = run(initialPoolContext(input()), submit(task('A')), failed('P1', task('A', { attempt: 1 })));
    expect(deliveries).toContainEqual({ to: 'P1', event: { type: 'programmer.reset' } });
    expect(later).toEqual([{ event: { type: 'supervision.expire', programmerId: 'P1' }, delayMs: 60_000 }]);
    expect(ctx.members[0]).toMatchObject({ status: 'failed', failed: 1, taskId: null });
    expect(ctx.restarts).toEqual({ P1: 1 });
    expect(assignedTo(deliveries)).toEqual(['A@P1', 'A@P2']);
  });

  it('brings a restarted programmer back into rotation when it reports ready', () => {
    const { deliveries } = run(initialPoolContext(input()), failed('P1', null), submit(task('A')), { type: 'programmer.ready', programmerId: 'P1' }, done('P2', 'A'), submit(task('B')));
    expect(assignedTo(deliveries)).toEqual(['A@P2', 'B@P1']);
  });

  it('escalates the failure after max_restarts within the period: quarantine, PAS_ERR_SUPERVISOR_ESCALATED, supervisor.escalated to the manager', () => {
    let { ctx } = run(
      initialPoolContext(input()),
      failed('P1', null),
      { type: 'programmer.ready', programmerId: 'P1' },
      failed('P1', null),
      { type: 'programmer.ready', programmerId: 'P1' },
      submit(task('A')),
    );
    expect(ctx.running['A']?.programmerId).toBe('P1');
    const step = run(ctx, failed('P1', ctx.running['A']!.task));
    ctx = step.ctx;
    expect(ctx.members[0]!.status).toBe('quarantined');
    expect(ctx.stats).toMatchObject({ restarts: 2, escalated: 1, failed: 1 });
    const escalation = step.deliveries.find((d) => d.event.type === 'supervisor.escalated');
    expect(escalation).toEqual({
      to: 'Mgr-1',
      event: {
        type: 'supervisor.escalated',
        programmerId: 'P1',
        taskId: 'A',
        error: {
          code: 'PAS_ERR_SUPERVISOR_ESCALATED',
          retryable: true,
          message: 'P1 failed 3 times within 60000 ms (PAS_ERR_TASK_TIMEOUT)',
          details: { programmerId: 'P1', cause: { code: 'PAS_ERR_TASK_TIMEOUT', retryable: true, message: 'timeout' } },
        },
      },
    });
    expect(finished(step.deliveries)).toEqual([{ taskId: 'A', jobId: 'J1', programmerId: 'P1', status: 'failed', error: (escalation!.event as unknown as { error: ErrorData }).error }]);
    expect(step.deliveries.some((d) => d.event.type === 'programmer.reset')).toBe(false);
    // a quarantined programmer gets no more work
    expect(assignedTo(run(ctx, submit(task('B')), submit(task('C'))).deliveries)).toEqual(['B@P2', 'C@P3']);
  });

  it('forgets a restart once its period expires, so spaced-out failures never escalate', () => {
    let ctx = initialPoolContext(input());
    for (let i = 0; i < 5; i++) {
      ({ ctx } = run(ctx, failed('P1', null), { type: 'programmer.ready', programmerId: 'P1' }, { type: 'supervision.expire', programmerId: 'P1' }));
    }
    expect(ctx.members[0]!.status).toBe('idle');
    expect(ctx.stats).toMatchObject({ restarts: 5, escalated: 0 });
    expect(ctx.restarts).toEqual({ P1: 0 });
  });

  it('returns a quarantined programmer to service with a clean slate when it reports ready after a manual reset', () => {
    let { ctx } = run(initialPoolContext(input({ maxRestarts: 0 })), failed('P1', null));
    expect(ctx.members[0]!.status).toBe('quarantined');
    ({ ctx } = run(ctx, { type: 'programmer.ready', programmerId: 'P1' }));
    expect(ctx.members[0]!.status).toBe('idle');
    expect(ctx.restarts).toEqual({ P1: 0 });
  });

  it('fails queued tasks nobody can take any more once the last capable programmer is quarantined', () => {
    const { deliveries } = run(
      initialPoolContext(input({ maxRestarts: 0 })),
      submit(task('A', { requires: ['premium'] })),
      submit(task('B', { requires: ['premium'] })),
      failed('P3', task('A', { requires: ['premium'], attempt: 1 })),
    );
    expect(finished(deliveries).map((r) => [r.taskId, r.error?.code])).toEqual([
      ['A', 'PAS_ERR_SUPERVISOR_ESCALATED'],
      ['B', 'PAS_ERR_NO_PROGRAMMER'],
    ]);
  });
});

describe('poolStep facts', () => {
  it('states each task queued, each start with its attempt and each one final result, in the order they happen', () => {
    let ctx = initialPoolContext(input());
    const facts: Array<[string, string, number?]> = [];
    for (const event of [submit(task('A')), done('P1', 'A', 'failed', RETRYABLE), done('P2', 'A')]) {
      const step = poolStep(ctx, event);
      ctx = step.context;
      for (const f of step.facts) {
        if (f.type === 'recordTaskQueued') facts.push([f.type, f.task.id]);
        else if (f.type === 'recordTaskStarted') facts.push([f.type, `${f.task.id}@${f.programmerId}`, f.attempt]);
        else if (f.type === 'recordAttemptEnded') facts.push([f.type, `${f.result.taskId}@${f.programmerId}:${f.result.status}`, f.attempt]);
        else facts.push([f.type, `${f.result.taskId}:${f.result.status}`]);
      }
    }
    // The retry elsewhere is a second start (attempt 2), not a second result; each attempt's end is stated.
    expect(facts).toEqual([
      ['recordTaskQueued', 'A'],
      ['recordTaskStarted', 'A@P1', 1],
      ['recordAttemptEnded', 'A@P1:failed', 1],
      ['recordTaskStarted', 'A@P2', 2],
      ['recordAttemptEnded', 'A@P2:completed', 2],
      ['recordTaskFinished', 'A:completed'],
    ]);
  });
});

describe('poolStep attempt facts', () => {
  it('states the end of every attempt with its programmer and attempt number, a retried one too, and no end for a result that is not its programmer\'s running attempt', () => {
    let ctx = initialPoolContext(input());
    const ends: Array<[string, number, string]> = [];
    for (const event of [submit(task('A')), done('P1', 'A', 'failed', RETRYABLE), done('P1', 'A'), done('P2', 'A')]) {
      const step = poolStep(ctx, event);
      ctx = step.context;
      for (const f of step.facts) if (f.type === 'recordAttemptEnded') ends.push([f.programmerId, f.attempt, f.result.status]);
    }
    // P1's second answer is not an attempt it runs (the task went to P2): it ends nothing.
    expect(ends).toEqual([
      ['P1', 1, 'failed'],
      ['P2', 2, 'completed'],
    ]);
  });
});

describe('poolStep purity', () => {
  it('never mutates the context it is given', () => {
    const ctx = initialPoolContext(input());
    const before = structuredClone(ctx);
    poolStep(ctx, submit(task('A')));
    expect(ctx).toEqual(before);
  });
});

/**
 * A whole pool under random traffic, with programmers that do what the real ones do: every task
 * ends exactly once, and no task ever runs on two programmers at once.
 */
describe('poolStep invariants under random traffic', () => {
  type Action =
    | { kind: 'submit'; requires: 'none' | 'premium' | 'fast' }
    | { kind: 'complete'; p: number }
    | { kind: 'failRetryable'; p: number }
    | { kind: 'failFatal'; p: number }
    | { kind: 'crash'; p: number }
    | { kind: 'cancel'; t: number }
    | { kind: 'expire'; p: number }
    | { kind: 'budget'; on: boolean };

  const action: fc.Arbitrary<Action> = fc.oneof(
    fc.record({ kind: fc.constant('submit' as const), requires: fc.constantFrom('none' as const, 'premium' as const, 'fast' as const) }),
    fc.record({ kind: fc.constant('complete' as const), p: fc.nat(3) }),
    fc.record({ kind: fc.constant('failRetryable' as const), p: fc.nat(3) }),
    fc.record({ kind: fc.constant('failFatal' as const), p: fc.nat(3) }),
    fc.record({ kind: fc.constant('crash' as const), p: fc.nat(3) }),
    fc.record({ kind: fc.constant('cancel' as const), t: fc.nat(30) }),
    fc.record({ kind: fc.constant('expire' as const), p: fc.nat(3) }),
    fc.record({ kind: fc.constant('budget' as const), on: fc.boolean() }),
  );

  it('every submitted task ends exactly once, is never assigned to two programmers at once, and no step changes the context it was given', () => {
    fc.assert(
      fc.property(fc.array(action, { maxLength: 80 }), fc.constantFrom('least_loaded' as const, 'round_robin' as const, 'capability_match' as const), (actions, strategy) => {
        let ctx = initialPoolContext({
          programmers: [
            { id: 'P0', capabilities: ['fast'], free: true },
            { id: 'P1', capabilities: ['fast'], free: true },
            { id: 'P2', capabilities: ['premium'], free: false },
            { id: 'P3', capabilities: ['fast', 'premium'], free: false },
          ],
          strategy,
          preferFree: true,
          maxQueuePerProgrammer: 2,
          maxRetries: 2,
          maxRestarts: 1,
          restartPeriodMs: 1000,
        });
        const ids = ['P0', 'P1', 'P2', 'P3'];
        /** What each simulated programmer is doing. */
        const running = new Map<string, TaskSpec>();
        const finishedCount = new Map<string, number>();
        const submitted: string[] = [];
        const inbox: PoolEvent[] = [];

        const deliver = (d: Delivery) => {
          if (d.event.type === 'task.finished') {
            const r = d.event.result as TaskResult;
            finishedCount.set(r.taskId, (finishedCount.get(r.taskId) ?? 0) + 1);
          } else if (d.event.type === 'task.assigned') {
            const t = d.event.task as TaskSpec;
            expect(running.has(d.to), `${d.to} got ${t.id} while busy`).toBe(false);
            for (const [p, other] of running) expect(other.id, `${t.id} also on ${p}`).not.toBe(t.id);
            running.set(d.to, t);
          } else if (d.event.type === 'task.cancel') {
            const t = running.get(d.to);
            if (t && t.id === d.event.taskId) {
              running.delete(d.to);
              inbox.push({ type: 'programmer.done', programmerId: d.to, result: { taskId: t.id, jobId: t.jobId, programmerId: d.to, status: 'cancelled' } });
            }
          } else if (d.event.type === 'programmer.reset') {
            inbox.push({ type: 'programmer.ready', programmerId: d.to });
          }
        };
        const step = (event: PoolEvent) => {
          inbox.push(event);
          while (inbox.length > 0) {
            const given = structuredClone(ctx);
            const r = poolStep(ctx, inbox.shift()!);
            expect(ctx).toEqual(given);
            ctx = r.context;
            r.deliveries.forEach(deliver);
            // invariant: busy members and running tasks agree
            for (const m of ctx.members) {
              if (m.status === 'busy') expect(ctx.running[m.taskId!]?.programmerId).toBe(m.id);
            }
            for (const [taskId, r2] of Object.entries(ctx.running)) expect(ctx.members.find((m) => m.id === r2.programmerId)?.taskId).toBe(taskId);
          }
        };
        const report = (p: string, status: 'completed' | 'failed', error?: ErrorData) => {
          const t = running.get(p);
          if (!t) return;
          running.delete(p);
          step({ type: 'programmer.done', programmerId: p, result: { taskId: t.id, jobId: t.jobId, programmerId: p, status, ...(error ? { error } : {}) } });
        };

        for (const a of actions) {
          switch (a.kind) {
            case 'submit': {
              const id = `T${submitted.length}`;
              submitted.push(id);
              step({ type: 'task.submitted', task: task(id, a.requires === 'none' ? {} : { requires: [a.requires] }) });
              break;
            }
            case 'complete':
              report(ids[a.p]!, 'completed');
              break;
            case 'failRetryable':
              report(ids[a.p]!, 'failed', RETRYABLE);
              break;
            case 'failFatal':
              report(ids[a.p]!, 'failed', FATAL);
              break;
            case 'crash': {
              const p = ids[a.p]!;
              const t = running.get(p) ?? null;
              running.delete(p);
              step({ type: 'programmer.failed', programmerId: p, error: RETRYABLE, task: t });
              break;
            }
            case 'cancel':
              if (submitted[a.t]) step({ type: 'task.cancel', taskId: submitted[a.t]! });
              break;
            case 'expire':
              step({ type: 'supervision.expire', programmerId: ids[a.p]! });
              break;
            case 'budget':
              step({ type: a.on ? 'budget.exhausted' : 'budget.restored' });
              break;
          }
        }
        // Wind down: restore the budget, bring quarantined programmers back, finish everything.
        step({ type: 'budget.restored' });
        for (const p of ids) if (ctx.members.find((m) => m.id === p)?.status === 'quarantined') step({ type: 'programmer.ready', programmerId: p });
        for (let guard = 0; guard < 1000 && (running.size > 0 || ctx.queue.length > 0); guard++) {
          for (const p of ids) report(p, 'completed');
        }
        expect(ctx.queue).toEqual([]);
        expect(ctx.running).toEqual({});
        for (const id of submitted) expect(finishedCount.get(id), `task ${id}`).toBe(1);
        expect(ctx.stats.completed + ctx.stats.failed + ctx.stats.cancelled).toBe(submitted.length);
      }),
      { numRuns: 300 },
    );
  });
});

describe('poolStep drain', () => {
  it('skips the queue scan when nobody is idle, yet still fails queued tasks that became unplaceable while all were busy', () => {
    // All three busy, two tasks queued (one only P3, the paid one, can take).
    let { ctx } = run(initialPoolContext(input()), submit(task('A')), submit(task('B')), submit(task('C')), submit(task('D')), submit(task('E', { requires: ['premium'] })));
    expect(ctx.members.every((m) => m.status === 'busy')).toBe(true);
    expect(ctx.queue.map((t) => t.id)).toEqual(['D', 'E']);

    // A submit while nobody is idle changes nothing for the queued tasks and delivers nothing.
    const step = poolStep(ctx, submit(task('F')));
    expect(step.deliveries).toEqual([]);
    expect(step.context.queue.map((t) => t.id)).toEqual(['D', 'E', 'F']);
    expect(step.context.members).toEqual(ctx.members);
    ctx = step.context;

    // The budget runs out while all are busy: E can never be placed now, and fails at once.
    const spent = run(ctx, { type: 'budget.exhausted' });
    expect(finished(spent.deliveries).map((r) => [r.taskId, r.error?.code])).toEqual([['E', 'PAS_ERR_BUDGET_EXHAUSTED']]);
    expect(spent.ctx.queue.map((t) => t.id)).toEqual(['D', 'F']);
  });
});
