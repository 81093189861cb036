/**
 * The job machine's verify of the merged branch: a job with a verify command (its own or its
 * lane's, carried by the plan) verifies each merge of its queue; a failure with a fix-up runs the
 * fix-up on the merged head once nothing else runs or waits to merge, and merges and verifies
 * again; a failure without one ends the job partial with PAS_ERR_VERIFY_FAILED.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { JobOutcome, JobSpec, TaskResult, TaskSpec } from '../../../machines/domain.ts';
import { jobMachine, type JobContext, type JobInput, type JobPlan, type MergeJobInput, type MergeOutcome, type PlanJobInput, type VerifyJobInput, type VerifyJobOutcome } from '../../../machines/job.machine.ts';
import { controllablePromise, settle, startHarness, type Harness } from '../../support/machine-harness.ts';

const JOB: JobSpec = { id: 'J1', task: 'rename and total', lane: 'Code', submittedAt: '2025-01-01T00:00:00.000Z' };

let h: Harness;
let plan: ReturnType<typeof controllablePromise<JobPlan, PlanJobInput>>;
let merge: ReturnType<typeof controllablePromise<MergeOutcome, MergeJobInput>>;
let verify: ReturnType<typeof controllablePromise<VerifyJobOutcome, VerifyJobInput>>;

function start(job: JobSpec = JOB, extra: Partial<JobInput> = {}) {
  plan = controllablePromise<JobPlan, PlanJobInput>();
  merge = controllablePromise<MergeOutcome, MergeJobInput>();
  verify = controllablePromise<VerifyJobOutcome, VerifyJobInput>();
  const input: JobInput = { job, managerId: 'Mgr-1', maxProgrammers: 4, timeoutMs: 60_000, requeueDelayMs: 250, ...extra };
  h = startHarness({
    recorders: ['pool'],
    children: [{ id: 'J1', systemId: 'job:J1', logic: jobMachine.provide({ actors: { planJob: plan.logic, mergeJob: merge.logic, verifyJob: verify.logic } }), input }],
  });
}

const job = () => h.get('job:J1').getSnapshot() as { value: unknown; context: JobContext };
const submitted = () => h.received('pool', 'task.submitted').map((e) => e.task as TaskSpec);
const outcome = () => h.received('host', 'job.done')[0]?.outcome as JobOutcome | undefined;
const ok = (taskId: string): TaskResult => ({ taskId, jobId: 'J1', programmerId: 'P1', status: 'completed', branch: `pas/J1/${taskId}` });
const finish = (result: TaskResult) => h.send('job:J1', { type: 'task.finished', result });
const merged = (ids: string[], head: string): MergeOutcome => ({ mergedBranch: 'pas/job-J1', head, merged: ids, conflicts: [] });
const failing = (head: string, fixup?: VerifyJobOutcome['fixup']): VerifyJobOutcome => ({ passed: false, command: 'npm-test', exitCode: 1, output: 'FAIL total.test', head, ...(fixup ? { fixup } : {}) });

async function planTwo() {
  plan.last().resolve({ planner: 'llm', subtasks: [{ id: 't1', instruction: 'rename', files: ['a.js'] }, { id: 't2', instruction: 'total', files: ['b.js'] }], repo: '/repo', baseCommit: 'base0', verify: ['npm', 'test'] });
  await settle();
}

async function runToMerge() {
  await planTwo();
  finish(ok('t1'));
  finish(ok('t2'));
  await settle();
}

afterEach(() => h?.stop());

describe('job verify on the merged branch', () => {
  it("gives every subtask the lane's verify from the plan, verifies each merge, and completes when the merged branch passes", async () => {
    start();
    await runToMerge();
    expect(submitted().map((t) => t.verify)).toEqual([['npm', 'test'], ['npm', 'test']]);
    merge.last().resolve(merged(['t1'], 'head1'));
    await settle();
    expect(job().value).toEqual({ active: { running: 'verifying' } });
    expect(verify.last().input).toMatchObject({ managerId: 'Mgr-1', fixups: 0, merge: { head: 'head1' } });
    verify.last().resolve({ passed: true, command: 'npm-test', exitCode: 0, output: 'ok', head: 'head1' });
    await settle();
    merge.last().resolve(merged(['t1', 't2'], 'head2'));
    await settle();
    expect(verify.calls).toHaveLength(2);
    verify.last().resolve({ passed: true, command: 'npm-test', exitCode: 0, output: 'ok', head: 'head2' });
    await settle();
    expect(outcome()).toMatchObject({ status: 'completed', verification: { passed: true, head: 'head2', fixups: 0 } });
    expect(outcome()!.error).toBeUndefined();
  });

  it('surfaces a failing verify of a merge while another subtask still runs, and needs no fix-up when the next merge passes', async () => {
    start();
    await planTwo();
    finish(ok('t1'));
    merge.last().resolve(merged(['t1'], 'head1'));
    await settle();
    verify.last().resolve(failing('head1', { id: 'J1-fix1', instruction: 'fix it', files: ['b.js'] }));
    await settle();
    // t2 still runs: the failure is the job's latest verification, but its fix-up waits for t2's merge
    expect(job().context.verification).toMatchObject({ passed: false, head: 'head1' });
    expect(Object.keys(job().context.pending)).toEqual(['t2']);
    expect(submitted().map((t) => t.id)).toEqual(['t1', 't2']);
    finish(ok('t2'));
    merge.last().resolve(merged(['t1', 't2'], 'head2'));
    await settle();
    verify.last().resolve({ passed: true, command: 'npm-test', exitCode: 0, output: 'ok', head: 'head2' });
    await settle();
    expect(submitted().map((t) => t.id)).toEqual(['t1', 't2']);
    expect(outcome()).toMatchObject({ status: 'completed', verification: { passed: true, head: 'head2', fixups: 0 } });
  });

  it('runs the fix-up on the merged head once nothing else runs, merges and verifies again, and ends partial with PAS_ERR_VERIFY_FAILED when it still fails', async () => {
    start();
    await runToMerge();
    merge.last().resolve(merged(['t1'], 'head1'));
    await settle();
    verify.last().resolve(failing('head1', { id: 'J1-fix1', instruction: 'fix it', files: ['a.js'] }));
    await settle();
    // t2 waits to merge: no fix-up yet
    expect(job().value).toEqual({ active: { running: 'merging' } });
    merge.last().resolve(merged(['t1', 't2'], 'head2'));
    await settle();
    verify.last().resolve(failing('head2', { id: 'J1-fix1', instruction: 'fix it', files: ['b.js'] }));
    await settle();
    expect(job().value).toEqual({ active: { running: 'idle' } });
    expect(submitted().at(-1)).toMatchObject({ id: 'J1-fix1', baseCommit: 'head2', verify: ['npm', 'test'], files: ['b.js'] });
    finish(ok('J1-fix1'));
    await settle();
    expect(merge.last().input.results.map((r) => r.taskId)).toEqual(['t1', 't2', 'J1-fix1']);
    merge.last().resolve(merged(['t1', 't2', 'J1-fix1'], 'head3'));
    await settle();
    expect(verify.last().input.fixups).toBe(1);
    verify.last().resolve(failing('head3'));
    await settle();
    expect(outcome()).toMatchObject({
      status: 'partial',
      verification: { passed: false, exitCode: 1, head: 'head3', fixups: 1 },
      error: { code: 'PAS_ERR_VERIFY_FAILED', details: { command: 'npm-test', output: 'FAIL total.test', fixups: 1 } },
    });
  });

  it('starts the fix-up of a failing merge when the subtask still running fails and merges nothing', async () => {
    start();
    await planTwo();
    finish(ok('t1'));
    merge.last().resolve(merged(['t1'], 'head1'));
    await settle();
    verify.last().resolve(failing('head1', { id: 'J1-fix1', instruction: 'fix it', files: ['a.js'] }));
    await settle();
    expect(submitted().map((t) => t.id)).toEqual(['t1', 't2']);
    finish({ taskId: 't2', jobId: 'J1', programmerId: 'P2', status: 'failed', error: { code: 'PAS_ERR_EDIT_NO_MATCH', retryable: false, message: 'x' } });
    await settle();
    expect(submitted().at(-1)).toMatchObject({ id: 'J1-fix1', baseCommit: 'head1' });
  });

  it('starts no fix-up and no verify after the job timed out, and ends with the timeout', async () => {
    start();
    await planTwo();
    finish(ok('t1'));
    merge.last().resolve(merged(['t1'], 'head1'));
    await settle();
    await h.advance(60_000);
    verify.last().resolve(failing('head1', { id: 'J1-fix1', instruction: 'fix it', files: ['a.js'] }));
    await settle();
    expect(submitted().map((t) => t.id)).toEqual(['t1', 't2']);
    expect(outcome()).toMatchObject({ status: 'partial', error: { code: 'PAS_ERR_TASK_TIMEOUT' }, verification: { passed: false } });
  });

  it('finishes after the merge without verifying when the job has no verify command', async () => {
    start();
    plan.last().resolve({ planner: 'llm', subtasks: [{ id: 't1', instruction: 'x', files: ['a.js'] }], repo: '/repo', baseCommit: 'base0' });
    await settle();
    finish(ok('t1'));
    await settle();
    merge.last().resolve(merged(['t1'], 'head1'));
    await settle();
    expect(verify.calls).toHaveLength(0);
    expect(outcome()).toMatchObject({ status: 'completed' });
    expect(outcome()!.verification).toBeUndefined();
  });

  it("prefers the job body's verify over the lane's", async () => {
    start({ ...JOB, verify: ['node', '--test'] });
    await runToMerge();
    expect(submitted().map((t) => t.verify)).toEqual([['node', '--test'], ['node', '--test']]);
  });
});
