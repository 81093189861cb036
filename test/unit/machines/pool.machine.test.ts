import { afterEach, describe, expect, it } from 'vitest';
import { codedError } from '../../../machines/error-codes.ts';
import type { TaskResult, TaskSpec } from '../../../machines/domain.ts';
import { poolMachine, type PoolContext, type PoolInput } from '../../../machines/pool.machine.ts';
import { programmerMachine, type ProgrammerContext } from '../../../machines/programmer.machine.ts';
import { controllableExecutor, settle, startHarness, type Harness } from '../../support/machine-harness.ts';

const TIMEOUT_MS = 5_000;
const PERIOD_MS = 60_000;

let h: Harness;
let exec: ReturnType<typeof controllableExecutor>;

function start(extra: Partial<PoolInput> = {}, ids = ['P1', 'P2']) {
  exec = controllableExecutor();
  const programmer = programmerMachine.provide({ actors: { executeTask: exec.logic } });
  const paid = new Set(['P3']);
  h = startHarness({
    recorders: ['job:J1', 'Mgr-1'],
    children: [
      {
        id: 'pool',
        logic: poolMachine,
        input: {
          programmers: ids.map((id) => ({ id, capabilities: paid.has(id) ? ['premium'] : ['fast'], free: !paid.has(id) })),
          strategy: 'least_loaded',
          preferFree: false,
          maxQueuePerProgrammer: 1,
          maxRetries: 1,
          maxRestarts: 2,
          restartPeriodMs: PERIOD_MS,
          ...extra,
        } satisfies PoolInput,
      },
      ...ids.map((id) => ({ id, logic: programmer, input: { id, timeoutMs: TIMEOUT_MS, poolId: 'pool' } })),
    ],
  });
}

function task(id: string, extra: Partial<TaskSpec> = {}): TaskSpec {
  return { id, jobId: 'J1', managerId: 'Mgr-1', replyTo: 'job:J1', instruction: `do ${id}`, files: [], ...extra };
}

const submit = (t: TaskSpec) => h.send('pool', { type: 'task.submitted', task: t });
const pool = () => (h.get('pool').getSnapshot() as { context: PoolContext }).context;
const prog = (id: string) => h.get(id).getSnapshot() as { value: string; context: ProgrammerContext };
const results = () => h.received('job:J1', 'task.finished').map((e) => e.result as TaskResult);

afterEach(() => h?.stop());

