/**
 * The durable journal (`artifacts/pas.db`): jobs, tasks, actor snapshots, daily spend and the
 * receipt index, in one SQLite file opened with WAL and `synchronous=FULL`, so a call that has
 * returned is on disk even if the process is killed on the next line — except the writes of a
 * group opened by `deferCommit`, committed at the end of the event-loop iteration and fsynced on
 * libuv's thread pool (`synced()` resolves once they are on disk; `flush()` waits for it).
 *
 * Every method is synchronous and runs prepared statements; writes that touch more than one
 * row run in one transaction. Failures surface as `PasError` `PAS_ERR_JOURNAL` (unknown job or
 * task ids as `PAS_ERR_JOB_NOT_FOUND` / `PAS_ERR_TASK_NOT_FOUND`).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  TERMINAL_JOB_STATUSES,
  type ErrorData,
  type JobOutcome,
  type JobSpec,
  type JobStatus,
  type Lane,
  type TaskResult,
  type TaskSpec,
  type TokenUsage,
} from '../../machines/domain.ts';
import { FINISHED_TASK_STATUSES, JOB_STATUSES, TASK_STATUSES, type TaskStatus } from '../../machines/statuses.ts';
import { codedError, PasError, isPasError } from '../errors.ts';
import { roundUsd } from '../llm/prices.ts';
// Results, outcomes and errors are stored as JSON with secret values scrubbed (src/redaction.ts).
import { redactedJson } from '../redaction.ts';
import type { SpendStore, TaskCallSpend, UsageEntry, UsageLedger } from '../llm/types.ts';
import { WalSync } from './wal-sync.ts';

export { FINISHED_TASK_STATUSES, JOB_STATUSES, TASK_STATUSES, type TaskStatus } from '../../machines/statuses.ts';

/**
 * A status list as SQL: `'a','b'` (for CHECK and NOT IN clauses). The CHECKs of the first
 * migration are built from the lists in machines/statuses.ts; a changed list needs a migration
 * that rebuilds the table (a test compares the stored CHECK with the list).
 */
const sqlList = (statuses: readonly string[]): string => statuses.map((s) => `'${s}'`).join(',');

