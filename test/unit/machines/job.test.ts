import { afterEach, describe, expect, it } from 'vitest';
import { codedError } from '../../../machines/error-codes.ts';
import type { MergeStepFact } from '../../../machines/facts.ts';
import type { JobOutcome, JobResume, JobSpec, TaskResult, TaskSpec } from '../../../machines/domain.ts';
import { capPlan, jobMachine, type JobContext, type JobInput, type JobPlan, type MergeJobInput, type MergeOutcome, type PlanJobInput, type Subtask } from '../../../machines/job.machine.ts';
import { controllablePromise, settle, startHarness, type Harness } from '../../support/machine-harness.ts';

const JOB: JobSpec = { id: 'J1', task: 'add docs', lane: 'Code', files: ['a.ts', 'b.ts'], submittedAt: '2025-01-01T00:00:00.000Z' };
const TIMEOUT_MS = 60_000;
const REQUEUE_MS = 250;

let h: Harness;
let plan: ReturnType<typeof controllablePromise<JobPlan, PlanJobInput>>;
let merge: ReturnType<typeof controllablePromise<MergeOutcome, MergeJobInput>>;

function start(extra: Partial<JobInput> = {}) {
  plan = controllablePromise<JobPlan, PlanJobInput>();
  merge = controllablePromise<MergeOutcome, MergeJobInput>();
  const input: JobInput = { job: JOB, managerId: 'Mgr-1', maxProgrammers: 4, timeoutMs: TIMEOUT_MS, requeueDelayMs: REQUEUE_MS, ...extra };
  h = startHarness({
    recorders: ['pool'],
    children: [{ id: 'J1', systemId: 'job:J1', logic: jobMachine.provide({ actors: { planJob: plan.logic, mergeJob: merge.logic } }), input }],
  });
}

const subtasks = (...ids: string[]): Subtask[] => ids.map((id, i) => ({ id, instruction: `edit ${id}`, files: [`f${i}.ts`] }));
const job = () => h.get('job:J1').getSnapshot() as { value: unknown; status: string; context: JobContext };
const submitted = () => h.received('pool', 'task.submitted').map((e) => e.task as TaskSpec);
const cancels = () => h.received('pool', 'task.cancel').map((e) => e.taskId as string);
const outcome = () => {
  const done = h.received('host', 'job.done');
  expect(done).toHaveLength(1);
  return done[0]!.outcome as JobOutcome;
};
const ok = (taskId: string, extra: Partial<TaskResult> = {}): TaskResult => ({ taskId, jobId: 'J1', programmerId: 'P1', status: 'completed', ...extra });
const finish = (result: TaskResult) => h.send('job:J1', { type: 'task.finished', result });

async function planned(...ids: string[]) {
  plan.last().resolve({ planner: 'llm', subtasks: subtasks(...ids), repo: '/repo', baseCommit: 'base0' });
  await settle();
}

afterEach(() => h?.stop());

describe('capPlan', () => {
  it('keeps a plan within the cap as it is', () => {
    const s = subtasks('a', 'b');
    expect(capPlan(s, 2)).toBe(s);
  });

  it('folds extra subtasks into the first max, round-robin, merging their files', () => {
    const s: Subtask[] = [
      { id: 'a', instruction: 'A', files: ['x'] },
      { id: 'b', instruction: 'B', files: ['y'] },
      { id: 'c', instruction: 'C', files: ['x', 'z'] },
      { id: 'd', instruction: 'D', files: ['w'] },
      { id: 'e', instruction: 'E', files: [] },
    ];
    const capped = capPlan(s, 2);
    expect(capped).toEqual([
      { id: 'a', instruction: 'A\n\nAlso: C\n\nAlso: E', files: ['x', 'z'] },
      { id: 'b', instruction: 'B\n\nAlso: D', files: ['y', 'w'] },
    ]);
    expect(s[0]).toEqual({ id: 'a', instruction: 'A', files: ['x'] });
  });
});

