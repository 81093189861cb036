import { afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import { programmerMachine, type ProgrammerContext } from '../../../machines/programmer.machine.ts';
import { controllableExecutor, settle, startHarness, type Harness } from '../../support/machine-harness.ts';

const TIMEOUT_MS = 10_000;

function task(id = 'T1', extra: Partial<TaskSpec> = {}): TaskSpec {
  return { id, jobId: 'J1', managerId: 'Mgr-Code-01', replyTo: 'job:J1', instruction: 'edit', files: ['a.ts'], ...extra };
}

let h: Harness;
let exec: ReturnType<typeof controllableExecutor>;

function start() {
  exec = controllableExecutor();
  // The host stands in for the pool: it is registered as `pool` and records the reports.
  h = startHarness({
    hostId: 'pool',
    children: [{ id: 'Prog-001', logic: programmerMachine.provide({ actors: { executeTask: exec.logic } }), input: { id: 'Prog-001', timeoutMs: TIMEOUT_MS } }],
  });
}

const snap = () => h.get('Prog-001').getSnapshot() as { value: string; context: ProgrammerContext };
const reports = (type?: string) => h.received('pool', type).filter((e) => e.type.startsWith('programmer.'));

afterEach(() => h?.stop());

describe('programmer', () => {
  it('starts IDLE with nothing done', () => {
    start();
    expect(snap().value).toBe('IDLE');
    expect(snap().context).toMatchObject({ id: 'Prog-001', task: null, completed: 0, failed: 0, restarts: 0, poolId: 'pool' });
  });

  it('executes an assigned task and reports its result to the pool, back in IDLE', async () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    expect(snap().value).toBe('EXECUTING');
    expect(snap().context.task?.id).toBe('T1');
    expect(exec.started()).toEqual(['T1@Prog-001']);
    exec.complete('T1', { summary: 'done' });
    await settle();
    expect(snap().value).toBe('IDLE');
    expect(snap().context.completed).toBe(1);
    expect(reports()).toEqual([
      { type: 'programmer.done', programmerId: 'Prog-001', result: { taskId: 'T1', jobId: 'J1', programmerId: 'Prog-001', status: 'completed', summary: 'done' } },
    ]);
  });

  it('turns a crashing executor into a coded failed result, not a FAILED programmer', async () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    exec.find('T1').reject(new Error('boom'));
    await settle();
    expect(snap().value).toBe('IDLE');
    expect(snap().context.failed).toBe(1);
    const [report] = reports('programmer.done');
    expect(report).toMatchObject({ result: { status: 'failed', error: { code: 'PAS_ERR_EXECUTOR_CRASHED', message: 'boom', retryable: true } } });
  });

  it('keeps a coded error thrown by the executor', async () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    exec.find('T1').reject({ code: 'PAS_ERR_FS_NOT_ALLOWED', retryable: false, message: 'outside the allowlist' });
    await settle();
    expect(reports('programmer.done')[0]).toMatchObject({ result: { error: { code: 'PAS_ERR_FS_NOT_ALLOWED', retryable: false } } });
  });

  it('counts a task-level failure the executor resolves with as failed', async () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    exec.fail('T1', { code: 'PAS_ERR_LLM_SERVER', retryable: true, message: 'no model' });
    await settle();
    expect(snap().context).toMatchObject({ completed: 0, failed: 1 });
  });

  it('cancels its current task: back to IDLE, executor aborted, a cancelled result reported', async () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    h.send('Prog-001', { type: 'task.cancel', taskId: 'T1' });
    expect(snap().value).toBe('IDLE');
    expect(exec.find('T1').signal.aborted).toBe(true);
    expect(reports()).toEqual([
      {
        type: 'programmer.done',
        programmerId: 'Prog-001',
        result: { taskId: 'T1', jobId: 'J1', programmerId: 'Prog-001', status: 'cancelled', error: { code: 'PAS_ERR_TASK_CANCELLED', retryable: false, message: 'cancelled' } },
      },
    ]);
    // a late result of the aborted run changes nothing
    exec.complete('T1');
    await settle();
    expect(reports()).toHaveLength(1);
  });

  it('ignores a cancel for a task it is not running', () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    h.send('Prog-001', { type: 'task.cancel', taskId: 'T2' });
    expect(snap().value).toBe('EXECUTING');
    expect(exec.find('T1').signal.aborted).toBe(false);
  });

  it('times out after timeoutMs into FAILED with PAS_ERR_TASK_TIMEOUT and stops the executor', async () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    await h.advance(TIMEOUT_MS - 1);
    expect(snap().value).toBe('EXECUTING');
    await h.advance(1);
    expect(snap().value).toBe('FAILED');
    expect(snap().context.failure).toEqual({ code: 'PAS_ERR_TASK_TIMEOUT', retryable: true, message: 'no result within the timeout' });
    expect(snap().context.task).toBeNull();
    expect(snap().context.failed).toBe(1);
    expect(snap().context.lastResult).toMatchObject({ taskId: 'T1', status: 'failed', error: { code: 'PAS_ERR_TASK_TIMEOUT' } });
    expect(exec.find('T1').signal.aborted).toBe(true);
    expect(reports()).toEqual([
      { type: 'programmer.failed', programmerId: 'Prog-001', error: { code: 'PAS_ERR_TASK_TIMEOUT', retryable: true, message: 'no result within the timeout' }, task: task() },
    ]);
  });

  it('honours a per-task timeout override', async () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task('T1', { timeoutMs: 500 }) });
    await h.advance(500);
    expect(snap().value).toBe('FAILED');
  });

  it('does not time out a task that finished in time', async () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    await h.advance(TIMEOUT_MS / 2);
    exec.complete('T1');
    await settle();
    await h.advance(TIMEOUT_MS);
    expect(snap().value).toBe('IDLE');
    expect(reports('programmer.failed')).toEqual([]);
  });

  it('resets from FAILED to IDLE, counting the restart and telling the pool it is ready', async () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    await h.advance(TIMEOUT_MS);
    h.send('Prog-001', { type: 'programmer.reset' });
    expect(snap().value).toBe('IDLE');
    expect(snap().context).toMatchObject({ restarts: 1, failure: null });
    expect(reports().map((r) => r.type)).toEqual(['programmer.failed', 'programmer.ready']);
    h.send('Prog-001', { type: 'task.assigned', task: task('T2') });
    expect(snap().value).toBe('EXECUTING');
  });

  it('goes FAILED on a fault while idle, reporting no task', () => {
    start();
    h.send('Prog-001', { type: 'programmer.fault' });
    expect(snap().value).toBe('FAILED');
    expect(snap().context.failed).toBe(0);
    expect(reports()).toEqual([
      { type: 'programmer.failed', programmerId: 'Prog-001', error: { code: 'PAS_ERR_PROGRAMMER_FAILED', retryable: true, message: 'programmer forced into FAILED' }, task: null },
    ]);
  });

  it('goes FAILED on a fault while executing, reporting the task it lost', () => {
    start();
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    h.send('Prog-001', { type: 'programmer.fault', error: { code: 'PAS_ERR_PROGRAMMER_FAILED', retryable: true, message: 'crash' } });
    expect(snap().value).toBe('FAILED');
    expect(exec.find('T1').signal.aborted).toBe(true);
    expect(reports('programmer.failed')[0]).toMatchObject({ task: { id: 'T1' }, error: { message: 'crash' } });
  });

  it('refuses new tasks while FAILED', () => {
    start();
    h.send('Prog-001', { type: 'programmer.fault' });
    h.send('Prog-001', { type: 'task.assigned', task: task() });
    expect(snap().value).toBe('FAILED');
    expect(exec.runs).toHaveLength(0);
  });
});