export interface JobRecord {
  id: string;
  spec: JobSpec;
  lane: Lane | null;
  managerId: string | null;
  status: JobStatus;
  outcome: JobOutcome | null;
  error: ErrorData | null;
  acceptedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

export interface TaskRecord {
  id: string;
  jobId: string;
  spec: TaskSpec;
  status: TaskStatus;
  attempt: number;
  programmerId: string | null;
  result: TaskResult | null;
  error: ErrorData | null;
  merged: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

export interface JobStatusFields {
  managerId?: string;
  lane?: Lane;
  error?: ErrorData;
}

export interface TaskStatusFields {
  programmerId?: string;
  attempt?: number;
  error?: ErrorData;
}

export interface ListJobsQuery {
  status?: JobStatus | readonly JobStatus[];
  /** Default 100. */
  limit?: number;
  offset?: number;
}

export interface AcceptResult {
  /** False when a job with this id was already journaled (the stored job is returned). */
  created: boolean;
  job: JobRecord;
}

export interface RecoveryReport {
  mode: 'requeue' | 'interrupt';
  /** Tasks that were running, as they are now (queued or interrupted). */
  tasks: TaskRecord[];
  /** The programmer each changed task was running on, by task id. */
  previousProgrammers: Record<string, string | null>;
  /** Tasks that were running whose attempt had booked its completed receipt: finished with its result. */
  finishedFromReceipts: string[];
  /** Jobs still accepted or running after recovery (their Managers must pick them up). */
  unfinishedJobs: JobRecord[];
}

export interface JournalCounts {
  jobs: Record<JobStatus, number>;
  tasks: Record<TaskStatus, number>;
  snapshots: number;
}

export interface ReceiptKey {
  runId: string;
  taskId: string;
  attempt: number;
}

/** How long a day's spend read from the database is trusted (writes through this journal update it at once). */
export const SPEND_READ_MS = 250;

export interface JournalOptions {
  /** Clock for timestamps (injectable for tests). */
  now?: () => Date;
  /** How long a writer waits for a lock held by another connection. Default 5000 ms. */
  busyTimeoutMs?: number;
  /**
   * SQLite `synchronous` (default FULL: every commit is fsynced). NORMAL still survives a killed
   * process in WAL mode, not a power loss; benchmarks use it to measure what the fsyncs cost.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * Told once when an fsync of the WAL fails (log it). The journal is then failed for good: every
   * later call throws, and `synced()` rejects, PAS_ERR_JOURNAL (default: a process warning).
   */
  onFsyncFailure?: (err: PasError) => void;
}

export interface Journal {
  readonly path: string;
  /** Durable when it returns (a deferred group is committed first): answer 202 only after it. */
  acceptJob(spec: JobSpec): AcceptResult;
  /**
   * Group every write made until the end of this event-loop iteration into one transaction (one
   * fsync), committed by setImmediate: when 49 model replies are read in one poll phase, their
   * bookkeeping shares one fsync instead of queueing 49 on the loop. With `synchronous=FULL` the
   * group's fsync runs on libuv's thread pool, not on the event loop (`synced()` says when it is
   * done). Writes are visible to this process at once. A kill -9 inside the window loses at most
   * that iteration's updates, and recovery then sees a consistent earlier state (as if the
   * process had died a moment sooner): tasks it had not yet recorded as finished run again.
   * acceptJob is never deferred.
   */
  deferCommit(): void;
  /** Commits a deferred group now (no-op when none is open); every commit so far is on disk when it returns. */
  flush(): void;
  /**
   * Commits a deferred group now without waiting for its fsync (no-op when none is open): what
   * this process is about to tell the outside world (an HTTP answer) then survives a kill -9 of
   * it, even when the answer leaves before the end of the event-loop iteration.
   */
  commitPending(): void;
  /**
   * Resolves once every write made so far is on disk (a deferred group is committed and its
   * fsync done), without blocking the event loop; rejects with PAS_ERR_JOURNAL when the fsync fails.
   */
  synced(): Promise<void>;
  /** Returns false (and writes nothing) when the job already has a terminal status. */
  setJobStatus(id: string, status: JobStatus, fields?: JobStatusFields): boolean;
  /**
   * Returns false (and writes nothing) when the job already has a terminal status. An outcome
   * without `durationMs` gets one measured by the journal clock from start (or acceptance).
   */
  finishJob(outcome: JobOutcome): boolean;
  getJob(id: string): JobRecord | undefined;
  /** Newest first. */
  listJobs(query?: ListJobsQuery): JobRecord[];
  countJobs(status?: JobStatus | readonly JobStatus[]): number;
  /**
   * Insert or update a task. A finished task is only overwritten by a higher attempt (a retry),
   * which clears its result; returns whether anything was written.
   */
  upsertTask(spec: TaskSpec, status?: TaskStatus): boolean;
  /**
   * Journal a task as queued unless its id is known already (then nothing is written); returns
   * whether it was inserted. One statement: what the pool's task-queued fact writes.
   */
  queueTask(spec: TaskSpec): boolean;
  /**
   * Journal a start of the task on `programmerId` (the pool's task-started fact): it becomes
   * `running` as attempt max(`attempt`, the journaled attempt + 1), inserted if unknown, reopened
   * (result, error and finish cleared) if it had finished. Returns the attempt written.
   */
  startTask(spec: TaskSpec, programmerId: string, attempt: number): number;
  /** The task's journaled attempt, without reading the rest of its row (undefined when unknown). */
  taskAttempt(id: string): number | undefined;
  /** Returns false when the task is already finished. */
  setTaskStatus(id: string, status: TaskStatus, fields?: TaskStatusFields): boolean;
  /** Idempotent: finishing an already-finished task writes nothing and returns false. */
  finishTask(result: TaskResult): boolean;
  /** Returns false if the task was already merged. */
  markMerged(taskId: string): boolean;
  getTask(id: string): TaskRecord | undefined;
  /** In creation order. */
  tasksForJob(jobId: string): TaskRecord[];
  /** Jobs accepted or running, oldest first. */
  unfinishedJobs(): JobRecord[];
  runningTasks(): TaskRecord[];
  queuedTasks(): TaskRecord[];
  /** At start-up: running tasks become queued (`requeue`) or interrupted (`interrupt`). */
  recover(options: { mode: 'requeue' | 'interrupt' }): RecoveryReport;
  saveSnapshot(actorId: string, snapshot: unknown): void;
  loadSnapshot<T = unknown>(actorId: string): T | undefined;
  deleteSnapshot(actorId: string): boolean;
  snapshotIds(): string[];
  spendStore(): SpendStore;
  /** Per-agent usage by UTC day (the money policy records into it). */
  usageLedger(): UsageLedger;
  /**
   * Adds one model call's cost to the day's spend once per call id (a call reported again, as
   * at-least-once delivery may, adds nothing); returns whether it was added.
   */
  addCallSpend(callId: string, day: string, usd: number, call?: CallSpendDetail): boolean;
  /** The call spends booked so far for one attempt of a remote task, in the order they were booked. */
  attemptCalls(attemptId: string): AttemptCall[];
  /** The paid calls this process's runs made for the task's attempt (SpendStore.addForTask), in order. */
  localAttemptCalls(taskId: string, attempt: number): AttemptCall[];
  /** Forgets the calls kept for in-process attempts (at a restart, once none runs); returns how many. */
  forgetLocalCalls(): number;
  /** Whether a receipt of the task's attempt is booked, by any run. */
  hasReceipt(taskId: string, attempt: number): boolean;
  /**
   * Books a receipt row (with its result and line) and the attempt's usage in one transaction,
   * now (a restart's own bookings; a run's go through bookReceipt's group). False: booked already.
   */
  recordReceiptNow(key: ReceiptKey, booked: { result: TaskResult; line: string }, usage: UsageEntry): boolean;
  /** Forgets the call ids of days before `day` (their reports left the broker long ago); returns how many. */
  forgetCallSpend(beforeDay: string): number;
  /**
   * Records that the attempt's receipt is booked (false: it was already), with the attempt's
   * result and its receipt line: a restart that finds the attempt's task still running at that
   * attempt takes that result (recover) once the line is in the receipts file (bookedReceiptLines),
   * unless the pool journaled the attempt's end first (attemptEnded).
   */
  recordReceipt(key: ReceiptKey, booked?: { result: TaskResult; line: string }): boolean;
  /**
   * The receipt lines booked whose attempt's end the journal lacks, or that a restart has not yet
   * found in their files (a kill may have come between the row and the line): the restart makes
   * sure each is in its run's file, then says so (receiptLinesWritten).
   */
  bookedReceiptLines(): Array<ReceiptKey & { line: string }>;
  /** These booked lines are in their files: not looked for again. */
  receiptLinesWritten(keys: readonly ReceiptKey[]): void;
  /**
   * An attempt of the task ended in the pool (its end is journaled): every booked result of the
   * task is spent. The ending attempt's is keyed by the attempt's own number, which for an attempt
   * adopted after a restart is lower than the task's current one; any other is an earlier
   * attempt's, booked after the pool had moved on.
   */
  attemptEnded(taskId: string): void;
  /**
   * Whether the attempt's booked result was spent: the pool heard its end, or a restart recovered
   * it (attemptEnded). A copy of its result that comes back is not applied again.
   */
  attemptTaken(taskId: string, attempt: number): boolean;
  /** The receipts written for a job's tasks (which run's file holds each), oldest first. */
  receiptsOfJob(jobId: string): ReceiptKey[];
  counts(): JournalCounts;
  /** Read one pragma (diagnostics and tests), e.g. `journal_mode`. */
  pragma(name: string): unknown;
  readonly schemaVersion: number;
  close(): void;
}

/** What marks the attempt ids of in-process tasks' calls in `call_spend` (a remote attempt's id never starts so). */
export const LOCAL_ATTEMPT_PREFIX = 'local:';

/** The `call_spend` attempt id of an in-process task's attempt. */
export function localAttemptId(taskId: string, attempt: number): string {
  return `${LOCAL_ATTEMPT_PREFIX}${taskId}.a${attempt}`;
}

/** What one call's spend report says beyond its cost: whose attempt it worked for, what it used. */
export interface CallSpendDetail {
  attemptId?: string;
  tokens?: TokenUsage;
  /** `provider/model`, when the report named it. */
  model?: string;
}

/** One call spend booked for an attempt. */
export interface AttemptCall {
  callId: string;
  costUsd: number;
  /** As the report gave them; absent when it gave none. */
  tokens?: TokenUsage;
  model?: string;
}

/** Schema migrations; index i moves `user_version` from i to i + 1. Append, never edit. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    lane        TEXT,
    manager_id  TEXT,
    status      TEXT NOT NULL CHECK (status IN (${sqlList(JOB_STATUSES)})),
    outcome     TEXT,
    error       TEXT,
    accepted_at TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT,
    updated_at  TEXT NOT NULL
  );
  CREATE INDEX jobs_status ON jobs (status);
  CREATE INDEX jobs_accepted_at ON jobs (accepted_at);

  CREATE TABLE tasks (
    id            TEXT PRIMARY KEY,
    job_id        TEXT NOT NULL,
    spec          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN (${sqlList(TASK_STATUSES)})),
    attempt       INTEGER NOT NULL DEFAULT 0,
    programmer_id TEXT,
    result        TEXT,
    error         TEXT,
    merged        INTEGER NOT NULL DEFAULT 0 CHECK (merged IN (0, 1)),
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    updated_at    TEXT NOT NULL
  );
  CREATE INDEX tasks_job ON tasks (job_id);
  CREATE INDEX tasks_status ON tasks (status);

  CREATE TABLE snapshots (
    actor_id   TEXT PRIMARY KEY,
    snapshot   TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );

  CREATE TABLE spend (
    day TEXT PRIMARY KEY,
    usd REAL NOT NULL DEFAULT 0
  );

  CREATE TABLE receipts_index (
    run_id      TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (run_id, task_id, attempt)
  );
  `,
  `
  CREATE TABLE usage (
    id            INTEGER PRIMARY KEY,
    day           TEXT NOT NULL,
    agent_id      TEXT NOT NULL,
    job_id        TEXT,
    task_id       TEXT,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    recorded_at   TEXT NOT NULL
  );
  CREATE INDEX usage_day_agent ON usage (day, agent_id);
  `,
  `
  CREATE TABLE call_spend (
    call_id    TEXT PRIMARY KEY,
    day        TEXT NOT NULL,
    usd        REAL NOT NULL,
    applied_at TEXT NOT NULL
  );
  `,
  `
  ALTER TABLE call_spend ADD COLUMN attempt_id TEXT;
  ALTER TABLE call_spend ADD COLUMN tokens TEXT;
  ALTER TABLE call_spend ADD COLUMN model TEXT;
  CREATE INDEX call_spend_attempt ON call_spend (attempt_id) WHERE attempt_id IS NOT NULL;
  `,
  `
  ALTER TABLE receipts_index ADD COLUMN result TEXT;
  ALTER TABLE receipts_index ADD COLUMN line TEXT;
  CREATE INDEX receipts_index_task ON receipts_index (task_id, attempt) WHERE result IS NOT NULL;
  `,
];

export const JOURNAL_SCHEMA_VERSION = MIGRATIONS.length;

interface JobRow {
  id: string;
  spec: string;
  lane: string | null;
  manager_id: string | null;
  status: string;
  outcome: string | null;
  error: string | null;
  accepted_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

interface TaskRow {
  id: string;
  job_id: string;
  spec: string;
  status: string;
  attempt: number;
  programmer_id: string | null;
  result: string | null;
  error: string | null;
  merged: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

const isTerminalJob = (status: string): boolean => (TERMINAL_JOB_STATUSES as readonly string[]).includes(status);
const isFinishedTask = (status: string): boolean => (FINISHED_TASK_STATUSES as readonly string[]).includes(status);

function parseJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

function toJob(row: JobRow): JobRecord {
  return {
    id: row.id,
    spec: JSON.parse(row.spec) as JobSpec,
    lane: row.lane as Lane | null,
    managerId: row.manager_id,
    status: row.status as JobStatus,
    outcome: parseJson<JobOutcome>(row.outcome),
    error: parseJson<ErrorData>(row.error),
    acceptedAt: row.accepted_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
  };
}

function toTask(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    jobId: row.job_id,
    spec: JSON.parse(row.spec) as TaskSpec,
    status: row.status as TaskStatus,
    attempt: row.attempt,
    programmerId: row.programmer_id,
    result: parseJson<TaskResult>(row.result),
    error: parseJson<ErrorData>(row.error),
    merged: row.merged === 1,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
  };
}

function statusList(status: JobStatus | readonly JobStatus[] | undefined): readonly JobStatus[] | undefined {
  if (status === undefined) return undefined;
  return typeof status === 'string' ? [status] : status;
}

function wrap(op: string, path: string, err: unknown): PasError {
  if (isPasError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
  const message = err instanceof Error ? err.message : String(err);
  return new PasError('PAS_ERR_JOURNAL', `journal ${op} failed (${path}): ${message}`, {
    cause: err,
    retryable: busy,
    details: { op, path, ...(typeof code === 'string' ? { sqliteCode: code } : {}) },
  });
}

function migrate(db: Database.Database, path: string): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new PasError('PAS_ERR_JOURNAL', `journal ${path} has schema version ${current}, newer than this build (${MIGRATIONS.length})`, {
      details: { path, schemaVersion: current, supported: MIGRATIONS.length },
    });
  }
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    const sql = MIGRATIONS[version];
    if (sql === undefined) break;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
  return db.pragma('user_version', { simple: true }) as number;
}

/** Open (creating if needed) the journal at `path`; `:memory:` gives a private in-memory one. */
export function openJournal(path: string, options: JournalOptions = {}): Journal {
  const now = options.now ?? (() => new Date());
  const stamp = (): string => now().toISOString();
  let db: Database.Database;
  let schemaVersion: number;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
  } catch (err) {
    throw wrap('open', path, err);
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (path !== ':memory:' && String(mode).toLowerCase() !== 'wal') {
      throw new PasError('PAS_ERR_JOURNAL', `journal ${path} refused WAL mode (got ${String(mode)})`, { details: { path, mode } });
    }
    db.pragma(`synchronous = ${options.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
    schemaVersion = migrate(db, path);
  } catch (err) {
    db.close();
    throw wrap('open', path, err);
  }

  const stmt = {
    insertJob: db.prepare<[string, string, string | null, string, string]>(
      `INSERT INTO jobs (id, spec, lane, status, accepted_at, updated_at)
       VALUES (?, ?, ?, 'accepted', ?, ?) ON CONFLICT (id) DO NOTHING`,
    ),
    getJob: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?'),
    setJobStatus: db.prepare<{
      id: string; status: string; managerId: string | null; lane: string | null; error: string | null; now: string; terminal: number;
    }>(
      `UPDATE jobs SET
         status = @status,
         manager_id = COALESCE(@managerId, manager_id),
         lane = COALESCE(@lane, lane),
         error = COALESCE(@error, error),
         started_at = CASE WHEN @status = 'running' AND started_at IS NULL THEN @now ELSE started_at END,
         finished_at = CASE WHEN @terminal = 1 THEN @now ELSE finished_at END,
         updated_at = @now
       WHERE id = @id AND status NOT IN (${sqlList(TERMINAL_JOB_STATUSES)})`,
    ),
    finishJob: db.prepare<{ id: string; status: string; managerId: string; outcome: string; error: string | null; now: string }>(
      `UPDATE jobs SET
         status = @status, manager_id = @managerId, outcome = @outcome, error = COALESCE(@error, error),
         started_at = COALESCE(started_at, @now), finished_at = @now, updated_at = @now
       WHERE id = @id AND status NOT IN (${sqlList(TERMINAL_JOB_STATUSES)})`,
    ),
    unfinishedJobs: db.prepare<[], JobRow>(
      `SELECT * FROM jobs WHERE status NOT IN (${sqlList(TERMINAL_JOB_STATUSES)}) ORDER BY accepted_at ASC, rowid ASC`,
    ),
    jobCounts: db.prepare<[], { status: string; n: number }>('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status'),

    getTask: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE id = ?'),
    insertTask: db.prepare<{ id: string; jobId: string; spec: string; status: string; attempt: number; now: string }>(
      `INSERT INTO tasks (id, job_id, spec, status, attempt, created_at, started_at, updated_at)
       VALUES (@id, @jobId, @spec, @status, @attempt, @now, CASE WHEN @status = 'running' THEN @now END, @now)`,
    ),
    updateTask: db.prepare<{ id: string; jobId: string; spec: string; status: string; attempt: number; now: string; reopen: number }>(
      `UPDATE tasks SET
         job_id = @jobId, spec = @spec, status = @status, attempt = @attempt,
         result = CASE WHEN @reopen = 1 THEN NULL ELSE result END,
         error = CASE WHEN @reopen = 1 THEN NULL ELSE error END,
         finished_at = CASE WHEN @reopen = 1 THEN NULL ELSE finished_at END,
         started_at = CASE WHEN @status = 'running' THEN COALESCE(CASE WHEN @reopen = 1 THEN NULL ELSE started_at END, @now)
                           WHEN @reopen = 1 THEN NULL ELSE started_at END,
         updated_at = @now
       WHERE id = @id`,
    ),
    setTaskStatus: db.prepare<{
      id: string; status: string; programmerId: string | null; attempt: number | null; error: string | null; now: string; finished: number;
    }>(
      `UPDATE tasks SET
         status = @status,
         programmer_id = COALESCE(@programmerId, programmer_id),
         attempt = COALESCE(@attempt, attempt),
         error = COALESCE(@error, error),
         started_at = CASE WHEN @status = 'running' THEN @now ELSE started_at END,
         finished_at = CASE WHEN @finished = 1 THEN @now ELSE finished_at END,
         updated_at = @now
       WHERE id = @id AND status NOT IN (${sqlList(FINISHED_TASK_STATUSES)})`,
    ),
    finishTask: db.prepare<{ id: string; status: string; programmerId: string; result: string; error: string | null; now: string }>(
      `UPDATE tasks SET
         status = @status, programmer_id = @programmerId, result = @result, error = @error,
         finished_at = @now, updated_at = @now
       WHERE id = @id AND status NOT IN (${sqlList(FINISHED_TASK_STATUSES)})`,
    ),
    queueTask: db.prepare<{ id: string; jobId: string; spec: string; attempt: number; now: string }>(
      `INSERT INTO tasks (id, job_id, spec, status, attempt, created_at, updated_at)
       VALUES (@id, @jobId, @spec, 'queued', @attempt, @now, @now) ON CONFLICT (id) DO NOTHING`,
    ),
    taskAttempt: db.prepare<[string], { attempt: number; status: string }>('SELECT attempt, status FROM tasks WHERE id = ?'),
    taskExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM tasks WHERE id = ?'),
    startInsert: db.prepare<{ id: string; jobId: string; spec: string; attempt: number; programmerId: string; now: string }>(
      `INSERT INTO tasks (id, job_id, spec, status, attempt, programmer_id, created_at, started_at, updated_at)
       VALUES (@id, @jobId, @spec, 'running', @attempt, @programmerId, @now, @now, @now)`,
    ),
    startUpdate: db.prepare<{ id: string; jobId: string; spec: string; attempt: number; programmerId: string; now: string; reopen: number }>(
      `UPDATE tasks SET
         job_id = @jobId, spec = @spec, status = 'running', attempt = @attempt, programmer_id = @programmerId,
         result = CASE WHEN @reopen = 1 THEN NULL ELSE result END,
         error = CASE WHEN @reopen = 1 THEN NULL ELSE error END,
         finished_at = CASE WHEN @reopen = 1 THEN NULL ELSE finished_at END,
         started_at = @now, updated_at = @now
       WHERE id = @id`,
    ),
    markMerged: db.prepare<{ id: string; now: string }>('UPDATE tasks SET merged = 1, updated_at = @now WHERE id = @id AND merged = 0'),
    tasksForJob: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE job_id = ? ORDER BY rowid ASC'),
    tasksByStatus: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE status = ? ORDER BY rowid ASC'),
    requeue: db.prepare<{ id: string; now: string }>(
      `UPDATE tasks SET status = 'queued', programmer_id = NULL, started_at = NULL, updated_at = @now
       WHERE id = @id AND status = 'running'`,
    ),
    interrupt: db.prepare<{ id: string; now: string; error: string }>(
      `UPDATE tasks SET status = 'interrupted', error = @error, finished_at = @now, updated_at = @now
       WHERE id = @id AND status = 'running'`,
    ),
    taskCounts: db.prepare<[], { status: string; n: number }>('SELECT status, COUNT(*) AS n FROM tasks GROUP BY status'),

    saveSnapshot: db.prepare<[string, string, string]>(
      `INSERT INTO snapshots (actor_id, snapshot, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (actor_id) DO UPDATE SET snapshot = excluded.snapshot, updated_at = excluded.updated_at`,
    ),
    loadSnapshot: db.prepare<[string], { snapshot: string }>('SELECT snapshot FROM snapshots WHERE actor_id = ?'),
    deleteSnapshot: db.prepare<[string]>('DELETE FROM snapshots WHERE actor_id = ?'),
    snapshotIds: db.prepare<[], { actor_id: string }>('SELECT actor_id FROM snapshots ORDER BY actor_id'),
    snapshotCount: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM snapshots'),

    spent: db.prepare<[string], { usd: number }>('SELECT usd FROM spend WHERE day = ?'),
    addSpend: db.prepare<[string, number]>(
      'INSERT INTO spend (day, usd) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET usd = usd + excluded.usd',
    ),

    addUsage: db.prepare<{ day: string; agentId: string; jobId: string | null; taskId: string | null; input: number; output: number; cost: number; now: string }>(
      `INSERT INTO usage (day, agent_id, job_id, task_id, input_tokens, output_tokens, cost_usd, recorded_at)
       VALUES (@day, @agentId, @jobId, @taskId, @input, @output, @cost, @now)`,
    ),
    usage: db.prepare<[string, string], { tasks: number; input: number; output: number; cost: number }>(
      `SELECT COUNT(task_id) AS tasks, COALESCE(SUM(input_tokens), 0) AS input, COALESCE(SUM(output_tokens), 0) AS output,
              COALESCE(SUM(cost_usd), 0) AS cost
       FROM usage WHERE day = ? AND agent_id = ?`,
    ),

    addCallSpend: db.prepare<[string, string, number, string, string | null, string | null, string | null]>(
      'INSERT INTO call_spend (call_id, day, usd, applied_at, attempt_id, tokens, model) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    attemptCalls: db.prepare<[string], { call_id: string; usd: number; tokens: string | null; model: string | null }>(
      'SELECT call_id, usd, tokens, model FROM call_spend WHERE attempt_id = ? ORDER BY rowid',
    ),
    forgetCallSpend: db.prepare<[string]>('DELETE FROM call_spend WHERE day < ?'),
    forgetLocalCalls: db.prepare<[number, string]>('DELETE FROM call_spend WHERE substr(attempt_id, 1, ?) = ?'),
    hasReceipt: db.prepare<[string, number], { n: number }>('SELECT 1 AS n FROM receipts_index WHERE task_id = ? AND attempt = ? LIMIT 1'),
    recordReceipt: db.prepare<[string, string, number, string, string | null, string | null]>(
      'INSERT INTO receipts_index (run_id, task_id, attempt, recorded_at, result, line) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    bookedResult: db.prepare<[string, number], { result: string }>(
      'SELECT result FROM receipts_index WHERE task_id = ? AND attempt = ? AND result IS NOT NULL ORDER BY recorded_at DESC LIMIT 1',
    ),
    bookedLines: db.prepare<[], { run_id: string; task_id: string; attempt: number; line: string }>(
      'SELECT run_id, task_id, attempt, line FROM receipts_index WHERE line IS NOT NULL ORDER BY recorded_at',
    ),
    lineWritten: db.prepare<[string, string, number]>('UPDATE receipts_index SET line = NULL WHERE run_id = ? AND task_id = ? AND attempt = ?'),
    attemptEnded: db.prepare<[string]>('UPDATE receipts_index SET result = NULL, line = NULL WHERE task_id = ? AND result IS NOT NULL'),
    attemptTaken: db.prepare<[string, number], { n: number }>('SELECT 1 AS n FROM receipts_index WHERE task_id = ? AND attempt = ? AND result IS NULL LIMIT 1'),
    receiptsOfJob: db.prepare<[string], { run_id: string; task_id: string; attempt: number }>(
      `SELECT r.run_id, r.task_id, r.attempt FROM receipts_index r JOIN tasks t ON t.id = r.task_id
       WHERE t.job_id = ? ORDER BY r.recorded_at ASC, r.rowid ASC`,
    ),
  };

  // synchronous=FULL: a deferred group commits without SQLite's fsync and the WAL is fsynced on
  // the thread pool (the loop goes on); every other commit keeps SQLite's own fsync.
  const walSync = path !== ':memory:' && options.synchronous !== 'NORMAL' ? new WalSync(`${path}-wal`, options.onFsyncFailure) : undefined;
  // (PRAGMA synchronous takes effect when compiled, so it is run as SQL text each time, not prepared.)
  const group = {
    begin: db.prepare('BEGIN'),
    commit: db.prepare('COMMIT'),
    withoutFsync: () => db.exec('PRAGMA synchronous = NORMAL'),
    withFsync: () => db.exec('PRAGMA synchronous = FULL'),
  };

  let closed = false;
  const run = <T>(op: string, fn: () => T): T => {
    if (closed) throw new PasError('PAS_ERR_JOURNAL', `journal ${op} failed (${path}): the journal is closed`, { details: { op, path } });
    // A failed WAL fsync is final: nothing written since can be proven durable (wal-sync.ts).
    if (walSync?.failed) throw walSync.failed;
    try {
      return fn();
    } catch (err) {
      throw wrap(op, path, err);
    }
  };

  const getJob = (id: string): JobRecord | undefined => {
    const row = stmt.getJob.get(id);
    return row ? toJob(row) : undefined;
  };
  const requireJob = (id: string): JobRecord => {
    const job = getJob(id);
    if (!job) throw new PasError('PAS_ERR_JOB_NOT_FOUND', `no job ${id} in the journal`, { details: { jobId: id } });
    return job;
  };
  const getTask = (id: string): TaskRecord | undefined => {
    const row = stmt.getTask.get(id);
    return row ? toTask(row) : undefined;
  };
  const requireTask = (id: string): TaskRecord => {
    const task = getTask(id);
    if (!task) throw new PasError('PAS_ERR_TASK_NOT_FOUND', `no task ${id} in the journal`, { details: { taskId: id } });
    return task;
  };

  const acceptJob = db.transaction((spec: JobSpec): AcceptResult => {
    const at = stamp();
    const info = stmt.insertJob.run(spec.id, JSON.stringify(spec), spec.lane ?? null, at, at);
    return { created: info.changes === 1, job: requireJob(spec.id) };
  });

  const setJobStatus = db.transaction((id: string, status: JobStatus, fields: JobStatusFields): boolean => {
    requireJob(id);
    const info = stmt.setJobStatus.run({
      id,
      status,
      managerId: fields.managerId ?? null,
      lane: fields.lane ?? null,
      error: fields.error ? redactedJson(fields.error) : null,
      now: stamp(),
      terminal: isTerminalJob(status) ? 1 : 0,
    });
    return info.changes === 1;
  });

  const finishJob = db.transaction((outcome: JobOutcome): boolean => {
    const job = requireJob(outcome.jobId);
    if (isTerminalJob(job.status)) return false;
    const now = stamp();
    // Machines keep no clock: a missing duration is measured here, from start (or acceptance) to now.
    const durationMs = outcome.durationMs ?? Math.max(0, Date.parse(now) - Date.parse(job.startedAt ?? job.acceptedAt));
    const stored: JobOutcome = { ...outcome, durationMs };
    const info = stmt.finishJob.run({
      id: outcome.jobId,
      status: outcome.status,
      managerId: outcome.managerId,
      outcome: redactedJson(stored),
      error: outcome.error ? redactedJson(outcome.error) : null,
      now,
    });
    return info.changes === 1;
  });

  const upsertTask = db.transaction((spec: TaskSpec, status: TaskStatus): boolean => {
    const existing = stmt.getTask.get(spec.id);
    const now = stamp();
    const attempt = spec.attempt ?? existing?.attempt ?? 0;
    const base = { id: spec.id, jobId: spec.jobId, spec: JSON.stringify(spec), status, attempt, now };
    if (!existing) {
      stmt.insertTask.run(base);
      return true;
    }
    const finished = isFinishedTask(existing.status);
    if (finished && attempt <= existing.attempt) return false;
    stmt.updateTask.run({ ...base, reopen: finished ? 1 : 0 });
    return true;
  });

  const setTaskStatus = db.transaction((id: string, status: TaskStatus, fields: TaskStatusFields): boolean => {
    requireTask(id);
    const info = stmt.setTaskStatus.run({
      id,
      status,
      programmerId: fields.programmerId ?? null,
      attempt: fields.attempt ?? null,
      error: fields.error ? redactedJson(fields.error) : null,
      now: stamp(),
      finished: isFinishedTask(status) ? 1 : 0,
    });
    return info.changes === 1;
  });

  // One statement each (no transaction or savepoint around them): the per-task writes of the pool's facts.
  const finishTask = (result: TaskResult): boolean => {
    const info = stmt.finishTask.run({
      id: result.taskId,
      status: result.status,
      programmerId: result.programmerId,
      result: redactedJson(result),
      error: result.error ? redactedJson(result.error) : null,
      now: stamp(),
    });
    if (info.changes === 1) return true;
    if (!stmt.taskExists.get(result.taskId)) throw new PasError('PAS_ERR_TASK_NOT_FOUND', `no task ${result.taskId} in the journal`, { details: { taskId: result.taskId } });
    return false;
  };

  const queueTask = (spec: TaskSpec): boolean =>
    stmt.queueTask.run({ id: spec.id, jobId: spec.jobId, spec: JSON.stringify(spec), attempt: spec.attempt ?? 0, now: stamp() }).changes === 1;

  const startTask = (spec: TaskSpec, programmerId: string, attempt: number): number => {
    const existing = stmt.taskAttempt.get(spec.id);
    const numbered = Math.max(attempt, (existing?.attempt ?? 0) + 1);
    const row = { id: spec.id, jobId: spec.jobId, spec: JSON.stringify({ ...spec, attempt: numbered }), attempt: numbered, programmerId, now: stamp() };
    if (existing) stmt.startUpdate.run({ ...row, reopen: isFinishedTask(existing.status) ? 1 : 0 });
    else stmt.startInsert.run(row);
    return numbered;
  };
  const startTaskAlone = db.transaction(startTask);

  const recover = db.transaction((mode: 'requeue' | 'interrupt'): RecoveryReport => {
    const running = stmt.tasksByStatus.all('running');
    const now = stamp();
    const previousProgrammers: Record<string, string | null> = {};
    const tasks: TaskRecord[] = [];
    const finishedFromReceipts: string[] = [];
    for (const row of running) {
      // The attempt's receipt was booked (its result with it) but its end never reached the journal
      // (killed in between): a completed one is the task's result, not run (and paid for) again.
      // Only the current attempt's: an earlier one's may have been booked after the pool had
      // moved on (a timed-out run that finished anyway), its branch replaced since.
      const booked = stmt.bookedResult.get(row.id, row.attempt);
      if (booked) {
        const result = JSON.parse(booked.result) as TaskResult;
        // Taken here (its usage was booked with the row): a second recovery does not take it again.
        stmt.attemptEnded.run(row.id);
        if (result.status === 'completed' && finishTask(result)) {
          finishedFromReceipts.push(row.id);
          continue;
        }
      }
      previousProgrammers[row.id] = row.programmer_id;
      if (mode === 'requeue') {
        stmt.requeue.run({ id: row.id, now });
      } else {
        const error = codedError('PAS_ERR_TASK_INTERRUPTED', undefined, {
          taskId: row.id,
          jobId: row.job_id,
          ...(row.programmer_id ? { programmerId: row.programmer_id } : {}),
        });
        stmt.interrupt.run({ id: row.id, now, error: redactedJson(error) });
      }
      tasks.push(requireTask(row.id));
    }
    return { mode, tasks, previousProgrammers, finishedFromReceipts, unfinishedJobs: stmt.unfinishedJobs.all().map(toJob) };
  });

  // Statements whose text depends on how many statuses are asked for, prepared once per shape.
  const dynamic = new Map<string, Database.Statement<unknown[], unknown>>();
  const prepared = <R>(sql: string): Database.Statement<unknown[], R> => {
    let statement = dynamic.get(sql);
    if (!statement) {
      statement = db.prepare<unknown[], unknown>(sql);
      dynamic.set(sql, statement);
    }
    return statement as Database.Statement<unknown[], R>;
  };

  const countJobs = (status?: JobStatus | readonly JobStatus[]): number => {
    const list = statusList(status);
    if (list && list.length === 0) return 0;
    const where = list ? `WHERE status IN (${list.map(() => '?').join(',')})` : '';
    const row = prepared<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs ${where}`).get(...(list ?? []));
    return row?.n ?? 0;
  };

  const listJobs = (query: ListJobsQuery): JobRecord[] => {
    const list = statusList(query.status);
    if (list && list.length === 0) return [];
    const limit = Math.max(0, Math.trunc(query.limit ?? 100));
    const offset = Math.max(0, Math.trunc(query.offset ?? 0));
    const where = list ? `WHERE status IN (${list.map(() => '?').join(',')})` : '';
    const rows = prepared<JobRow>(`SELECT * FROM jobs ${where} ORDER BY accepted_at DESC, rowid DESC LIMIT ? OFFSET ?`).all(...(list ?? []), limit, offset);
    return rows.map(toJob);
  };

  let deferred = false;
  /** Opens a group of writes committed at the end of this event-loop iteration (Journal.deferCommit). */
  function deferCommit(): void {
    if (closed || deferred || db.inTransaction) return;
    run('deferCommit', () => {
      // The safety level may not change inside a transaction: set before BEGIN, put back after COMMIT.
      if (!walSync) return group.begin.run();
      group.withoutFsync();
      try {
        group.begin.run();
      } catch (err) {
        group.withFsync();
        throw err;
      }
    });
    deferred = true;
    setImmediate(commitLater);
  }
  /** Commits the group opened by deferCommit; its fsync is asked of the thread pool. */
  function commitGroup(): void {
    if (!deferred) return;
    deferred = false;
    if (closed || !db.inTransaction) return;
    if (walSync?.failed) {
      abandonGroup();
      throw walSync.failed;
    }
    run('flush', () => {
      try {
        group.commit.run();
      } catch (err) {
        // A COMMIT that fails (a deferred constraint, a full disk) may leave the group open: its
        // writes are lost either way, and an open group would swallow every later write.
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      } finally {
        if (walSync && !db.inTransaction) group.withFsync();
      }
      walSync?.request();
    });
  }
  /** Rolls back the open group: after a failed fsync nothing more is committed. */
  function abandonGroup(): void {
    deferred = false;
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
      if (walSync) group.withFsync();
    } catch {
      // The failure was reported when the fsync failed; nothing more to say.
    }
  }
  /** The end-of-iteration commit of a deferred group (never throws into the event loop for a failed fsync). */
  function commitLater(): void {
    if (walSync?.failed) abandonGroup();
    else commitGroup();
  }
  /** Commits the group and waits (on this thread) for every fsync still due. */
  function flush(): void {
    commitGroup();
    if (walSync && !closed) run('flush', () => walSync.syncNow());
  }
  /** Resolves once every commit so far, and the group now open, are on disk. */
  function synced(): Promise<void> {
    if (!walSync) return Promise.resolve();
    if (!deferred) return walSync.settled();
    return new Promise<void>((resolve, reject) => setImmediate(() => synced().then(resolve, reject)));
  }

