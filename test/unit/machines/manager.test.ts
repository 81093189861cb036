import { afterEach, describe, expect, it } from 'vitest';
import { fromPromise } from 'xstate';
import type { JobOutcome, JobResume, JobSpec, TaskResult, TaskSpec } from '../../../machines/domain.ts';
import { directorMachine, type DirectorContext } from '../../../machines/director.machine.ts';
import { jobMachine, type JobPlan, type MergeJobInput, type MergeOutcome, type PlanJobInput } from '../../../machines/job.machine.ts';
import { managerMachine, type ManagerContext, type ManagerInput } from '../../../machines/manager.machine.ts';
import { settle, startHarness, type ChildSpec, type Harness } from '../../support/machine-harness.ts';

/** Jobs plan one subtask `<jobId>-t1` and merge everything that completed. */
const planJob = fromPromise<JobPlan, PlanJobInput>(async ({ input }) => ({ planner: 'fallback', subtasks: [{ id: `${input.job.id}-t1`, instruction: input.job.task, files: [] }] }));
const mergeJob = fromPromise<MergeOutcome, MergeJobInput>(async ({ input }) => ({ mergedBranch: `pas/job-${input.job.id}`, merged: input.results.map((r) => r.taskId), conflicts: [] }));
const manager = managerMachine.provide({ actors: { job: jobMachine.provide({ actors: { planJob, mergeJob } }) } });

const spec = (id: string): JobSpec => ({ id, task: `job ${id}`, submittedAt: '2025-01-01T00:00:00.000Z' });
const managerInput = (id: string, extra: Partial<ManagerInput> = {}): ManagerInput => ({ id, directorId: 'Dir-Code', maxConcurrent: 1, maxProgrammers: 4, timeoutMs: 600_000, ...extra });

let h: Harness;
afterEach(() => h?.stop());

function start(children: ChildSpec[], recorders: string[]) {
  h = startHarness({ children, recorders: ['pool', ...recorders] });
}

const mgr = (id = 'Mgr-1') => h.get(id).getSnapshot() as { value: string; context: ManagerContext };
const submittedTasks = () => h.received('pool', 'task.submitted').map((e) => e.task as TaskSpec);
const completeTask = (taskId: string, jobId: string) =>
  h.send(`job:${jobId}`, { type: 'task.finished', result: { taskId, jobId, programmerId: 'P1', status: 'completed' } satisfies TaskResult });

