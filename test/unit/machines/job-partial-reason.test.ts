/** Every job that ends partial names a coded reason (README Guarantees), whatever left it partial. */
import { afterEach, describe, expect, it } from 'vitest';
import { codedError } from '../../../machines/error-codes.ts';
import type { JobOutcome, JobSpec, TaskResult } from '../../../machines/domain.ts';
import { jobMachine, type JobPlan, type MergeJobInput, type MergeOutcome, type PlanJobInput } from '../../../machines/job.machine.ts';
import { controllablePromise, settle, startHarness, type Harness } from '../../support/machine-harness.ts';

const JOB: JobSpec = { id: 'J1', task: 'release', lane: 'Code', submittedAt: '2025-01-01T00:00:00.000Z' };
let h: Harness;
let plan: ReturnType<typeof controllablePromise<JobPlan, PlanJobInput>>;
let merge: ReturnType<typeof controllablePromise<MergeOutcome, MergeJobInput>>;

async function start(...ids: string[]) {
  plan = controllablePromise<JobPlan, PlanJobInput>();
  merge = controllablePromise<MergeOutcome, MergeJobInput>();
  h = startHarness({
    recorders: ['pool'],
    children: [{ id: 'J1', systemId: 'job:J1', logic: jobMachine.provide({ actors: { planJob: plan.logic, mergeJob: merge.logic } }), input: { job: JOB, managerId: 'Mgr-1', maxProgrammers: 4, timeoutMs: 60_000 } }],
  });
  plan.last().resolve({ planner: 'llm', subtasks: ids.map((id, i) => ({ id, instruction: `edit ${id}`, files: [`f${i}.ts`] })), repo: '/repo', baseCommit: 'base0' });
  await settle();
}
const ok = (taskId: string): TaskResult => ({ taskId, jobId: 'J1', programmerId: 'P1', status: 'completed' });
const finish = (result: TaskResult) => h.send('job:J1', { type: 'task.finished', result });
const merged = async (out: Omit<MergeOutcome, 'mergedBranch'>) => {
  merge.last().resolve({ mergedBranch: 'pas/job-J1', ...out });
  await settle();
};
const outcome = () => {
  const done = h.received('host', 'job.done');
  expect(done).toHaveLength(1);
  return done[0]!.outcome as JobOutcome;
};

afterEach(() => h?.stop());

describe('a job that ends partial', () => {
  it("names the failed conflict resolver's error when the resolver of a conflicting branch fails", async () => {
    await start('t1', 't2');
    finish(ok('t2'));
    await merged({ head: 'h1', merged: ['t2'], conflicts: [] });
    finish(ok('t1'));
    await merged({ head: 'h1', merged: ['t2'], conflicts: [{ taskId: 't1', files: ['f0.ts'], resolver: 'resolve t1' }] });
    const noMatch = codedError('PAS_ERR_EDIT_NO_MATCH', 'the SEARCH text is not in f0.ts', undefined, false);
    finish({ taskId: 't1-r1', jobId: 'J1', programmerId: 'P2', status: 'failed', error: noMatch });
    await settle();
    expect(outcome()).toMatchObject({ status: 'partial', error: noMatch });
  });

  it('names PAS_ERR_MERGE_CONFLICT with the files when a conflict survives its re-run', async () => {
    await start('t1', 't2');
    finish(ok('t1'));
    await merged({ head: 'h1', merged: ['t1'], conflicts: [] });
    finish(ok('t2'));
    await merged({ head: 'h1', merged: ['t1'], conflicts: [{ taskId: 't2', files: ['f1.ts'] }] });
    finish(ok('t2-r1'));
    await merged({ head: 'h1', merged: ['t1'], conflicts: [{ taskId: 't2-r1', files: ['f1.ts'] }] });
    expect(outcome()).toMatchObject({ status: 'partial', conflicts: ['f1.ts'], error: { code: 'PAS_ERR_MERGE_CONFLICT', details: { files: ['f1.ts'] } } });
  });

  it('names PAS_ERR_GIT when a completed branch was neither merged nor in conflict', async () => {
    await start('t1', 't2');
    finish(ok('t1'));
    await merged({ head: 'h1', merged: ['t1'], conflicts: [] });
    finish(ok('t2'));
    await merged({ head: 'h1', merged: ['t1'], conflicts: [] });
    expect(outcome()).toMatchObject({ status: 'partial', error: { code: 'PAS_ERR_GIT', details: { taskId: 't2' } } });
  });
});