  // The LLM gateway asks for the day's spend before every call: the total is read once and kept,
  // exact for every write through this store, re-read after SPEND_READ_MS for other connections'.
  const spentCache = new Map<string, { usd: number; readAt: number }>();
  const spend: SpendStore = {
    spent: (day) =>
      run('spend.spent', () => {
        const at = now().getTime();
        const hit = spentCache.get(day);
        if (hit && at >= hit.readAt && at - hit.readAt < SPEND_READ_MS) return hit.usd;
        // In whole micro-dollars (each call's cost is): the float sum's remainder is not shown as spend.
        const usd = roundUsd(stmt.spent.get(day)?.usd ?? 0);
        if (spentCache.size >= 8) spentCache.clear();
        spentCache.set(day, { usd, readAt: at });
        return usd;
      }),
    add: (day, usd) =>
      run('spend.add', () => {
        if (!Number.isFinite(usd) || usd < 0) {
          throw new PasError('PAS_ERR_JOURNAL', `spend must be a finite, non-negative amount (got ${usd})`, { details: { day, usd } });
        }
        spentCache.delete(day);
        stmt.addSpend.run(day, usd);
      }),
  };

  const callsOf = (attemptId: string): AttemptCall[] =>
    stmt.attemptCalls.all(attemptId).map((r) => ({ callId: r.call_id, costUsd: r.usd, ...(r.tokens !== null ? { tokens: JSON.parse(r.tokens) as TokenUsage } : {}), ...(r.model !== null ? { model: r.model } : {}) }));