describe('job', () => {
  it('plans, runs every subtask on the pool at once, merges each branch as it finishes in completion order, and reports a completed outcome', async () => {
    start();
    const ref = h.get('job:J1');
    expect(job().value).toEqual({ active: 'planning' });
    expect(plan.last().input).toEqual({ job: JOB, managerId: 'Mgr-1', maxProgrammers: 4 });
    plan.last().resolve({ planner: 'llm', subtasks: subtasks('t1', 't2'), repo: '/repo', baseCommit: 'base0', usage: { input: 10, output: 5 }, costUsd: 0.001 });
    await settle();
    expect(job().value).toEqual({ active: { running: 'idle' } });
    expect(submitted()).toEqual([
      { id: 't1', jobId: 'J1', managerId: 'Mgr-1', replyTo: 'job:J1', instruction: 'edit t1', files: ['f0.ts'], repo: '/repo', baseCommit: 'base0' },
      { id: 't2', jobId: 'J1', managerId: 'Mgr-1', replyTo: 'job:J1', instruction: 'edit t2', files: ['f1.ts'], repo: '/repo', baseCommit: 'base0' },
    ]);
    expect(job().value).toEqual({ active: { running: 'idle' } });
    finish(ok('t2', { tokens: { input: 100, output: 20 }, costUsd: 0.01 }));
    // t2 merges while t1 still runs
    expect(job().value).toEqual({ active: { running: 'merging' } });
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t2']);
    finish(ok('t1', { tokens: { input: 50, output: null }, costUsd: 0.02 }));
    expect(job().context.mergeQueue).toEqual(['t2', 't1']);
    expect(merge.calls).toHaveLength(1);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t2'], conflicts: [] });
    await settle();
    // then t1, on top of what the job branch holds
    expect(merge.calls).toHaveLength(2);
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t2', 't1']);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h2', merged: ['t1', 't2'], conflicts: [] });
    await settle();
    expect(ref.getSnapshot().status).toBe('done');
    expect(outcome()).toEqual({
      jobId: 'J1',
      managerId: 'Mgr-1',
      status: 'completed',
      tasks: [ok('t1', { tokens: { input: 50, output: null }, costUsd: 0.02 }), ok('t2', { tokens: { input: 100, output: 20 }, costUsd: 0.01 })],
      mergedBranch: 'pas/job-J1',
      tokens: { input: 160, output: 25 },
      costUsd: 0.031,
    });
  });

  it('caps the plan at max_programmers subtasks', async () => {
    start({ maxProgrammers: 2 });
    await planned('t1', 't2', 't3');
    expect(submitted().map((t) => t.id)).toEqual(['t1', 't2']);
    expect(submitted()[0]!.files).toEqual(['f0.ts', 'f2.ts']);
  });

  it('fails with the planner error when planning fails', async () => {
    start();
    plan.last().reject({ code: 'PAS_ERR_LLM_SERVER', message: 'no model', retryable: true });
    await settle();
    expect(outcome()).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_LLM_SERVER', message: 'no model', retryable: true }, tasks: [] });
  });

  it('fails with PAS_ERR_PLAN_INVALID when the planner throws something uncoded', async () => {
    start();
    plan.last().reject(new Error('bad json'));
    await settle();
    expect(outcome().error).toEqual({ code: 'PAS_ERR_PLAN_INVALID', retryable: false, message: 'bad json' });
  });

  it('skips the merge and fails when no subtask completed, reporting the first task error', async () => {
    start();
    await planned('t1', 't2');
    const err = codedError('PAS_ERR_LLM_SERVER', 'down');
    finish({ taskId: 't1', jobId: 'J1', programmerId: 'P1', status: 'failed', error: err });
    finish({ taskId: 't2', jobId: 'J1', programmerId: 'P2', status: 'failed', error: err });
    await settle();
    expect(merge.calls).toHaveLength(0);
    expect(outcome()).toMatchObject({ status: 'failed', error: err });
  });

  it('merges what completed and reports partial when some subtasks failed', async () => {
    start();
    await planned('t1', 't2');
    finish(ok('t1'));
    finish({ taskId: 't2', jobId: 'J1', programmerId: 'P2', status: 'failed', error: codedError('PAS_ERR_EDIT_NO_MATCH', 'x', undefined, false) });
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1']);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', merged: ['t1'], conflicts: [] });
    await settle();
    expect(outcome().status).toBe('partial');
  });

  it('re-runs a conflicting subtask once on top of what is merged, then completes', async () => {
    start();
    await planned('t1', 't2');
    finish(ok('t1'));
    finish(ok('t2'));
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [] });
    await settle();
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1', 't2']);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [{ taskId: 't2', files: ['f1.ts'] }] });
    await settle();
    expect(job().value).toEqual({ active: { running: 'idle' } });
    expect(job().context.reruns).toEqual({ t2: 't2-r1' });
    expect(submitted().at(-1)).toMatchObject({ id: 't2-r1', baseCommit: 'h1', instruction: 'edit t2', files: ['f1.ts'] });
    finish(ok('t2-r1'));
    expect(merge.calls).toHaveLength(3);
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1', 't2-r1']);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h2', merged: ['t1', 't2-r1'], conflicts: [] });
    await settle();
    expect(outcome()).toMatchObject({ status: 'completed', tasks: [{ taskId: 't1' }, { taskId: 't2-r1' }] });
    expect(outcome().conflicts).toBeUndefined();
  });

  it('starts the resolver of a conflicting branch at once, while another subtask still runs', async () => {
    start();
    await planned('t1', 't2', 't3');
    finish(ok('t1'));
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [] });
    await settle();
    finish(ok('t2'));
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [{ taskId: 't2', files: ['f1.ts'], resolver: 'resolve t2' }] });
    await settle();
    expect(Object.keys(job().context.pending).sort()).toEqual(['t2-r1', 't3']);
    expect(submitted().at(-1)).toMatchObject({ id: 't2-r1', baseCommit: 'h1', instruction: 'resolve t2', files: ['f1.ts'] });
    // the resolver finishes first and merges; t3 merges after it
    finish(ok('t2-r1'));
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h2', merged: ['t1', 't2-r1'], conflicts: [] });
    await settle();
    finish(ok('t3'));
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1', 't2-r1', 't3']);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h3', merged: ['t1', 't2-r1', 't3'], conflicts: [] });
    await settle();
    expect(outcome()).toMatchObject({ status: 'completed', tasks: [{ taskId: 't1' }, { taskId: 't2-r1' }, { taskId: 't3' }] });
    expect(outcome().conflicts).toBeUndefined();
  });

  it('reports a conflict that survives the re-run with its files, as partial', async () => {
    start();
    await planned('t1', 't2');
    finish(ok('t1'));
    finish(ok('t2'));
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [] });
    await settle();
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [{ taskId: 't2', files: ['f1.ts'] }] });
    await settle();
    finish(ok('t2-r1'));
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [{ taskId: 't2-r1', files: ['f1.ts', 'g.ts'] }] });
    await settle();
    expect(submitted().map((t) => t.id)).toEqual(['t1', 't2', 't2-r1']);
    expect(outcome()).toMatchObject({ status: 'partial', conflicts: ['f1.ts', 'g.ts'], mergedBranch: 'pas/job-J1' });
  });

  it('resubmits a task refused with PAS_ERR_POOL_QUEUE_FULL after the requeue delay', async () => {
    start();
    await planned('t1');
    finish({ taskId: 't1', jobId: 'J1', programmerId: '', status: 'failed', error: { code: 'PAS_ERR_POOL_QUEUE_FULL', retryable: true, message: 'full' } });
    expect(job().context.pending).toHaveProperty('t1');
    await h.advance(REQUEUE_MS - 1);
    expect(submitted().map((t) => t.id)).toEqual(['t1']);
    await h.advance(1);
    expect(submitted().map((t) => t.id)).toEqual(['t1', 't1']);
    finish(ok('t1'));
    expect(job().value).toEqual({ active: { running: 'merging' } });
  });

  it('re-routes a task escalated by the supervisor once, away from the escalated programmer', async () => {
    start();
    await planned('t1');
    const escalated = codedError('PAS_ERR_SUPERVISOR_ESCALATED', 'P1 failed', { programmerId: 'P1' });
    finish({ taskId: 't1', jobId: 'J1', programmerId: 'P1', status: 'failed', error: escalated });
    expect(submitted().at(-1)).toMatchObject({ id: 't1', exclude: ['P1'] });
    expect(job().context.rerouted).toEqual(['t1']);
    // a second escalation is the task's result
    finish({ taskId: 't1', jobId: 'J1', programmerId: 'P2', status: 'failed', error: { ...escalated, details: { programmerId: 'P2' } } });
    await settle();
    expect(submitted()).toHaveLength(2);
    expect(outcome()).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_SUPERVISOR_ESCALATED' } });
  });

  it('counts each task once: a second result for a settled task is ignored', async () => {
    start();
    await planned('t1', 't2');
    finish(ok('t1'));
    finish({ taskId: 't1', jobId: 'J1', programmerId: 'P9', status: 'failed', error: codedError('PAS_ERR_EDIT_NO_MATCH', 'late', undefined, false) });
    finish(ok('zzz'));
    expect(job().context.results).toEqual({ t1: ok('t1') });
    expect(Object.keys(job().context.pending)).toEqual(['t2']);
  });

  it('times out: cancels what still runs, fails it with PAS_ERR_TASK_TIMEOUT, merges what finished and reports the job partial', async () => {
    start();
    await planned('t1', 't2');
    finish(ok('t1'));
    await h.advance(TIMEOUT_MS - 1);
    expect(h.received('host', 'job.done')).toHaveLength(0);
    await h.advance(1);
    expect(cancels()).toEqual(['t2']);
    expect(h.received('host', 'job.done')).toHaveLength(0);
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1']);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [] });
    await settle();
    const out = outcome();
    expect(out.status).toBe('partial');
    expect(out.mergedBranch).toBe('pas/job-J1');
    expect(out.error).toEqual({ code: 'PAS_ERR_TASK_TIMEOUT', retryable: true, message: 'the job ran past its timeout' });
    expect(out.tasks.map((t) => [t.taskId, t.status, t.error?.code])).toEqual([
      ['t1', 'completed', undefined],
      ['t2', 'failed', 'PAS_ERR_TASK_TIMEOUT'],
    ]);
  });

  it('lets a merge already under way finish when the timeout fires', async () => {
    start();
    await planned('t1');
    finish(ok('t1'));
    await settle();
    expect(merge.calls).toHaveLength(1);
    await h.advance(TIMEOUT_MS);
    expect(merge.last().signal.aborted).toBe(false);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [] });
    await settle();
    expect(outcome().status).toBe('completed');
  });

  it('starts no conflict re-run when the timeout fired during the merge, and ends partial with the timeout', async () => {
    start();
    await planned('t1', 't2');
    finish(ok('t1'));
    finish(ok('t2'));
    await settle();
    expect(merge.calls).toHaveLength(1);
    await h.advance(TIMEOUT_MS);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [] });
    await settle();
    // what finished in time still merges after the timeout
    expect(merge.calls).toHaveLength(2);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [{ taskId: 't2', files: ['f1.ts'] }] });
    await settle();
    // Without the timeout the conflict would be re-run; after it, a re-run would have no timeout at all.
    expect(submitted().map((t) => t.id)).toEqual(['t1', 't2']);
    expect(outcome()).toMatchObject({ status: 'partial', conflicts: ['f1.ts'], error: { code: 'PAS_ERR_TASK_TIMEOUT' } });
  });

  it('resumes a job whose conflict re-run was created: runs that re-run (not a new one) on its base and merges it in place of the original', async () => {
    const resume: JobResume = {
      plan: { planner: 'llm', subtasks: subtasks('t1', 't2'), repo: '/repo', baseCommit: 'base0' },
      results: [ok('t1'), ok('t2')],
      reruns: { t2: { id: 't2-r1', baseCommit: 'h1' } },
    };
    start({ resume });
    await settle();
    expect(submitted()).toMatchObject([{ id: 't2-r1', baseCommit: 'h1', instruction: 'edit t2' }]);
    // t1 is queued again (the merge knows the branch holds it), never the original t2
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1']);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [] });
    await settle();
    finish(ok('t2-r1'));
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1', 't2-r1']);
    // The re-run conflicts again: reported, never re-run a second time.
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h2', merged: ['t1'], conflicts: [{ taskId: 't2-r1', files: ['f1.ts'] }] });
    await settle();
    expect(submitted().map((t) => t.id)).toEqual(['t2-r1']);
    expect(outcome()).toMatchObject({ status: 'partial', conflicts: ['f1.ts'] });
  });

  it('resumes a job whose conflict re-run already finished: nothing runs again, the merge takes the re-run', async () => {
    const resume: JobResume = {
      plan: { planner: 'llm', subtasks: subtasks('t1', 't2'), repo: '/repo', baseCommit: 'base0' },
      results: [ok('t1'), ok('t2'), ok('t2-r1')],
      reruns: { t2: { id: 't2-r1', baseCommit: 'h1' } },
    };
    start({ resume });
    await settle();
    expect(submitted()).toEqual([]);
    // Both queued again at once: one merge (no verify command), never the original t2.
    expect(merge.calls).toHaveLength(1);
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1', 't2-r1']);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h2', merged: ['t1', 't2-r1'], conflicts: [] });
    await settle();
    expect(outcome()).toMatchObject({ status: 'completed', tasks: [{ taskId: 't1' }, { taskId: 't2-r1' }] });
  });

  it('resumes a job with finished, unmerged branches in the order they finished, not plan order (a re-run that finished last merges last)', async () => {
    // t3 finished before t2's re-run: merged in plan order, t2-r1 would go first and t3 would then
    // conflict with a head the uninterrupted job never had.
    const resume: JobResume = {
      plan: { planner: 'llm', subtasks: subtasks('t1', 't2', 't3'), repo: '/repo', baseCommit: 'base0' },
      results: [ok('t1'), ok('t2'), ok('t3'), ok('t2-r1')],
      reruns: { t2: { id: 't2-r1', baseCommit: 'h1' } },
    };
    start({ resume });
    await settle();
    expect(submitted()).toEqual([]);
    expect(merge.calls).toHaveLength(1);
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1', 't3', 't2-r1']);
  });

  it('states its facts as they happen: running, plan made, branches merged, re-run created, finished', async () => {
    const facts: Array<[string, unknown]> = [];
    const record = (name: string) => (_: unknown, fact: unknown) => void facts.push([name, fact]);
    plan = controllablePromise<JobPlan, PlanJobInput>();
    merge = controllablePromise<MergeOutcome, MergeJobInput>();
    const logic = jobMachine.provide({
      actors: { planJob: plan.logic, mergeJob: merge.logic },
      actions: Object.fromEntries(['recordJobRunning', 'recordPlanMade', 'recordRerunCreated', 'recordBranchesMerged', 'recordJobFinished'].map((n) => [n, record(n)])),
    });
    h = startHarness({ recorders: ['pool'], children: [{ id: 'J1', systemId: 'job:J1', logic, input: { job: JOB, managerId: 'Mgr-1', maxProgrammers: 1, timeoutMs: TIMEOUT_MS } }] });
    expect(facts).toEqual([['recordJobRunning', { jobId: 'J1', managerId: 'Mgr-1' }]]);
    await planned('t1', 't2');
    // The plan as the job runs it: capped once, at max_programmers.
    expect(facts[1]).toEqual(['recordPlanMade', { jobId: 'J1', managerId: 'Mgr-1', plan: { planner: 'llm', repo: '/repo', baseCommit: 'base0', subtasks: [{ id: 't1', instruction: 'edit t1\n\nAlso: edit t2', files: ['f0.ts', 'f1.ts'] }] } }]);
    finish(ok('t1'));
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: [], conflicts: [{ taskId: 't1', files: ['f0.ts'] }] });
    await settle();
    expect(facts.slice(2).map(([n]) => n)).toEqual(['recordBranchesMerged', 'recordRerunCreated']);
    expect(facts[3]![1]).toMatchObject({ jobId: 'J1', taskId: 't1', rerun: { id: 't1-r1', baseCommit: 'h1' }, task: { id: 't1-r1', baseCommit: 'h1' } });
    finish(ok('t1-r1'));
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h2', merged: ['t1-r1'], conflicts: [] });
    await settle();
    expect(facts.slice(4)).toEqual([
      ['recordBranchesMerged', { jobId: 'J1', merge: { mergedBranch: 'pas/job-J1', head: 'h2', merged: ['t1-r1'], conflicts: [] } }],
      ['recordJobFinished', { outcome: outcome() }],
    ]);
  });

  it('states each merge-queue step: queued in completion order, merging in one merge when there is no verify command, merged or conflicting', async () => {
    const steps: MergeStepFact[] = [];
    plan = controllablePromise<JobPlan, PlanJobInput>();
    merge = controllablePromise<MergeOutcome, MergeJobInput>();
    const logic = jobMachine.provide({ actors: { planJob: plan.logic, mergeJob: merge.logic }, actions: { recordMergeStep: (_: unknown, step: MergeStepFact) => void steps.push(step) } });
    h = startHarness({ recorders: ['pool'], children: [{ id: 'J1', systemId: 'job:J1', logic, input: { job: JOB, managerId: 'Mgr-1', maxProgrammers: 4, timeoutMs: TIMEOUT_MS } }] });
    await planned('t1', 't2', 't3');
    finish(ok('t3'));
    // t1 and t2 finish while t3 merges: they wait, then go in one merge, in the order they finished.
    finish(ok('t2'));
    finish(ok('t1'));
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t3'], conflicts: [] });
    await settle();
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t3', 't2', 't1']);
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h2', merged: ['t3', 't2'], conflicts: [{ taskId: 't1', files: ['f0.ts'] }] });
    await settle();
    expect(steps.map((s) => [s.taskId, s.state, s.queue])).toEqual([
      ['t3', 'queued', ['t3']],
      ['t3', 'merging', []],
      ['t2', 'queued', ['t3', 't2']],
      ['t1', 'queued', ['t3', 't2', 't1']],
      ['t3', 'merged', ['t2', 't1']],
      ['t2', 'merging', []],
      ['t1', 'merging', []],
      ['t2', 'merged', []],
      ['t1', 'conflict', []],
    ]);
    expect(steps.at(-1)).toEqual({ jobId: 'J1', managerId: 'Mgr-1', taskId: 't1', state: 'conflict', queue: [], head: 'h2', files: ['f0.ts'] });
    // the resolver runs while nothing else does; its branch is queued when it finishes
    expect(submitted().at(-1)).toMatchObject({ id: 't1-r1', baseCommit: 'h2' });
  });

  it('times out during planning too', async () => {
    start();
    await h.advance(TIMEOUT_MS);
    expect(plan.last().signal.aborted).toBe(true);
    expect(outcome()).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_TASK_TIMEOUT' } });
  });

  it('is cancelled on job.cancel, cancelling its pending tasks on the pool', async () => {
    start();
    await planned('t1', 't2');
    finish(ok('t1'));
    h.send('job:J1', { type: 'job.cancel' });
    expect(cancels()).toEqual(['t2']);
    expect(outcome().status).toBe('cancelled');
  });

  it('resumes a journaled job without re-planning or redoing finished subtasks', async () => {
    const resume: JobResume = { plan: { planner: 'llm', subtasks: subtasks('t1', 't2'), repo: '/repo' }, results: [ok('t1')] };
    start({ resume });
    await settle();
    expect(plan.calls).toHaveLength(0);
    expect(submitted().map((t) => t.id)).toEqual(['t2']);
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1']);
    finish(ok('t2'));
    merge.last().resolve({ mergedBranch: 'pas/job-J1', head: 'h1', merged: ['t1'], conflicts: [] });
    await settle();
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1', 't2']);
  });
});
