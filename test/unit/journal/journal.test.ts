import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codedError } from '../../../machines/error-codes.ts';
import { JOB_STATUSES, TASK_STATUSES } from '../../../machines/statuses.ts';
import type { JobOutcome, JobSpec, TaskResult, TaskSpec } from '../../../machines/domain.ts';
import { isPasError, PasError } from '../../../src/errors.ts';
import { JOURNAL_SCHEMA_VERSION, SPEND_READ_MS, openJournal, type Journal } from '../../../src/journal/journal.ts';

const job = (id: string, extra: Partial<JobSpec> = {}): JobSpec => ({
  id,
  task: `do ${id}`,
  lane: 'Code',
  files: ['a.ts'],
  submittedAt: '2025-01-01T00:00:00.000Z',
  ...extra,
});

const task = (id: string, jobId: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({
  id,
  jobId,
  managerId: 'Mgr-Code-01',
  replyTo: 'Mgr-Code-01',
  instruction: `edit for ${id}`,
  files: ['a.ts'],
  ...extra,
});

const result = (taskId: string, jobId: string, status: TaskResult['status'] = 'completed'): TaskResult => ({
  taskId,
  jobId,
  programmerId: 'Prog-001',
  status,
  tokens: { input: 10, output: 5 },
  costUsd: 0,
});

const outcome = (jobId: string, status: JobOutcome['status'] = 'completed'): JobOutcome => ({
  jobId,
  managerId: 'Mgr-Code-01',
  status,
  tasks: [],
  tokens: { input: 10, output: 5 },
  costUsd: 0.25,
  durationMs: 1200,
});

function expectPasError(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isPasError(caught)).toBe(true);
  expect((caught as PasError).code).toBe(code);
}