  const addUsageEntry = (entry: UsageEntry) =>
    void stmt.addUsage.run({
      day: entry.day,
      agentId: entry.agentId,
      jobId: entry.jobId ?? null,
      taskId: entry.taskId ?? null,
      input: entry.inputTokens,
      output: entry.outputTokens,
      cost: entry.costUsd,
      now: stamp(),
    });

  /** A paid call of an in-process task, kept under the task's running attempt (booked as the call is charged). */
  const addForTask = db.transaction((day: string, usd: number, call: TaskCallSpend) => {
    const attempt = stmt.taskAttempt.get(call.taskId)?.attempt;
    if (attempt === undefined) {
      // A task the journal does not hold (a plan's call): the day's spend only.
      spend.add(day, usd);
      return;
    }
    addCallSpend(`${LOCAL_ATTEMPT_PREFIX}${randomBytes(9).toString('hex')}`, day, usd, { attemptId: localAttemptId(call.taskId, attempt), ...(call.tokens ? { tokens: call.tokens } : {}), ...(call.model ? { model: call.model } : {}) });
  });
  // Joins this tick's group: the calls a burst books (the LLM gateway writes its batch at once)
  // share one commit, fsynced off the event loop.
  spend.addForTask = (day, usd, call) => {
    deferCommit();
    run('spend.addForTask', () => addForTask(day, usd, call));
  };