describe('pool machine with real programmers', () => {
  it('assigns tasks to idle programmers, least loaded first, and relays each result to replyTo', async () => {
    start();
    submit(task('A'));
    submit(task('B'));
    expect(exec.started()).toEqual(['A@P1', 'B@P2']);
    expect([prog('P1').value, prog('P2').value]).toEqual(['EXECUTING', 'EXECUTING']);
    exec.complete('A');
    exec.complete('B');
    await settle();
    expect(results().map((r) => [r.taskId, r.status, r.programmerId])).toEqual([
      ['A', 'completed', 'P1'],
      ['B', 'completed', 'P2'],
    ]);
    expect(pool().members.map((m) => m.status)).toEqual(['idle', 'idle']);
    expect(pool().stats).toMatchObject({ submitted: 2, completed: 2 });
  });

  it('round_robin hands consecutive tasks to consecutive programmers', async () => {
    start({ strategy: 'round_robin' }, ['P1', 'P2', 'P4']);
    for (const id of ['A', 'B', 'C', 'D']) {
      submit(task(id));
      exec.complete(id);
      await settle();
    }
    expect(exec.started()).toEqual(['A@P1', 'B@P2', 'C@P4', 'D@P1']);
  });

  it('capability_match and prefer_free route premium work to the paid programmer and the rest to free ones', async () => {
    start({ strategy: 'capability_match', preferFree: true }, ['P1', 'P3']);
    submit(task('A', { requires: ['premium'] }));
    submit(task('B'));
    expect(exec.started()).toEqual(['A@P3', 'B@P1']);
  });

  it('with the budget exhausted leaves the paid programmer idle and refuses paid-only work', async () => {
    start({}, ['P1', 'P3']);
    h.send('pool', { type: 'budget.exhausted' });
    submit(task('A'));
    submit(task('B'));
    submit(task('C', { requires: ['premium'] }));
    expect(exec.started()).toEqual(['A@P1']);
    expect(pool().queue.map((t) => t.id)).toEqual(['B']);
    expect(prog('P3').value).toBe('IDLE');
    expect(results().map((r) => [r.taskId, r.error?.code])).toEqual([['C', 'PAS_ERR_BUDGET_EXHAUSTED']]);
  });

  it('queues up to max_queue_per_programmer × pool size, then refuses with PAS_ERR_POOL_QUEUE_FULL', async () => {
    start({ maxQueuePerProgrammer: 2 });
    for (const id of ['A', 'B', 'C', 'D', 'E', 'F', 'G']) submit(task(id));
    expect(pool().queue.map((t) => t.id)).toEqual(['C', 'D', 'E', 'F']);
    expect(results().map((r) => [r.taskId, r.error?.code])).toEqual([['G', 'PAS_ERR_POOL_QUEUE_FULL']]);
    exec.complete('A');
    await settle();
    expect(exec.started()).toEqual(['A@P1', 'B@P2', 'C@P1']);
  });

  it('re-dispatches a failed task to the other programmer, then reports the second failure', async () => {
    start({ maxRetries: 1 });
    submit(task('A'));
    exec.fail('A', { code: 'PAS_ERR_LLM_SERVER', retryable: true, message: 'down' });
    await settle();
    expect(exec.started()).toEqual(['A@P1', 'A@P2']);
    expect(exec.find('A', 'P2').input.task).toMatchObject({ attempt: 2, exclude: ['P1'] });
    expect(results()).toEqual([]);
    exec.fail('A', { code: 'PAS_ERR_LLM_SERVER', retryable: true, message: 'down again' }, 'P2');
    await settle();
    expect(results().map((r) => [r.taskId, r.programmerId, r.error?.message])).toEqual([['A', 'P2', 'down again']]);
  });

  it('cancels a queued task at once and a running one through its programmer', async () => {
    start();
    for (const id of ['A', 'B', 'C']) submit(task(id));
    h.send('pool', { type: 'task.cancel', taskId: 'C' });
    h.send('pool', { type: 'task.cancel', taskId: 'A' });
    await settle();
    expect(results().map((r) => [r.taskId, r.status])).toEqual([
      ['C', 'cancelled'],
      ['A', 'cancelled'],
    ]);
    expect(exec.find('A').signal.aborted).toBe(true);
    expect(prog('P1').value).toBe('IDLE');
    expect(pool().members[0]!.status).toBe('idle');
  });

  it('restarts a programmer that timed out and runs its task elsewhere', async () => {
    start();
    submit(task('A'));
    await h.advance(TIMEOUT_MS);
    // P1 timed out → FAILED → restarted by the pool → IDLE; A went to P2
    expect(prog('P1').value).toBe('IDLE');
    expect(prog('P1').context.restarts).toBe(1);
    expect(exec.started()).toEqual(['A@P1', 'A@P2']);
    expect(pool().restarts).toEqual({ P1: 1 });
    expect(pool().members[0]!.status).toBe('idle');
    exec.complete('A', {}, 'P2');
    await settle();
    expect(results().map((r) => [r.taskId, r.status, r.programmerId])).toEqual([['A', 'completed', 'P2']]);
  });

  it('escalates when a programmer fails more than max_restarts times within the period', async () => {
    start({ maxRestarts: 2 });
    h.send('P1', { type: 'programmer.fault' });
    await h.advance(1_000);
    h.send('P1', { type: 'programmer.fault' });
    await h.advance(1_000);
    expect(prog('P1').value).toBe('IDLE');
    expect(prog('P1').context.restarts).toBe(2);
    submit(task('A'));
    expect(exec.started()).toEqual(['A@P1']);
    await h.advance(TIMEOUT_MS); // third failure inside the period
    expect(prog('P1').value).toBe('FAILED');
    expect(pool().members[0]!.status).toBe('quarantined');
    const escalations = h.received('Mgr-1', 'supervisor.escalated');
    expect(escalations).toHaveLength(1);
    expect(escalations[0]).toMatchObject({ programmerId: 'P1', taskId: 'A', error: { code: 'PAS_ERR_SUPERVISOR_ESCALATED', details: { cause: { code: 'PAS_ERR_TASK_TIMEOUT' } } } });
    expect(results().map((r) => [r.taskId, r.error?.code])).toEqual([['A', 'PAS_ERR_SUPERVISOR_ESCALATED']]);
    // no more work for P1
    submit(task('B'));
    submit(task('C'));
    expect(exec.started()).toEqual(['A@P1', 'B@P2']);
  });

  it('forgets restarts older than the period, so failures spaced out by SimulatedClock never escalate', async () => {
    start({ maxRestarts: 2 });
    for (let i = 0; i < 5; i++) {
      h.send('P1', { type: 'programmer.fault' });
      await h.advance(PERIOD_MS);
    }
    expect(prog('P1').value).toBe('IDLE');
    expect(prog('P1').context.restarts).toBe(5);
    expect(pool().stats).toMatchObject({ restarts: 5, escalated: 0 });
    expect(pool().restarts).toEqual({ P1: 0 });
  });

  it('a restart expires exactly one period after it happened', async () => {
    start({ maxRestarts: 1 });
    h.send('P1', { type: 'programmer.fault' });
    await h.advance(PERIOD_MS - 1);
    expect(pool().restarts).toEqual({ P1: 1 });
    await h.advance(1);
    expect(pool().restarts).toEqual({ P1: 0 });
    h.send('P1', { type: 'programmer.fault' });
    expect(pool().members[0]!.status).toBe('idle');
    expect(pool().stats.escalated).toBe(0);
  });

  it('puts a quarantined programmer back to work after a manual reset', async () => {
    start({ maxRestarts: 0 });
    h.send('P1', { type: 'programmer.fault' });
    expect(pool().members[0]!.status).toBe('quarantined');
    h.send('P1', { type: 'programmer.reset' });
    expect(pool().members[0]!.status).toBe('idle');
    submit(task('A'));
    expect(exec.started()).toEqual(['A@P1']);
  });

  it('ends every task exactly once under a burst of mixed outcomes', async () => {
    start({ maxQueuePerProgrammer: 5, maxRetries: 1 }, ['P1', 'P2', 'P4']);
    const ids = Array.from({ length: 12 }, (_, i) => `T${i}`);
    for (const id of ids) submit(task(id));
    let round = 0;
    while (results().length < ids.length && round++ < 50) {
      const active = exec.runs.filter((r) => !r.signal.aborted);
      for (const run of active.splice(0)) {
        const n = Number(run.input.task.id.slice(1));
        if (n % 4 === 0 && (run.input.task.attempt ?? 1) === 1) run.resolve({ taskId: run.input.task.id, jobId: 'J1', programmerId: run.input.programmerId, status: 'failed', error: codedError('PAS_ERR_EDIT_NO_MATCH', 'flaky') });
        else run.resolve({ taskId: run.input.task.id, jobId: 'J1', programmerId: run.input.programmerId, status: 'completed' });
      }
      await settle();
      exec.runs.splice(0, exec.runs.length, ...exec.runs.filter((r) => !r.signal.aborted && !(r as { done?: boolean }).done));
    }
    const byTask = new Map<string, number>();
    for (const r of results()) byTask.set(r.taskId, (byTask.get(r.taskId) ?? 0) + 1);
    expect([...byTask.keys()].sort()).toEqual([...ids].sort());
    expect([...byTask.values()].every((n) => n === 1)).toBe(true);
    expect(results().every((r) => r.status === 'completed')).toBe(true);
    expect(pool().stats).toMatchObject({ submitted: 12, completed: 12, redispatched: 3 });
  });
});