describe('journal', () => {
  let dir: string;
  let path: string;
  let journal: Journal;
  let clock: number;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pas-journal-'));
    path = join(dir, 'artifacts', 'pas.db');
    clock = Date.parse('2025-03-01T10:00:00.000Z');
    journal = openJournal(path, { now: () => new Date((clock += 1000)) });
  });

  afterEach(() => {
    journal.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores status CHECKs that allow exactly the job and task statuses of machines/statuses.ts', () => {
    const db = new Database(path, { readonly: true });
    const sql = (table: string) => (db.prepare('SELECT sql FROM sqlite_master WHERE name = ?').get(table) as { sql: string }).sql;
    const allowed = (table: string) => [.../status\s+TEXT NOT NULL CHECK \(status IN \(([^)]*)\)\)/.exec(sql(table))![1]!.matchAll(/'([^']+)'/g)].map((m) => m[1]);
    expect(allowed('jobs')).toEqual([...JOB_STATUSES]);
    expect(allowed('tasks')).toEqual([...TASK_STATUSES]);
    db.close();
  });

  it('opens in WAL mode with synchronous=FULL, a busy timeout and the current schema version', () => {
    expect(journal.pragma('journal_mode')).toBe('wal');
    expect(journal.pragma('synchronous')).toBe(2); // FULL
    expect(journal.pragma('busy_timeout')).toBe(5000);
    expect(journal.schemaVersion).toBe(JOURNAL_SCHEMA_VERSION);
    expect(journal.pragma('user_version')).toBe(JOURNAL_SCHEMA_VERSION);
  });

  it('opens with synchronous=NORMAL, still in WAL mode, when asked to (benchmarks measure what the fsyncs cost)', () => {
    const relaxed = openJournal(join(dir, 'relaxed.db'), { synchronous: 'NORMAL' });
    try {
      expect(relaxed.pragma('journal_mode')).toBe('wal');
      expect(relaxed.pragma('synchronous')).toBe(1); // NORMAL
    } finally {
      relaxed.close();
    }
  });

  it('keeps jobs, tasks, snapshots and spend across close and reopen', () => {
    journal.acceptJob(job('j1'));
    journal.upsertTask(task('t1', 'j1'), 'running');
    journal.saveSnapshot('Mgr-Code-01', { value: 'EXECUTING', context: { n: 3 } });
    journal.spendStore().add('2025-03-01', 0.5);
    journal.close();

    journal = openJournal(path);
    expect(journal.getJob('j1')?.spec).toEqual(job('j1'));
    expect(journal.getTask('t1')?.status).toBe('running');
    expect(journal.loadSnapshot('Mgr-Code-01')).toEqual({ value: 'EXECUTING', context: { n: 3 } });
    expect(journal.spendStore().spent('2025-03-01')).toBe(0.5);
  });

  it('answers the day\'s spend in whole micro-dollars however many calls added up to it (no binary-float remainder)', () => {
    // 0.001003 + 0.001003 + … is 0.010029999999999998 in binary floats: the total a view shows is 0.01003.
    for (let i = 0; i < 10; i++) journal.spendStore().add('2025-03-02', 0.001003);
    journal.close();
    journal = openJournal(path);
    expect(journal.spendStore().spent('2025-03-02')).toBe(0.01003);
  });

  it("keeps each call spend once with the attempt it names, its tokens and model, and lists an attempt's calls in booking order", () => {
    expect(journal.attemptCalls('a-1')).toEqual([]);
    journal.addCallSpend('w1.c1', '2025-03-01', 0.25, { attemptId: 'a-1', tokens: { input: 100, output: null, cache_read: 20 }, model: 'openai/gpt-4o' });
    journal.addCallSpend('w1.c2', '2025-03-01', 0.125, { attemptId: 'a-1' });
    journal.addCallSpend('w1.c2', '2025-03-01', 0.125, { attemptId: 'a-1' });
    journal.addCallSpend('w1.c3', '2025-03-01', 1, { attemptId: 'a-2', model: 'anthropic/claude-sonnet-4' });
    journal.addCallSpend('w1.c4', '2025-03-01', 2);
    expect(journal.attemptCalls('a-1')).toEqual([
      { callId: 'w1.c1', costUsd: 0.25, tokens: { input: 100, output: null, cache_read: 20 }, model: 'openai/gpt-4o' },
      { callId: 'w1.c2', costUsd: 0.125 },
    ]);
    expect(journal.attemptCalls('a-2')).toEqual([{ callId: 'w1.c3', costUsd: 1, model: 'anthropic/claude-sonnet-4' }]);
    expect(journal.spendStore().spent('2025-03-01')).toBe(3.375);
  });

  it("keeps an in-process task's paid call with its running attempt and in the day's spend, a call for a task it does not hold in the spend only, and forgets only those calls at a restart", () => {
    journal.acceptJob(job('j1'));
    journal.startTask(task('t1', 'j1'), 'Prog-001', 1);
    journal.startTask(task('t1', 'j1'), 'Prog-002', 2);
    const spend = journal.spendStore();
    spend.addForTask!('2025-03-01', 0.25, { taskId: 't1', tokens: { input: 100, output: 20 }, model: 'openai/gpt-4o' });
    spend.addForTask!('2025-03-01', 0.125, { taskId: 't1' });
    spend.addForTask!('2025-03-01', 1, { taskId: 'plan-of-j9' });
    journal.addCallSpend('w1.c1', '2025-03-01', 2, { attemptId: 't1.a1.0badc0de' });
    expect(journal.localAttemptCalls('t1', 1)).toEqual([]);
    expect(journal.localAttemptCalls('t1', 2).map(({ callId: _, ...c }) => c)).toEqual([{ costUsd: 0.25, tokens: { input: 100, output: 20 }, model: 'openai/gpt-4o' }, { costUsd: 0.125 }]);
    expect(spend.spent('2025-03-01')).toBe(3.375);
    expect(journal.forgetLocalCalls()).toBe(2);
    expect(journal.localAttemptCalls('t1', 2)).toEqual([]);
    expect(journal.attemptCalls('t1.a1.0badc0de')).toHaveLength(1);
    expect(spend.spent('2025-03-01')).toBe(3.375);
  });

  it('books a receipt row with its usage in one go, once per run and attempt, and says whether any run booked one', () => {
    journal.acceptJob(job('j1'));
    journal.startTask(task('t1', 'j1'), 'Prog-001', 1);
    expect(journal.hasReceipt('t1', 1)).toBe(false);
    const entry = { day: '2025-03-01', agentId: 'Prog-001', jobId: 'j1', taskId: 't1', inputTokens: 10, outputTokens: 2, costUsd: 0.5 };
    expect(journal.recordReceiptNow({ runId: 'r2', taskId: 't1', attempt: 1 }, { result: result('t1', 'j1', 'failed'), line: '{"task_id":"t1"}' }, entry)).toBe(true);
    expect(journal.recordReceiptNow({ runId: 'r2', taskId: 't1', attempt: 1 }, { result: result('t1', 'j1', 'failed'), line: '{"task_id":"t1"}' }, entry)).toBe(false);
    expect(journal.hasReceipt('t1', 1)).toBe(true);
    expect(journal.hasReceipt('t1', 2)).toBe(false);
    expect(journal.usageLedger().usage('2025-03-01', 'Prog-001')).toEqual({ tasks: 1, input_tokens: 10, output_tokens: 2, cost_usd: 0.5 });
    expect(journal.bookedReceiptLines()).toEqual([{ runId: 'r2', taskId: 't1', attempt: 1, line: '{"task_id":"t1"}' }]);
  });

  it('keeps the call spends of a journal made before they named their attempt when it opens it at the current schema', () => {
    journal.addCallSpend('w1.old', '2025-03-01', 0.5);
    journal.close();
    // The journal as schema version 3 left it: call_spend without the attempt's columns (and receipts without results).
    const raw = new Database(path);
    raw.exec('DROP INDEX call_spend_attempt');
    for (const column of ['attempt_id', 'tokens', 'model']) raw.exec(`ALTER TABLE call_spend DROP COLUMN ${column}`);
    raw.exec('DROP INDEX receipts_index_task');
    for (const column of ['result', 'line']) raw.exec(`ALTER TABLE receipts_index DROP COLUMN ${column}`);
    raw.pragma('user_version = 3');
    raw.close();

    journal = openJournal(path);
    expect(journal.schemaVersion).toBe(JOURNAL_SCHEMA_VERSION);
    // The call booked before is still fenced, and counted once.
    expect(journal.addCallSpend('w1.old', '2025-03-01', 0.5)).toBe(false);
    expect(journal.addCallSpend('w1.new', '2025-03-01', 0.25, { attemptId: 'a-9' })).toBe(true);
    expect(journal.attemptCalls('a-9')).toEqual([{ callId: 'w1.new', costUsd: 0.25 }]);
    expect(journal.spendStore().spent('2025-03-01')).toBe(0.75);
  });

  it('refuses to open a journal written by a newer schema', () => {
    journal.close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${JOURNAL_SCHEMA_VERSION + 1}`);
    raw.close();
    expectPasError(() => openJournal(path), 'PAS_ERR_JOURNAL');
    journal = openJournal(':memory:');
  });

  it('accepts a job once and returns the stored job when the same id is accepted again', () => {
    const first = journal.acceptJob(job('j1'));
    expect(first.created).toBe(true);
    expect(first.job).toMatchObject({ id: 'j1', status: 'accepted', lane: 'Code', managerId: null, startedAt: null });

    const second = journal.acceptJob(job('j1', { task: 'something else' }));
    expect(second.created).toBe(false);
    expect(second.job.spec.task).toBe('do j1');
    expect(journal.countJobs()).toBe(1);
  });

  it('stamps started_at when a job starts running and keeps it on later updates', () => {
    journal.acceptJob(job('j1'));
    expect(journal.setJobStatus('j1', 'running', { managerId: 'Mgr-Code-02' })).toBe(true);
    const started = journal.getJob('j1');
    expect(started?.managerId).toBe('Mgr-Code-02');
    expect(started?.startedAt).not.toBeNull();
    journal.setJobStatus('j1', 'running');
    expect(journal.getJob('j1')?.startedAt).toBe(started?.startedAt);
    expect(journal.getJob('j1')?.managerId).toBe('Mgr-Code-02');
  });

  it('never lets a later non-terminal update overwrite a finished job', () => {
    journal.acceptJob(job('j1'));
    journal.setJobStatus('j1', 'running');
    expect(journal.finishJob(outcome('j1', 'partial'))).toBe(true);
    expect(journal.setJobStatus('j1', 'running')).toBe(false);
    expect(journal.setJobStatus('j1', 'accepted')).toBe(false);
    expect(journal.finishJob(outcome('j1', 'failed'))).toBe(false);
    const stored = journal.getJob('j1');
    expect(stored?.status).toBe('partial');
    expect(stored?.outcome).toEqual(outcome('j1', 'partial'));
    expect(stored?.finishedAt).not.toBeNull();
  });

  it('measures a missing outcome duration from the job start with the journal clock', () => {
    journal.acceptJob(job('j1'));
    journal.setJobStatus('j1', 'running');
    const { durationMs: _omit, ...withoutDuration } = outcome('j1');
    clock += 4000;
    expect(journal.finishJob(withoutDuration)).toBe(true);
    // started at tick t, finished at t + 4000 (skip) + 1000 (tick)
    expect(journal.getJob('j1')?.outcome?.durationMs).toBe(5000);
  });

  it('records a cancellation error set through setJobStatus', () => {
    journal.acceptJob(job('j1'));
    const error = codedError('PAS_ERR_TASK_CANCELLED', 'user cancelled');
    expect(journal.setJobStatus('j1', 'cancelled', { error })).toBe(true);
    expect(journal.getJob('j1')).toMatchObject({ status: 'cancelled', error });
    expect(journal.getJob('j1')?.finishedAt).not.toBeNull();
  });

  it('answers unknown job and task ids with not-found errors', () => {
    expectPasError(() => journal.setJobStatus('nope', 'running'), 'PAS_ERR_JOB_NOT_FOUND');
    expectPasError(() => journal.finishJob(outcome('nope')), 'PAS_ERR_JOB_NOT_FOUND');
    expectPasError(() => journal.setTaskStatus('nope', 'running'), 'PAS_ERR_TASK_NOT_FOUND');
    expectPasError(() => journal.finishTask(result('nope', 'j')), 'PAS_ERR_TASK_NOT_FOUND');
    expectPasError(() => journal.markMerged('nope'), 'PAS_ERR_TASK_NOT_FOUND');
    expect(journal.getJob('nope')).toBeUndefined();
    expect(journal.getTask('nope')).toBeUndefined();
  });

  it('lists jobs newest first, filtered by status and paged', () => {
    for (const id of ['j1', 'j2', 'j3', 'j4']) journal.acceptJob(job(id));
    journal.setJobStatus('j2', 'running');
    journal.finishJob(outcome('j3'));
    expect(journal.listJobs().map((j) => j.id)).toEqual(['j4', 'j3', 'j2', 'j1']);
    expect(journal.listJobs({ limit: 2, offset: 1 }).map((j) => j.id)).toEqual(['j3', 'j2']);
    expect(journal.listJobs({ status: 'accepted' }).map((j) => j.id)).toEqual(['j4', 'j1']);
    expect(journal.listJobs({ status: ['running', 'completed'] }).map((j) => j.id)).toEqual(['j3', 'j2']);
    expect(journal.listJobs({ status: [] })).toEqual([]);
    expect(journal.countJobs(['accepted', 'running'])).toBe(3);
    expect(journal.unfinishedJobs().map((j) => j.id)).toEqual(['j1', 'j2', 'j4']);
  });

  it('finishes a task once; a second finish is a no-op that returns false', () => {
    journal.acceptJob(job('j1'));
    journal.upsertTask(task('t1', 'j1'));
    journal.setTaskStatus('t1', 'running', { programmerId: 'Prog-003', attempt: 1 });
    expect(journal.getTask('t1')).toMatchObject({ status: 'running', programmerId: 'Prog-003', attempt: 1 });

    expect(journal.finishTask(result('t1', 'j1'))).toBe(true);
    expect(journal.finishTask(result('t1', 'j1', 'failed'))).toBe(false);
    expect(journal.setTaskStatus('t1', 'running')).toBe(false);
    const stored = journal.getTask('t1');
    expect(stored?.status).toBe('completed');
    expect(stored?.programmerId).toBe('Prog-001');
    expect(stored?.result).toEqual(result('t1', 'j1'));
    expect(stored?.finishedAt).not.toBeNull();
  });

  it('keeps a failed task result and its error', () => {
    journal.upsertTask(task('t1', 'j1'), 'running');
    const failed: TaskResult = {
      ...result('t1', 'j1', 'failed'),
      error: { code: 'PAS_ERR_TASK_TIMEOUT', retryable: true, message: 'no progress' },
    };
    expect(journal.finishTask(failed)).toBe(true);
    expect(journal.getTask('t1')).toMatchObject({ status: 'failed', error: failed.error, result: failed });
  });

  it('marks a task merged once', () => {
    journal.upsertTask(task('t1', 'j1'));
    expect(journal.getTask('t1')?.merged).toBe(false);
    expect(journal.markMerged('t1')).toBe(true);
    expect(journal.markMerged('t1')).toBe(false);
    expect(journal.getTask('t1')?.merged).toBe(true);
  });

  it('ignores an upsert of a finished task unless it is a higher attempt, which reopens it', () => {
    journal.upsertTask(task('t1', 'j1', { attempt: 1 }), 'running');
    journal.finishTask(result('t1', 'j1', 'failed'));
    expect(journal.upsertTask(task('t1', 'j1', { attempt: 1 }), 'queued')).toBe(false);
    expect(journal.getTask('t1')?.status).toBe('failed');

    expect(journal.upsertTask(task('t1', 'j1', { attempt: 2, exclude: ['Prog-001'] }), 'queued')).toBe(true);
    const reopened = journal.getTask('t1');
    expect(reopened).toMatchObject({ status: 'queued', attempt: 2, result: null, error: null, finishedAt: null, startedAt: null });
    expect(reopened?.spec.exclude).toEqual(['Prog-001']);
  });

  it('queues a task once: queueing a known task id writes nothing', () => {
    journal.acceptJob(job('J1'));
    expect(journal.queueTask(task('T1', 'J1', { attempt: 2 }))).toBe(true);
    expect(journal.getTask('T1')).toMatchObject({ status: 'queued', attempt: 2, startedAt: null, spec: { instruction: 'edit for T1' } });
    journal.startTask(task('T1', 'J1'), 'Prog-001', 1);
    expect(journal.queueTask(task('T1', 'J1', { instruction: 'other' }))).toBe(false);
    expect(journal.getTask('T1')).toMatchObject({ status: 'running', attempt: 3, spec: { instruction: 'edit for T1' } });
  });

  it('starts a task as the next attempt on its programmer, inserting an unknown one and reopening a finished one', () => {
    journal.acceptJob(job('J1'));
    expect(journal.taskAttempt('T1')).toBeUndefined();
    // Unknown: inserted as running with the pool's attempt.
    expect(journal.startTask(task('T1', 'J1'), 'Prog-001', 1)).toBe(1);
    const first = journal.getTask('T1')!;
    expect(first).toMatchObject({ status: 'running', attempt: 1, programmerId: 'Prog-001', spec: { attempt: 1 }, finishedAt: null });
    expect(first.startedAt).toBe(first.createdAt);
    expect(journal.taskAttempt('T1')).toBe(1);
    // A failed attempt with an error, then started again (its job sent it again): the count goes on and the finish is cleared.
    expect(journal.finishTask({ ...result('T1', 'J1', 'failed'), error: codedError('PAS_ERR_LLM_CONNECTION', 'down') })).toBe(true);
    expect(journal.startTask(task('T1', 'J1'), 'Prog-002', 1)).toBe(2);
    const second = journal.getTask('T1')!;
    expect(second).toMatchObject({ status: 'running', attempt: 2, programmerId: 'Prog-002', spec: { attempt: 2 }, result: null, error: null, finishedAt: null });
    expect(second.startedAt! > first.startedAt!).toBe(true);
    expect(second.createdAt).toBe(first.createdAt);
    // A pool re-dispatch numbered higher than the journal keeps the pool's number.
    expect(journal.startTask(task('T1', 'J1'), 'Prog-003', 5)).toBe(5);
    expect(journal.getTask('T1')).toMatchObject({ attempt: 5, programmerId: 'Prog-003', status: 'running' });
    expect(journal.finishTask(result('T1', 'J1'))).toBe(true);
    expect(journal.getTask('T1')).toMatchObject({ status: 'completed', attempt: 5, programmerId: 'Prog-001' });
  });

  it('updates the spec of an unfinished task on upsert', () => {
    journal.upsertTask(task('t1', 'j1'), 'queued');
    expect(journal.upsertTask(task('t1', 'j1', { instruction: 'changed' }), 'queued')).toBe(true);
    expect(journal.getTask('t1')?.spec.instruction).toBe('changed');
  });

  it('returns tasks of a job in creation order and the running ones', () => {
    journal.upsertTask(task('t2', 'j1'), 'running');
    journal.upsertTask(task('t1', 'j1'), 'queued');
    journal.upsertTask(task('t3', 'j2'), 'running');
    expect(journal.tasksForJob('j1').map((t) => t.id)).toEqual(['t2', 't1']);
    expect(journal.runningTasks().map((t) => t.id)).toEqual(['t2', 't3']);
    expect(journal.queuedTasks().map((t) => t.id)).toEqual(['t1']);
  });

  it('recover in requeue mode turns running tasks back into queued ones and reports them', () => {
    journal.acceptJob(job('j1'));
    journal.setJobStatus('j1', 'running');
    journal.upsertTask(task('t1', 'j1'), 'queued');
    journal.setTaskStatus('t1', 'running', { programmerId: 'Prog-002' });
    journal.upsertTask(task('t2', 'j1'), 'running');
    journal.finishTask(result('t2', 'j1'));

    const report = journal.recover({ mode: 'requeue' });
    expect(report.mode).toBe('requeue');
    expect(report.tasks.map((t) => [t.id, t.status, t.programmerId, t.startedAt])).toEqual([['t1', 'queued', null, null]]);
    expect(report.previousProgrammers).toEqual({ t1: 'Prog-002' });
    expect(report.unfinishedJobs.map((j) => j.id)).toEqual(['j1']);
    expect(journal.getTask('t2')?.status).toBe('completed');
    expect(journal.runningTasks()).toEqual([]);
    expect(journal.recover({ mode: 'requeue' }).tasks).toEqual([]);
  });

  it('recover finishes with its booked result a running task whose current attempt booked a completed receipt (killed before the finish was journaled) and requeues a task whose attempt booked a failed one, counting no usage itself', () => {
    journal.acceptJob(job('j1'));
    journal.setJobStatus('j1', 'running');
    journal.startTask(task('t1', 'j1'), 'Prog-003', 1);
    journal.startTask(task('t2', 'j1'), 'Prog-004', 1);
    journal.startTask(task('t3', 'j1'), 'Prog-005', 1);
    journal.startTask(task('t3', 'j1'), 'Prog-006', 2);
    const done: TaskResult = { ...result('t1', 'j1'), programmerId: 'Prog-003', branch: 'pas/j1/t1', commit: 'a'.repeat(40), tokens: { input: 287, output: 28 }, costUsd: 0.000988 };
    const failed: TaskResult = { ...result('t2', 'j1', 'failed'), programmerId: 'Prog-004', error: { code: 'PAS_ERR_LLM_SERVER', retryable: true, message: 'down' }, tokens: { input: 100, output: 0 }, costUsd: 0.00025 };
    expect(journal.recordReceipt({ runId: 'r-old', taskId: 't1', attempt: 1 }, { result: done, line: '{"task_id":"t1"}' })).toBe(true);
    expect(journal.recordReceipt({ runId: 'r-old', taskId: 't2', attempt: 1 }, { result: failed, line: '{"task_id":"t2"}' })).toBe(true);
    // A receipt of t3's first attempt: t3 runs its second now, which booked nothing.
    expect(journal.recordReceipt({ runId: 'r-old', taskId: 't3', attempt: 1 }, { result: { ...result('t3', 'j1'), programmerId: 'Prog-005' }, line: '{"task_id":"t3"}' })).toBe(true);
    journal.close();
    journal = openJournal(path);
    // The lines the restart makes sure are written first (t3's first attempt too: a kill may have cut it off).
    const lines = journal.bookedReceiptLines();
    expect(lines.map((l) => [l.taskId, l.attempt, l.line])).toEqual([
      ['t1', 1, '{"task_id":"t1"}'],
      ['t2', 1, '{"task_id":"t2"}'],
      ['t3', 1, '{"task_id":"t3"}'],
    ]);
    journal.receiptLinesWritten(lines);
    expect(journal.bookedReceiptLines()).toEqual([]);

    const report = journal.recover({ mode: 'requeue' });
    expect(report.finishedFromReceipts).toEqual(['t1']);
    expect(journal.getTask('t1')).toMatchObject({ status: 'completed', result: done });
    expect(report.tasks.map((t) => [t.id, t.status])).toEqual([
      ['t2', 'queued'],
      ['t3', 'queued'],
    ]);
    // The usage was booked with each receipt (book-receipt.ts), never by the recovery.
    const day = new Date().toISOString().slice(0, 10);
    for (const p of ['Prog-003', 'Prog-004', 'Prog-005']) expect(journal.usageLedger().usage(day, p).tasks).toBe(0);
    // Recovering again changes nothing more.
    expect(journal.recover({ mode: 'requeue' }).finishedFromReceipts).toEqual([]);
  });

  it('does not take again at recovery the booked result of an attempt whose end the pool journaled, though its retry still waits in the queue', () => {
    journal.acceptJob(job('j1'));
    journal.startTask(task('t1', 'j1'), 'Prog-001', 1);
    const failed: TaskResult = { ...result('t1', 'j1', 'failed'), error: { code: 'PAS_ERR_LLM_SERVER', retryable: true, message: 'down' }, tokens: { input: 690, output: 43 }, costUsd: 0.002156 };
    journal.recordReceipt({ runId: 'r-old', taskId: 't1', attempt: 1 }, { result: failed, line: '{"task_id":"t1"}' });
    // The pool's attempt end (the usage is booked with it); the retry waits for a free programmer.
    journal.usageLedger().add({ day: '2025-03-01', agentId: 'Prog-001', jobId: 'j1', taskId: 't1', inputTokens: 690, outputTokens: 43, costUsd: 0.002156 });
    journal.attemptEnded('t1');
    journal.close();
    journal = openJournal(path);

    const report = journal.recover({ mode: 'requeue' });
    expect(report.finishedFromReceipts).toEqual([]);
    expect(report.tasks.map((t) => [t.id, t.status])).toEqual([['t1', 'queued']]);
    expect(journal.usageLedger().usage('2025-03-01', 'Prog-001')).toEqual({ tasks: 1, input_tokens: 690, output_tokens: 43, cost_usd: 0.002156 });
    expect(journal.usageLedger().usage(new Date().toISOString().slice(0, 10), 'Prog-001').tasks).toBe(0);
  });

  it('says an attempt was taken only once its booked result was spent (the pool journaled its end, or a recovery took it), not while it waits, nor for an attempt with no receipt', () => {
    journal.acceptJob(job('j1'));
    journal.startTask(task('t1', 'j1'), 'Prog-001', 1);
    expect(journal.attemptTaken('t1', 1)).toBe(false);
    journal.recordReceipt({ runId: 'r1', taskId: 't1', attempt: 1 }, { result: result('t1', 'j1', 'failed'), line: '{"task_id":"t1"}' });
    journal.receiptLinesWritten([{ runId: 'r1', taskId: 't1', attempt: 1 }]);
    expect(journal.attemptTaken('t1', 1), 'its line is written, its result not yet heard').toBe(false);
    journal.attemptEnded('t1');
    expect(journal.attemptTaken('t1', 1)).toBe(true);
    expect(journal.attemptTaken('t1', 2)).toBe(false);
    // A recovery that takes a booked result marks it so too.
    journal.startTask(task('t1', 'j1'), 'Prog-002', 2);
    journal.recordReceipt({ runId: 'r1', taskId: 't1', attempt: 2 }, { result: result('t1', 'j1', 'failed'), line: '{"task_id":"t1"}' });
    journal.recover({ mode: 'requeue' });
    expect(journal.attemptTaken('t1', 2)).toBe(true);
  });

  it("marks taken, when the pool journals its end, the booked result of an attempt adopted after a restart, keyed by the attempt's own lower number", () => {
    journal.acceptJob(job('j1'));
    journal.startTask(task('t1', 'j1'), 'Prog-001', 1);
    // A restart: t1 resumes as attempt 2 and adopts attempt 1, still running on its worker.
    journal.recover({ mode: 'requeue' });
    journal.startTask(task('t1', 'j1'), 'Prog-002', 2);
    journal.recordReceipt({ runId: 'r2', taskId: 't1', attempt: 1 }, { result: result('t1', 'j1', 'failed'), line: '{"task_id":"t1"}' });
    expect(journal.attemptTaken('t1', 1)).toBe(false);
    journal.attemptEnded('t1');
    expect(journal.attemptTaken('t1', 1)).toBe(true);
  });

  it('recover in interrupt mode marks running tasks interrupted with PAS_ERR_TASK_INTERRUPTED', () => {
    journal.upsertTask(task('t1', 'j1'), 'queued');
    journal.setTaskStatus('t1', 'running', { programmerId: 'Prog-004' });
    journal.upsertTask(task('t2', 'j1'), 'queued');

    const report = journal.recover({ mode: 'interrupt' });
    expect(report.tasks).toHaveLength(1);
    const interrupted = journal.getTask('t1');
    expect(interrupted?.status).toBe('interrupted');
    expect(interrupted?.error).toMatchObject({ code: 'PAS_ERR_TASK_INTERRUPTED', retryable: true, details: { programmerId: 'Prog-004' } });
    expect(interrupted?.finishedAt).not.toBeNull();
    expect(journal.getTask('t2')?.status).toBe('queued');
    expect(journal.finishTask(result('t1', 'j1'))).toBe(false);
  });

  it('saves, replaces, lists and deletes actor snapshots', () => {
    journal.saveSnapshot('Prog-001', { value: 'IDLE' });
    journal.saveSnapshot('Prog-001', { value: 'EXECUTING' });
    journal.saveSnapshot('Mgr-Code-01', { value: 'IDLE' });
    expect(journal.loadSnapshot('Prog-001')).toEqual({ value: 'EXECUTING' });
    expect(journal.snapshotIds()).toEqual(['Mgr-Code-01', 'Prog-001']);
    expect(journal.deleteSnapshot('Prog-001')).toBe(true);
    expect(journal.deleteSnapshot('Prog-001')).toBe(false);
    expect(journal.loadSnapshot('Prog-001')).toBeUndefined();
    expectPasError(() => journal.saveSnapshot('x', undefined), 'PAS_ERR_JOURNAL');
  });

  it('adds spend per day and refuses amounts that are not finite and non-negative', () => {
    const spend = journal.spendStore();
    expect(spend.spent('2025-03-01')).toBe(0);
    spend.add('2025-03-01', 0.25);
    spend.add('2025-03-01', 0.5);
    spend.add('2025-03-02', 1);
    expect(spend.spent('2025-03-01')).toBeCloseTo(0.75, 10);
    expect(spend.spent('2025-03-02')).toBe(1);
    expectPasError(() => spend.add('2025-03-01', Number.NaN), 'PAS_ERR_JOURNAL');
    expectPasError(() => spend.add('2025-03-01', -1), 'PAS_ERR_JOURNAL');
    expect(spend.spent('2025-03-01')).toBeCloseTo(0.75, 10);
  });

  it('sees its own spend at once and another connection\'s within SPEND_READ_MS, reading the database once in between', () => {
    let at = Date.parse('2025-03-01T10:00:00.000Z');
    const mine = openJournal(join(dir, 'shared.db'), { now: () => new Date(at) });
    const other = openJournal(join(dir, 'shared.db'));
    try {
      const spend = mine.spendStore();
      expect(spend.spent('2025-03-01')).toBe(0);
      other.spendStore().add('2025-03-01', 2);
      expect(spend.spent('2025-03-01')).toBe(0);
      spend.add('2025-03-01', 0.5);
      expect(spend.spent('2025-03-01')).toBe(2.5);
      other.spendStore().add('2025-03-01', 1);
      at += SPEND_READ_MS - 1;
      expect(spend.spent('2025-03-01')).toBe(2.5);
      at += 1;
      expect(spend.spent('2025-03-01')).toBe(3.5);
      // A clock that went back re-reads too.
      other.spendStore().add('2025-03-01', 1);
      at -= 10;
      expect(spend.spent('2025-03-01')).toBe(4.5);
    } finally {
      mine.close();
      other.close();
    }
  });

  it('detects a duplicate receipt for the same run, task and attempt', () => {
    expect(journal.recordReceipt({ runId: 'r1', taskId: 't1', attempt: 1 })).toBe(true);
    expect(journal.recordReceipt({ runId: 'r1', taskId: 't1', attempt: 1 })).toBe(false);
    expect(journal.recordReceipt({ runId: 'r1', taskId: 't1', attempt: 2 })).toBe(true);
    expect(journal.recordReceipt({ runId: 'r2', taskId: 't1', attempt: 1 })).toBe(true);
  });

  it('counts jobs and tasks by status, zero for statuses never seen', () => {
    journal.acceptJob(job('j1'));
    journal.acceptJob(job('j2'));
    journal.finishJob(outcome('j2', 'failed'));
    journal.upsertTask(task('t1', 'j1'), 'running');
    journal.upsertTask(task('t2', 'j1'), 'queued');
    journal.saveSnapshot('a', {});
    expect(journal.counts()).toEqual({
      jobs: { accepted: 1, running: 0, completed: 0, partial: 0, failed: 1, cancelled: 0 },
      tasks: { queued: 1, running: 1, completed: 0, failed: 0, cancelled: 0, interrupted: 0 },
      snapshots: 1,
    });
  });

  it('wraps use after close as PAS_ERR_JOURNAL and closes idempotently', () => {
    journal.close();
    expectPasError(() => journal.getJob('j1'), 'PAS_ERR_JOURNAL');
    expectPasError(() => journal.spendStore().spent('2025-03-01'), 'PAS_ERR_JOURNAL');
    expect(() => journal.close()).not.toThrow();
    journal = openJournal(':memory:');
  });

  it('wraps an unopenable path as PAS_ERR_JOURNAL', () => {
    expectPasError(() => openJournal(join(dir, 'artifacts', 'pas.db', 'inside-a-file.db')), 'PAS_ERR_JOURNAL');
  });
});

describe('journal deferred commits', () => {
  it('groups the writes of one event-loop iteration into one transaction, committed at the end of the iteration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pas-journal-defer-'));
    const file = join(dir, 'pas.db');
    const journal = openJournal(file);
    const other = new Database(file, { readonly: true });
    try {
      journal.acceptJob({ id: 'J1', task: 't', submittedAt: '2026-01-01T00:00:00.000Z' });
      journal.deferCommit();
      journal.setJobStatus('J1', 'running', { managerId: 'Mgr-Code-01' });
      journal.upsertTask({ id: 'T1', jobId: 'J1', managerId: 'Mgr-Code-01', replyTo: 'job:J1', instruction: 'x', files: [] }, 'queued');
      // Visible to this process at once, not yet to another connection.
      expect(journal.getJob('J1')!.status).toBe('running');
      expect(other.prepare('SELECT status FROM jobs WHERE id = ?').get('J1')).toEqual({ status: 'accepted' });
      expect(other.prepare('SELECT COUNT(*) AS n FROM tasks').get()).toEqual({ n: 0 });
      await new Promise((resolve) => setImmediate(resolve));
      expect(other.prepare('SELECT status FROM jobs WHERE id = ?').get('J1')).toEqual({ status: 'running' });
      expect(other.prepare('SELECT COUNT(*) AS n FROM tasks').get()).toEqual({ n: 1 });
    } finally {
      other.close();
      journal.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('commits a group without SQLite\'s fsync and puts synchronous=FULL back after it; synced() resolves once it is on disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pas-journal-defer-'));
    const file = join(dir, 'pas.db');
    const journal = openJournal(file);
    const other = new Database(file, { readonly: true });
    try {
      journal.acceptJob({ id: 'J3', task: 't', submittedAt: '2026-01-01T00:00:00.000Z' });
      journal.deferCommit();
      // The group's fsync is the thread pool's, not SQLite's on the event loop.
      expect(journal.pragma('synchronous')).toBe(1);
      journal.setJobStatus('J3', 'running', { managerId: 'Mgr-Code-01' });
      const synced = journal.synced();
      expect(other.prepare('SELECT status FROM jobs WHERE id = ?').get('J3')).toEqual({ status: 'accepted' });
      await synced;
      expect(other.prepare('SELECT status FROM jobs WHERE id = ?').get('J3')).toEqual({ status: 'running' });
      // Every other commit keeps SQLite's own fsync.
      expect(journal.pragma('synchronous')).toBe(2);
      await journal.synced();
    } finally {
      other.close();
      journal.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps synchronous=NORMAL for a group of a journal opened with it, and synced() resolves at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pas-journal-defer-'));
    const journal = openJournal(join(dir, 'pas.db'), { synchronous: 'NORMAL' });
    try {
      journal.acceptJob({ id: 'J4', task: 't', submittedAt: '2026-01-01T00:00:00.000Z' });
      journal.deferCommit();
      journal.setJobStatus('J4', 'running', { managerId: 'Mgr-Code-01' });
      journal.flush();
      expect(journal.pragma('synchronous')).toBe(1);
      await journal.synced();
    } finally {
      journal.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rolls back a group whose COMMIT fails and puts synchronous=FULL back, so the next write is committed with its fsync', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pas-journal-defer-'));
    const file = join(dir, 'pas.db');
    const journal = openJournal(file);
    // A deferred foreign key broken by a trigger on tasks: the statement passes, the COMMIT fails.
    const admin = new Database(file);
    admin.exec(`CREATE TABLE fk_child (job_id TEXT REFERENCES jobs (id) DEFERRABLE INITIALLY DEFERRED);
      CREATE TRIGGER tasks_fk AFTER INSERT ON tasks BEGIN INSERT INTO fk_child (job_id) VALUES ('no-such-job'); END;`);
    admin.close();
    const other = new Database(file, { readonly: true });
    try {
      journal.pragma('foreign_keys = ON');
      journal.acceptJob({ id: 'J5', task: 't', submittedAt: '2026-01-01T00:00:00.000Z' });
      journal.deferCommit();
      journal.setJobStatus('J5', 'running', { managerId: 'Mgr-Code-01' });
      expect(journal.queueTask({ id: 'T5', jobId: 'J5', managerId: 'Mgr-Code-01', replyTo: 'job:J5', instruction: 'x', files: [] })).toBe(true);
      expectPasError(() => journal.commitPending(), 'PAS_ERR_JOURNAL');
      // The failed group is gone (not left open, swallowing later writes) and every commit is fsynced again.
      expect(journal.pragma('synchronous')).toBe(2);
      expect(journal.getTask('T5')).toBeUndefined();
      expect(journal.getJob('J5')!.status).toBe('accepted');
      journal.acceptJob({ id: 'J6', task: 't', submittedAt: '2026-01-01T00:00:00.000Z' });
      expect(other.prepare('SELECT id FROM jobs ORDER BY id').all()).toEqual([{ id: 'J5' }, { id: 'J6' }]);
      journal.deferCommit();
      expect(journal.pragma('synchronous')).toBe(1);
      journal.setJobStatus('J6', 'running', { managerId: 'Mgr-Code-01' });
      journal.flush();
      expect(other.prepare('SELECT status FROM jobs WHERE id = ?').get('J6')).toEqual({ status: 'running' });
      expect(journal.pragma('synchronous')).toBe(2);
    } finally {
      other.close();
      journal.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('commits an open group before accepting a job, so the job is durable when acceptJob returns', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pas-journal-defer-'));
    const file = join(dir, 'pas.db');
    const journal = openJournal(file);
    const other = new Database(file, { readonly: true });
    try {
      journal.deferCommit();
      journal.saveSnapshot('plan:J0', { subtasks: [] });
      journal.acceptJob({ id: 'J2', task: 't', submittedAt: '2026-01-01T00:00:00.000Z' });
      expect(other.prepare('SELECT id FROM jobs').all()).toEqual([{ id: 'J2' }]);
      expect(other.prepare('SELECT actor_id FROM snapshots').all()).toEqual([{ actor_id: 'plan:J0' }]);
    } finally {
      other.close();
      journal.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