  const recordReceiptNow = db.transaction((key: ReceiptKey, booked: { result: TaskResult; line: string }, entry: UsageEntry): boolean => {
    if (stmt.recordReceipt.run(key.runId, key.taskId, key.attempt, stamp(), redactedJson(booked.result), booked.line).changes !== 1) return false;
    addUsageEntry(entry);
    return true;
  });

  const addCallSpend = db.transaction((callId: string, day: string, usd: number, call: CallSpendDetail = {}): boolean => {
    if (!Number.isFinite(usd) || usd < 0) {
      throw new PasError('PAS_ERR_JOURNAL', `spend must be a finite, non-negative amount (got ${usd})`, { details: { day, usd, callId } });
    }
    const added = stmt.addCallSpend.run(callId, day, usd, stamp(), call.attemptId ?? null, call.tokens ? JSON.stringify(call.tokens) : null, call.model ?? null);
    if (added.changes !== 1) return false;
    spentCache.delete(day);
    if (usd > 0) stmt.addSpend.run(day, usd);
    return true;
  });

  const usage: UsageLedger = {
    add: (entry) => run('usage.add', () => addUsageEntry(entry)),
    usage: (day, agentId) =>
      run('usage.read', () => {
        const row = stmt.usage.get(day, agentId);
        return { tasks: row?.tasks ?? 0, input_tokens: row?.input ?? 0, output_tokens: row?.output ?? 0, cost_usd: roundUsd(row?.cost ?? 0) };
      }),
  };