describe('manager', () => {
  it('goes EXECUTING with a job, reports its outcome to the Director and returns to IDLE', async () => {
    start([{ id: 'Mgr-1', logic: manager, input: managerInput('Mgr-1') }], ['Dir-Code']);
    expect(mgr().value).toBe('IDLE');
    h.send('Mgr-1', { type: 'job.submitted', job: spec('J1') });
    expect(mgr().value).toBe('EXECUTING');
    await settle();
    expect(submittedTasks().map((t) => [t.id, t.replyTo, t.managerId])).toEqual([['J1-t1', 'job:J1', 'Mgr-1']]);
    completeTask('J1-t1', 'J1');
    await settle();
    const finished = h.received('Dir-Code', 'job.finished');
    expect(finished.map((e) => (e.outcome as JobOutcome).status)).toEqual(['completed']);
    expect(mgr().value).toBe('IDLE');
    expect(mgr().context).toMatchObject({ active: [], queue: [], finished: 1 });
  });

  it('runs at most max_concurrent_tasks jobs and queues the rest in order', async () => {
    start([{ id: 'Mgr-1', logic: manager, input: managerInput('Mgr-1', { maxConcurrent: 2 }) }], ['Dir-Code']);
    for (const id of ['J1', 'J2', 'J3', 'J4']) h.send('Mgr-1', { type: 'job.submitted', job: spec(id) });
    await settle();
    expect(mgr().context.active).toEqual(['J1', 'J2']);
    expect(mgr().context.queue.map((q) => q.job.id)).toEqual(['J3', 'J4']);
    expect(submittedTasks().map((t) => t.id)).toEqual(['J1-t1', 'J2-t1']);
    completeTask('J2-t1', 'J2');
    await settle();
    expect(mgr().context.active).toEqual(['J1', 'J3']);
    expect(submittedTasks().map((t) => t.id)).toEqual(['J1-t1', 'J2-t1', 'J3-t1']);
    for (const id of ['J1', 'J3']) completeTask(`${id}-t1`, id);
    await settle();
    completeTask('J4-t1', 'J4');
    await settle();
    expect(h.received('Dir-Code', 'job.finished').map((e) => (e.outcome as JobOutcome).jobId)).toEqual(['J2', 'J1', 'J3', 'J4']);
    expect(mgr().value).toBe('IDLE');
  });

  it('ignores a job id it already holds', async () => {
    start([{ id: 'Mgr-1', logic: manager, input: managerInput('Mgr-1') }], ['Dir-Code']);
    h.send('Mgr-1', { type: 'job.submitted', job: spec('J1') });
    h.send('Mgr-1', { type: 'job.submitted', job: spec('J1') });
    expect(mgr().context).toMatchObject({ active: ['J1'], queue: [] });
  });

  it('cancels a queued job with a cancelled outcome and a running one through its job actor', async () => {
    start([{ id: 'Mgr-1', logic: manager, input: managerInput('Mgr-1') }], ['Dir-Code']);
    h.send('Mgr-1', { type: 'job.submitted', job: spec('J1') });
    h.send('Mgr-1', { type: 'job.submitted', job: spec('J2') });
    await settle();
    h.send('Mgr-1', { type: 'job.cancel', jobId: 'J2' });
    h.send('Mgr-1', { type: 'job.cancel', jobId: 'J1' });
    await settle();
    expect(h.received('Dir-Code', 'job.finished').map((e) => [(e.outcome as JobOutcome).jobId, (e.outcome as JobOutcome).status])).toEqual([
      ['J2', 'cancelled'],
      ['J1', 'cancelled'],
    ]);
    expect(h.received('pool', 'task.cancel').map((e) => e.taskId)).toEqual(['J1-t1']);
    expect(mgr().value).toBe('IDLE');
  });

  it('counts escalations the supervisor reports', () => {
    start([{ id: 'Mgr-1', logic: manager, input: managerInput('Mgr-1') }], ['Dir-Code']);
    h.send('Mgr-1', { type: 'supervisor.escalated', programmerId: 'P1', taskId: 't', error: { code: 'PAS_ERR_SUPERVISOR_ESCALATED', retryable: true, message: 'x' } });
    expect(mgr().context.escalations).toBe(1);
  });

  it('on a fault stops its jobs, cancels their tasks and hands every job back to the Director', async () => {
    start([{ id: 'Mgr-1', logic: manager, input: managerInput('Mgr-1') }], ['Dir-Code']);
    h.send('Mgr-1', { type: 'job.submitted', job: spec('J1') });
    h.send('Mgr-1', { type: 'job.submitted', job: spec('J2') });
    await settle();
    h.send('Mgr-1', { type: 'manager.fault' });
    expect(mgr().value).toBe('FAILED');
    expect(mgr().context.failure).toEqual({ code: 'PAS_ERR_MANAGER_FAILED', retryable: true, message: 'manager failed' });
    expect(mgr().context).toMatchObject({ active: [], queue: [] });
    expect(h.received('pool', 'task.cancel').map((e) => e.taskId)).toEqual(['J1-t1']);
    expect(h.received('Dir-Code').map((e) => [e.type, (e.job as JobSpec | undefined)?.id ?? e.managerId])).toEqual([
      ['job.bounced', 'J1'],
      ['job.bounced', 'J2'],
      ['manager.failed', 'Mgr-1'],
    ]);
    expect(h.host.system.get('job:J1')).toBeUndefined();
    // while FAILED new jobs bounce straight back
    h.send('Mgr-1', { type: 'job.submitted', job: spec('J3') });
    expect(h.received('Dir-Code', 'job.bounced').map((e) => (e.job as JobSpec).id)).toEqual(['J1', 'J2', 'J3']);
    h.send('Mgr-1', { type: 'manager.reset' });
    expect(mgr().value).toBe('IDLE');
    expect(h.received('Dir-Code', 'manager.ready')).toEqual([{ type: 'manager.ready', managerId: 'Mgr-1' }]);
  });

  it('states where its jobs are and hands a job back with its re-runs, without stating that it finished', async () => {
    const facts: Array<[string, unknown]> = [];
    const record = (name: string) => (_: unknown, fact: unknown) => void facts.push([name, fact]);
    const jobFacts = Object.fromEntries(['recordJobRunning', 'recordPlanMade', 'recordRerunCreated', 'recordBranchesMerged', 'recordJobFinished'].map((n) => [n, record(n)]));
    const merging = fromPromise<MergeOutcome, MergeJobInput>(async ({ input }) => ({ mergedBranch: `pas/job-${input.job.id}`, head: 'h1', merged: [], conflicts: [{ taskId: `${input.job.id}-t1`, files: ['a'] }] }));
    const logic = managerMachine.provide({
      actors: { job: jobMachine.provide({ actors: { planJob, mergeJob: merging }, actions: jobFacts }) },
      actions: { recordJobAtManager: record('recordJobAtManager'), recordJobFinished: record('recordJobFinished') },
    });
    start([{ id: 'Mgr-1', logic, input: managerInput('Mgr-1') }], ['Dir-Code']);
    h.send('Mgr-1', { type: 'job.submitted', job: { ...spec('J1'), lane: 'Code' } });
    await settle();
    completeTask('J1-t1', 'J1');
    await settle();
    // J1-t1 conflicted: its re-run is running when the Manager fails.
    expect(submittedTasks().map((t) => t.id)).toEqual(['J1-t1', 'J1-t1-r1']);
    h.send('Mgr-1', { type: 'manager.fault' });
    expect(facts.map(([name]) => name)).toEqual(['recordJobAtManager', 'recordJobRunning', 'recordPlanMade', 'recordBranchesMerged', 'recordRerunCreated']);
    expect(facts[0]![1]).toEqual({ jobId: 'J1', managerId: 'Mgr-1', lane: 'Code' });
    const [bounced] = h.received('Dir-Code', 'job.bounced');
    expect((bounced!.resume as JobResume).reruns).toEqual({ 'J1-t1': { id: 'J1-t1-r1', baseCommit: 'h1' } });
    expect(h.received('pool', 'task.cancel').map((e) => e.taskId)).toEqual(['J1-t1-r1']);
  });

  it('with its Director: a faulted Manager hands its job back and the Director re-routes it to a healthy Manager that finishes it', async () => {
    start(
      [
        { id: 'Mgr-1', logic: manager, input: managerInput('Mgr-1') },
        { id: 'Mgr-2', logic: manager, input: managerInput('Mgr-2') },
        { id: 'Dir-Code', logic: directorMachine, input: { id: 'Dir-Code', architectId: 'Architect', lane: 'Code', managers: ['Mgr-1', 'Mgr-2'] } },
      ],
      ['Architect'],
    );
    h.send('Dir-Code', { type: 'job.submitted', job: spec('J1') });
    await settle();
    expect(mgr('Mgr-1').context.active).toEqual(['J1']);
    h.send('Mgr-1', { type: 'manager.fault' });
    await settle();
    const director = h.get('Dir-Code').getSnapshot() as { value: string; context: DirectorContext };
    expect(director.context.jobs).toEqual({ J1: 'Mgr-2' });
    expect(director.context.down).toEqual(['Mgr-1']);
    expect(mgr('Mgr-2').context.active).toEqual(['J1']);
    // the task was cancelled once and submitted again by the new Manager's job
    expect(h.received('pool', 'task.cancel').map((e) => e.taskId)).toEqual(['J1-t1']);
    expect(submittedTasks().map((t) => [t.id, t.managerId])).toEqual([
      ['J1-t1', 'Mgr-1'],
      ['J1-t1', 'Mgr-2'],
    ]);
    completeTask('J1-t1', 'J1');
    await settle();
    expect(h.received('Architect', 'job.finished').map((e) => [(e.outcome as JobOutcome).managerId, (e.outcome as JobOutcome).status])).toEqual([['Mgr-2', 'completed']]);
    expect((h.get('Dir-Code').getSnapshot() as { value: string }).value).toBe('IDLE');
  });
});