  return {
    path,
    get schemaVersion() {
      return schemaVersion;
    },
    acceptJob: (spec) => {
      flush();
      return run('acceptJob', () => acceptJob.immediate(spec));
    },
    deferCommit,
    flush,
    commitPending: commitGroup,
    synced,
    setJobStatus: (id, status, fields = {}) => run('setJobStatus', () => setJobStatus.immediate(id, status, fields)),
    finishJob: (outcome) => run('finishJob', () => finishJob.immediate(outcome)),
    getJob: (id) => run('getJob', () => getJob(id)),
    listJobs: (query = {}) => run('listJobs', () => listJobs(query)),
    countJobs: (status) => run('countJobs', () => countJobs(status)),
    upsertTask: (spec, status = 'queued') => run('upsertTask', () => upsertTask.immediate(spec, status)),
    setTaskStatus: (id, status, fields = {}) => run('setTaskStatus', () => setTaskStatus.immediate(id, status, fields)),
    finishTask: (result) => run('finishTask', () => finishTask(result)),
    queueTask: (spec) => run('queueTask', () => queueTask(spec)),
    // Inside a group (the facts' writes) the group's transaction holds the read and the write together.
    startTask: (spec, programmerId, attempt) =>
      run('startTask', () => (db.inTransaction ? startTask(spec, programmerId, attempt) : startTaskAlone.immediate(spec, programmerId, attempt))),
    taskAttempt: (id) => run('taskAttempt', () => stmt.taskAttempt.get(id)?.attempt),
    markMerged: (taskId) =>
      run('markMerged', () => {
        const info = stmt.markMerged.run({ id: taskId, now: stamp() });
        if (info.changes === 1) return true;
        requireTask(taskId);
        return false;
      }),
    getTask: (id) => run('getTask', () => getTask(id)),
    tasksForJob: (jobId) => run('tasksForJob', () => stmt.tasksForJob.all(jobId).map(toTask)),
    unfinishedJobs: () => run('unfinishedJobs', () => stmt.unfinishedJobs.all().map(toJob)),
    runningTasks: () => run('runningTasks', () => stmt.tasksByStatus.all('running').map(toTask)),
    queuedTasks: () => run('queuedTasks', () => stmt.tasksByStatus.all('queued').map(toTask)),
    recover: ({ mode }) => run('recover', () => recover.immediate(mode)),
    saveSnapshot: (actorId, snapshot) =>
      run('saveSnapshot', () => {
        const text = JSON.stringify(snapshot);
        if (text === undefined) {
          throw new PasError('PAS_ERR_JOURNAL', `snapshot of ${actorId} is not JSON-serializable`, { details: { actorId } });
        }
        stmt.saveSnapshot.run(actorId, text, stamp());
      }),
    loadSnapshot: <T>(actorId: string) =>
      run('loadSnapshot', () => {
        const row = stmt.loadSnapshot.get(actorId);
        return row ? (JSON.parse(row.snapshot) as T) : undefined;
      }),
    deleteSnapshot: (actorId) => run('deleteSnapshot', () => stmt.deleteSnapshot.run(actorId).changes === 1),
    snapshotIds: () => run('snapshotIds', () => stmt.snapshotIds.all().map((row) => row.actor_id)),
    spendStore: () => spend,
    usageLedger: () => usage,
    addCallSpend: (callId, day, usd, call) => run('addCallSpend', () => addCallSpend.immediate(callId, day, usd, call)),
    attemptCalls: (attemptId) => run('attemptCalls', () => callsOf(attemptId)),
    localAttemptCalls: (taskId, attempt) => run('localAttemptCalls', () => callsOf(localAttemptId(taskId, attempt))),
    forgetLocalCalls: () => run('forgetLocalCalls', () => stmt.forgetLocalCalls.run(LOCAL_ATTEMPT_PREFIX.length, LOCAL_ATTEMPT_PREFIX).changes),
    hasReceipt: (taskId, attempt) => run('hasReceipt', () => stmt.hasReceipt.get(taskId, attempt) !== undefined),
    recordReceiptNow: (key, booked, entry) => run('recordReceiptNow', () => recordReceiptNow(key, booked, entry)),
    forgetCallSpend: (beforeDay) => run('forgetCallSpend', () => stmt.forgetCallSpend.run(beforeDay).changes),
    recordReceipt: ({ runId, taskId, attempt }, booked) =>
      run('recordReceipt', () => stmt.recordReceipt.run(runId, taskId, attempt, stamp(), booked ? redactedJson(booked.result) : null, booked?.line ?? null).changes === 1),
    bookedReceiptLines: () => run('bookedReceiptLines', () => stmt.bookedLines.all().map((r) => ({ runId: r.run_id, taskId: r.task_id, attempt: r.attempt, line: r.line }))),
    receiptLinesWritten: (keys) =>
      run('receiptLinesWritten', () => {
        for (const k of keys) stmt.lineWritten.run(k.runId, k.taskId, k.attempt);
      }),
    attemptEnded: (taskId) => run('attemptEnded', () => void stmt.attemptEnded.run(taskId)),
    attemptTaken: (taskId, attempt) => run('attemptTaken', () => stmt.attemptTaken.get(taskId, attempt) !== undefined),
    receiptsOfJob: (jobId) =>
      run('receiptsOfJob', () => stmt.receiptsOfJob.all(jobId).map((r) => ({ runId: r.run_id, taskId: r.task_id, attempt: r.attempt }))),
    counts: () =>
      run('counts', () => {
        const jobs = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
        for (const { status, n } of stmt.jobCounts.all()) jobs[status as JobStatus] = n;
        const tasks = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
        for (const { status, n } of stmt.taskCounts.all()) tasks[status as TaskStatus] = n;
        return { jobs, tasks, snapshots: stmt.snapshotCount.get()?.n ?? 0 };
      }),
    pragma: (name) => run('pragma', () => db.pragma(name, { simple: true })),
    close: () => {
      if (closed) return;
      if (walSync?.failed) abandonGroup();
      else flush();
      closed = true;
      try {
        db.close();
      } catch (err) {
        throw wrap('close', path, err);
      } finally {
        walSync?.close();
      }
    },
  };
}

