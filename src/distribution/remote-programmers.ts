/**
 * The central side of programmers on other hosts: the `executeTask` activity of every remote
 * programmer's proxy actor (the same programmer statechart, so timeouts, cancel, supervision,
 * quarantine, the pool and the tree work unchanged). It puts the base bundle in the object store,
 * publishes the task on the programmer's work queue and waits for its result on the results
 * stream; only this process imports the result bundle (create-only ref) and writes the receipt.
 *
 * Fencing: every dispatch is an attempt with its own id, recorded as the task's current attempt
 * in KV. A result whose attempt is not current (its worker was declared offline, the task was
 * cancelled or timed out, a redelivery after a broker restart) is never merged: logged with
 * PAS_ERR_DIST_STALE_RESULT and dropped. A result is acked only after the journal committed the
 * task's finish, so one that arrives while this process is down waits in the stream and is
 * applied when the restarted runtime re-dispatches the task; an attempt still running on a live
 * worker is adopted instead of started again.
 */
import { bookReceipt } from '../runtime/book-receipt.ts';
import { randomBytes } from 'node:crypto';
import { loadNatsModules, type JsMsg } from './nats-connection.ts';
import type { Logger } from 'pino';
import { codedError, type ErrorCode } from '../../machines/error-codes.ts';
import type { TaskResult, TaskSpec } from '../../machines/domain.ts';
import { isFinishedTaskStatus } from '../../machines/statuses.ts';
import type { ExecuteTaskInput } from '../../machines/programmer.machine.ts';
import { splitModelRef } from '../config/load-config.ts';
import { isPasError, PasError, toErrorData } from '../errors.ts';
import type { TaskProgress } from '../executors/executor.ts';
import type { Journal } from '../journal/journal.ts';
import type { Receipt } from '../llm/types.ts';
import type { ProgressBoard } from '../runtime/progress-board.ts';
import type { Repositories } from '../runtime/services/repositories.ts';
import { objectStoreFor } from '../executors/object-store.ts';
import { taskBranchName } from '../executors/worktree.ts';
import { bundleObjectName, bundleStored, deleteBundle, getBundle, HostHaves, importResultBundle, makeBaseBundle, putBundle, repoKeyOf, resolveCommit } from './bundles.ts';
import { plusSpend, sumAttemptSpend, unnamedCalls, type AttemptSpend } from './attempt-spend.ts';
import { commitAcks } from './commit-acks.ts';
import { IdleCleanup } from './idle-cleanup.ts';
import { anyOf, attemptOf, brokerAway, nanos, toJson, untilStored, type AttemptRecord, type DistLink } from './link.ts';
import { decodeMessage, encodeMessage, encodeTaskMessage, objectNameSchema, type ResultMessage, type TaskMessage } from './messages.ts';
import { sweepQuarantinesAfterCrash } from './quarantine-sweep.ts';
import { RecentAttempts } from './recent-attempts.ts';
import { mark, timelineOn } from './timeline.ts';
import type { WorkerLiveness } from './worker-liveness.ts';
import { isFullObjectId } from '../executors/object-id.ts';

export type ExecuteTask = (input: ExecuteTaskInput, signal: AbortSignal) => Promise<TaskResult>;

export type { AttemptRecord } from './link.ts';

interface Pending {
  record: AttemptRecord;
  task: TaskSpec;
  resolve: (result: TaskResult) => void;
  /** Dispatched by an earlier run of this process (held or adopted after a restart). */
  inherited?: boolean;
}

interface Held {
  msg: JsMsg;
  message: ResultMessage;
}

export interface RemoteLink {
  link: DistLink;
  /** What each worker host holds of each repository (incremental base bundles). */
  haves: HostHaves;
  liveness: WorkerLiveness;
  logger: Logger;
  now?: () => number;
  /** Worker reports that share the results stream (spend, breaker outcomes); acked by the taker. */
  onReport?: (msg: JsMsg) => void;
}

/** What the runtime's services give (bound when createRuntime builds them). */
export interface RemoteDeps {
  journal: Journal;
  receipts: { append(receipt: Receipt): Promise<void> | void };
  runId: string;
  repositories: Repositories;
  progress?: ProgressBoard;
}

export interface RemoteProgrammers {
  /** Waits (bounded) until the results that were in the stream at start have arrived. */
  drainBacklog(timeoutMs: number): Promise<number>;
  /** The runtime's journal, receipts and repositories; results that arrived before are handled now. */
  bind(deps: RemoteDeps): void;
  /** The executeTask for every programmer: remote ones go over NATS, the rest to `local`. */
  wrap(local: ExecuteTask): ExecuteTask;
  /**
   * Whether a worker's attempt is over for this process: given up (worker offline, cancelled,
   * timed out, not published), not its task's running attempt (one an earlier run gave up), or
   * of a task the journal has finished. Its model calls are refused.
   */
  attemptOver(attemptId: string): boolean;
  /** The journal committed the task's finish: ack its results and forget the attempt. */
  taskFinished(taskId: string): void;
  /** Results held for tasks the journal already finished are fenced and acked (after a restart's resume). */
  sweepHeld(): void;
  /** Fails the attempts running on a worker that went offline (the pool re-dispatches them). */
  workerOffline(worker: string): void;
  stop(): Promise<void>;
}

/** `make()` once per key while it succeeds; a failure is forgotten so the next call tries again. */
function memo<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let value = cache.get(key);
  if (!value) {
    value = make();
    cache.set(key, value);
    value.catch(() => cache.delete(key));
  }
  return value;
}

/** An attempt id as dispatch makes it: `<task id>.a<journal attempt>.<8 hex>`. */
const ATTEMPT_ID = /^(.+)\.a(\d+)\.[0-9a-f]{8}$/;

/** The longest a result pulled by a central process that died before acking it waits to come back. */
export const RESULT_ACK_WAIT_MS = 5_000;

export async function createRemoteProgrammers(base: RemoteLink, remoteIds: ReadonlySet<string>): Promise<RemoteProgrammers> {
  const { link, liveness, logger, haves } = base;
  const now = base.now ?? Date.now;
  let deps!: RemoteDeps;
  let journal!: Journal;
  /** Results delivered before bind (the backlog of a restart). */
  let early: JsMsg[] | undefined = [];
  let ready: Promise<void> = Promise.resolve();
  const log = logger.child({ component: 'distribution' });
  const pending = new Map<string, Pending>();
  /** Results not claimed by a pending attempt yet (a restart: the runtime re-dispatches the task soon). */
  const held = new Map<string, Held[]>();
  /** Applied results waiting for the journal's commit of the task's finish, by task id. */
  const awaitingAck = new Map<string, JsMsg[]>();
  /** Attempts whose result this process applied, the newest (recent-attempts.ts): older ones are answered by the journal. */
  const applied = new RecentAttempts();
  /** Applied bundles' deletes and finished tasks' attempt records wait until no result or dispatch comes for a moment. */
  const cleanup = new IdleCleanup();
  /** Attempt records this process put, by task (a count: which one a deferred delete may remove). */
  const recordsPut = new Map<string, number>();
  /** Results acked once the journal group holding their task's finish is committed. */
  const acks = commitAcks(() => journal);
  /** An ack on a connection closed meanwhile is lost with it: the result comes back and is fenced (its task is finished). */
  const ackQuietly = (m: JsMsg) => {
    try {
      m.ack();
    } catch {
      // closed: redelivered later
    }
  };
  /** The task's finish is committed: its results (with a redelivery that arrived meanwhile) leave the stream. */
  const ackFinished = (taskId: string) => {
    const msgs = awaitingAck.get(taskId);
    if (!msgs) return;
    mark('c.acked', taskId);
    awaitingAck.delete(taskId);
    for (const m of msgs) ackQuietly(m);
    // Its attempt record goes once the process is idle, unless a new attempt of the task took its
    // place meanwhile (a retry's record is that attempt's fence).
    const records = recordsPut.get(taskId);
    cleanup.later(async () => {
      if (recordsPut.get(taskId) !== records) return;
      recordsPut.delete(taskId);
      await link.attempts.delete(taskId);
    });
  };
  /** Base bundles in the object store (or being put there): (repository, commit, what the host had) → entry. */
  const bundlesPut = new Map<string, Promise<{ name: string | null; full: boolean }>>();
  /** Repository path → its key (it names the repository's git dir, which does not move). */
  const repoKeys = new Map<string, Promise<string>>();
  /** (repository, full commit id) → the commit checked to be there (a commit, once there, stays). */
  const resolved = new Map<string, Promise<string>>();
  /** The task's base as a full commit id: a full id already checked in this repository is not asked of git again. */
  const baseOf = (repo: string, rev: string) => (isFullObjectId(rev) ? memo(resolved, `${repo}\0${rev}`, () => resolveCommit(repo, rev)) : resolveCommit(repo, rev));
  /**
   * Attempts this process gave up (cancelled, timed out, worker offline, not published), by task
   * id: never current again, even while KV still names one (its delete is on its way).
   */
  const abandoned = new Map<string, Set<string>>();
  /**
   * Attempts this process gave up, by attempt id, the newest (recent-attempts.ts): unlike
   * `abandoned` they stay known after their task finished elsewhere, so a worker that runs one on
   * (it was paused past its detection time) gets its model calls refused (`attemptOver`).
   */
  const givenUp = new RecentAttempts();
  let stopped = false;

  /** The task's current attempt (undefined: none, or one this process gave up); throws when KV cannot be read. */
  const readAttempt = async (taskId: string): Promise<AttemptRecord | undefined> => {
    const record = attemptOf(await link.attempts.get(taskId));
    return record && abandoned.get(taskId)?.has(record.attemptId) ? undefined : record;
  };
  /** The same, an unreadable KV taken as none (a dispatch then starts a new attempt, which fences any old one). */
  const currentAttempt = (taskId: string) => readAttempt(taskId).catch(() => undefined);
  const forgetAttempt = async (taskId: string, attemptId: string) => {
    const gone = abandoned.get(taskId) ?? new Set<string>();
    gone.add(attemptId);
    abandoned.set(taskId, gone);
    givenUp.add(attemptId);
    // Compare-and-delete: a re-dispatch may write the task's next attempt between the read and the delete.
    const entry = await link.attempts.get(taskId).catch(() => null);
    if (entry && attemptOf(entry)?.attemptId === attemptId) await link.attempts.delete(taskId, { previousSeq: entry.revision }).catch(() => undefined);
  };
  /** A NATS call that failed is the broker's trouble (retryable), named so. */
  const onBroker = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      throw new PasError('PAS_ERR_DIST_BROKER', `${what}: ${(err as Error).message}`, { cause: err });
    }
  };

  /**
   * Whether an earlier run's attempt ever left this process: its task message still waits in its
   * programmer's queue (a worker acks it only after its result is stored), or its result waits in
   * the results stream. Neither: the run was killed between the attempt's record and its publish,
   * and no worker will ever run it.
   */
  const wentOut = async (record: AttemptRecord): Promise<boolean> => {
    const sentAs = async (stream: string, subject: string) => (await link.nats.jsm.streams.getMessage(stream, { last_by_subj: subject }))?.header?.get('Nats-Msg-Id') === record.attemptId;
    return onBroker(`cannot ask the broker whether attempt ${record.attemptId} was dispatched`, async () => (await sentAs(link.names.taskStream, link.names.subjects.task(record.programmerId))) || (await sentAs(link.names.resultStream, link.names.subjects.result(record.programmerId))));
  };

  /** `keepBundle`: the result is a copy of one applied (the same attempt): its bundle is that one's. */
  const fence = (h: Held, why: string, keepBundle = false) => {
    const m = h.message;
    log.warn({ code: 'PAS_ERR_DIST_STALE_RESULT' satisfies ErrorCode, taskId: m.task_id, attemptId: m.attempt_id, worker: m.worker_id, programmerId: m.programmer_id, why }, 'stale result fenced: not merged');
    h.msg.ack();
    if (m.outcome.status === 'ok' && m.outcome.bundle_object !== undefined && !keepBundle) void deleteBundle(link.bundles, m.outcome.bundle_object);
  };

  /** The result as the pool hears it, and its receipt line, from what the worker sent. */
  const resultOf = (p: Pending, m: ResultMessage): { result: TaskResult; receipt: Receipt } => {
    const r = m.receipt;
    const status: TaskResult['status'] = m.outcome.status === 'ok' ? 'completed' : m.outcome.cancelled ? 'cancelled' : 'failed';
    const result: TaskResult = { taskId: p.task.id, jobId: p.task.jobId, programmerId: m.programmer_id, status, tokens: r.tokens ?? { input: null, output: null }, costUsd: r.cost_usd ?? 0, usedBackup: r.used_backup ?? false, durationMs: r.duration_ms, kpi: r.kpi ?? { files_changed: 0, lines_added: 0, lines_removed: 0 } };
    if (r.provider) result.provider = r.provider;
    if (r.model) result.model = r.model;
    if (m.outcome.status === 'ok') {
      result.branch = taskBranchName(p.task.jobId, p.task.id);
      result.commit = m.outcome.commit;
      if (m.outcome.summary !== undefined) result.summary = m.outcome.summary;
    } else {
      result.error = m.outcome.error;
      // The worker's cache lacked the base, or the stored bundle expired (bundle_ttl_s): the next
      // bundle for that host is full again and made anew.
      if (m.outcome.error.code === 'PAS_ERR_DIST_BUNDLE_MISSING') {
        haves.forget(p.record.worker, p.record.repoKey);
        for (const key of bundlesPut.keys()) if (key.startsWith(`${p.record.repoKey}:`)) bundlesPut.delete(key);
      }
    }
    const receipt: Receipt = {
      run_id: deps.runId,
      job_id: p.task.jobId,
      task_id: p.task.id,
      agent_id: m.programmer_id,
      provider: r.provider ?? null,
      model: r.model ?? null,
      used_backup: r.used_backup ?? false,
      status,
      ...(result.error ? { error: result.error } : {}),
      tokens: result.tokens!,
      cost_usd: result.costUsd!,
      duration_ms: r.duration_ms,
      kpi: result.kpi!,
      started_at: r.started_at,
      finished_at: r.finished_at,
    };
    return { result, receipt };
  };

  /** Results whose receipt is booked (from the worker's result); every other result gets one from `bookEnded`. */
  const withReceipt = new WeakSet<TaskResult>();
  /** The attempt of a result this process made for an attempt it dispatched or adopted: its journal number (the receipt's key) and its id. */
  const endedAttempt = new WeakMap<TaskResult, { journalAttempt: number; attemptId: string }>();
  const endedResult = (p: Pending, result: TaskResult): TaskResult => {
    endedAttempt.set(result, { journalAttempt: p.record.journalAttempt, attemptId: p.record.attemptId });
    return result;
  };
  /**
   * The receipt of an attempt this process ended without a result from a worker (its worker went
   * offline, it was stopped, it could not be dispatched, its result was refused): one line per attempt, as
   * in-process, with what is known: what the worker's paid model calls for this attempt cost and
   * used, as their spend reports (call by call, already in the budget; a call that cost nothing
   * sends none) said by now, as a task stopped in-process keeps what it spent. The result says
   * the same: where it is the task's outcome (worker offline, result refused) the programmer's
   * usage counts it; a cancelled or timed-out task's own outcome is the programmer machine's, as
   * in-process. A report that arrives after this (the call a cancel cut off, a worker paused past
   * its detection time) is in the budget but not in this receipt. Not knowing the spend (the
   * journal cannot be read) still books the receipt, without it.
   */
  const bookEnded = async (input: ExecuteTaskInput, ended: TaskResult, startedAt: number, attempt: number): Promise<TaskResult> => {
    const { task } = input;
    const finishedAt = now();
    const which = endedAttempt.get(ended);
    let spent: AttemptSpend | undefined;
    try {
      spent = which ? sumAttemptSpend(journal.attemptCalls(which.attemptId)) : undefined;
    } catch (err) {
      log.warn({ taskId: task.id, attemptId: which?.attemptId, err: toErrorData(err) }, 'the spend of a remote attempt ended here could not be read: its receipt says none');
    }
    const ref = spent?.model !== undefined ? splitModelRef(spent.model) : undefined;
    const result: TaskResult = spent ? { ...ended, costUsd: spent.costUsd, tokens: spent.tokens, ...(ref ? { provider: ref.provider, model: ref.model } : {}) } : ended;
    const receipt: Receipt = {
      run_id: deps.runId,
      job_id: task.jobId,
      task_id: task.id,
      // The programmer the attempt ran on (an adopted one may not be the one the pool just picked).
      agent_id: result.programmerId ?? input.programmerId,
      provider: ref?.provider ?? null,
      model: ref?.model ?? null,
      used_backup: false,
      status: result.status,
      ...(result.error ? { error: result.error } : {}),
      tokens: spent?.tokens ?? { input: null, output: null },
      cost_usd: spent?.costUsd ?? 0,
      duration_ms: Math.max(0, finishedAt - startedAt),
      kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 },
      started_at: new Date(startedAt).toISOString(),
      finished_at: new Date(finishedAt).toISOString(),
    };
    await bookReceipt(journal, deps.receipts, { runId: deps.runId, taskId: task.id, attempt: which?.journalAttempt ?? attempt }, receipt, result).catch((err: unknown) => log.error({ taskId: task.id, err: toErrorData(err) }, 'the receipt of a remote attempt ended here could not be written'));
    return result;
  };

  /**
   * The result and receipt with the attempt's paid calls that its result does not name: those of
   * an earlier run of the same attempt (its worker restarted before it was declared offline), as
   * their spend reports said by now. They are in the day's spend already; now in the receipt too.
   */
  const withUnnamedCalls = (p: Pending, named: readonly string[], result: TaskResult, receipt: Receipt): { result: TaskResult; receipt: Receipt } => {
    let more: AttemptSpend | undefined;
    try {
      more = unnamedCalls(journal.attemptCalls(p.record.attemptId), named);
    } catch (err) {
      log.warn({ taskId: p.task.id, attemptId: p.record.attemptId, err: toErrorData(err) }, 'the spend of an earlier run of a remote attempt could not be read: its receipt has this run\'s only');
    }
    if (!more) return { result, receipt };
    const { costUsd, tokens } = plusSpend({ costUsd: receipt.cost_usd, tokens: receipt.tokens }, more);
    log.info({ taskId: p.task.id, attemptId: p.record.attemptId, costUsd: more.costUsd, tokens: more.tokens }, 'paid calls of an earlier run of the attempt added to its receipt');
    return { result: { ...result, costUsd, tokens }, receipt: { ...receipt, cost_usd: costUsd, tokens } };
  };

  /** Applies of one task run one at a time (an abandoned attempt's import may still run). */
  const taskApplies = new Map<string, Promise<unknown>>();
  const apply = (p: Pending, h: Held): Promise<TaskResult> => {
    const next = (taskApplies.get(p.task.id) ?? Promise.resolve()).catch(() => undefined).then(() => applyNow(p, h));
    taskApplies.set(p.task.id, next);
    void next.finally(() => taskApplies.get(p.task.id) === next && taskApplies.delete(p.task.id)).catch(() => undefined);
    return next;
  };

  /** Imports the result's commit (create-only ref) and writes its receipt. */
  const applyNow = async (p: Pending, h: Held): Promise<TaskResult> => {
    applied.add(p.record.attemptId);
    const list = awaitingAck.get(p.task.id) ?? [];
    list.push(h.msg);
    awaitingAck.set(p.task.id, list);
    let { result, receipt } = resultOf(p, h.message);
    const outcome = h.message.outcome;
    if (outcome.status === 'ok') {
      const ref = `refs/heads/${result.branch!}`;
      try {
        // Refs are read and written through the repository's long-lived git processes: no git is
        // started per result (a spawn costs this process's main thread milliseconds).
        const store = await objectStoreFor(p.record.repo);
        const stored = outcome.bundle_object;
        const write = async () => {
          if (outcome.commit === outcome.base_commit) {
            // No change on top of the base: nothing to import, the branch is created at the base (create-only).
            await store.updateRefs([`create ${ref} ${outcome.commit}`]);
            return;
          }
          // Small bundles come inside the message; big ones from the object store.
          const data = outcome.bundle !== undefined ? Buffer.from(outcome.bundle, 'base64') : await getBundle(link.bundles, stored!, link.nats.jsm);
          await importResultBundle(p.record.repo, data, { base: outcome.base_commit, expectedRef: ref, attemptId: p.record.attemptId, commit: outcome.commit, allowSame: true, ...(timelineOn ? { onStep: (step: string) => mark(`c.${step}`, p.task.id) } : {}) });
          if (stored !== undefined) cleanup.later(() => deleteBundle(link.bundles, stored));
          haves.record(p.record.worker, p.record.repoKey, outcome.base_commit, outcome.commit);
        };
        // The branch is looked at first only when the bundle is in the object store (deleted once
        // applied: after a crash it may be gone while the branch holds it). Otherwise it is created
        // first (create-only) and looked at only when it is there already: no git read per result.
        let existing = stored !== undefined ? (await store.read(ref))?.oid : undefined;
        for (let looked = stored !== undefined; ; looked = true) {
          if (existing === outcome.commit) {
            // Written before a crash (its bundle is gone since): the same result delivered again.
            log.info({ taskId: p.task.id, attemptId: p.record.attemptId, commit: outcome.commit }, 'result already imported');
            break;
          }
          if (existing && !journal.getTask(p.task.id)?.merged) {
            // Left by an attempt given up while its result was being applied (a cancel or a timeout
            // racing the result): a later attempt replaces it, as an in-process retry does (-B).
            // Compare-and-delete, then create-only: never half-written, never someone else's.
            await store.updateRefs([`delete ${ref} ${existing}`]);
            log.warn({ taskId: p.task.id, attemptId: p.record.attemptId, ref, replaced: existing }, 'task branch of an abandoned attempt replaced');
          }
          try {
            await write();
            break;
          } catch (err) {
            // Created first and refused: the branch is there already; what it holds decides (once).
            const there = looked ? undefined : (await store.read(ref))?.oid;
            if (!there) throw err;
            existing = there;
          }
        }
      } catch (err) {
        const error = toErrorData(err);
        log.error({ taskId: p.task.id, attemptId: p.record.attemptId, err: error }, 'result bundle refused');
        const { branch: _b, commit: _c, ...rest } = result;
        result = { ...rest, status: 'failed', error };
        receipt = { ...receipt, status: 'failed', error };
      }
    }
    // The receipt once per attempt, whichever run wrote it (a result redelivered after a restart
    // adds none again). The spend is not added here: the worker reported each call's cost as it
    // was made (cluster-gate.ts).
    mark('c.imported', p.task.id);
    const attempt = p.record.journalAttempt;
    const booked = p.inherited === true && journal.receiptsOfJob(p.task.jobId).some((k) => k.taskId === p.task.id && k.attempt === attempt);
    const named = h.message.receipt.call_ids;
    // Also for a result applied again (its receipt booked already): the pool hears the same cost.
    if (named !== undefined) ({ result, receipt } = withUnnamedCalls(p, named, result, receipt));
    // Booked as in-process (book-receipt.ts): the index row on disk before the line.
    if (!booked) await bookReceipt(journal, deps.receipts, { runId: deps.runId, taskId: p.task.id, attempt }, receipt, result);
    withReceipt.add(result);
    mark('c.applied', p.task.id);
    log.info({ taskId: p.task.id, attemptId: p.record.attemptId, worker: h.message.worker_id, status: result.status }, 'remote result applied');
    return result;
  };

  /** Applies a result for the dispatch waiting on it; a result that cannot be applied fails the task (never a hang). */
  const deliver = async (p: Pending, h: Held) => {
    pending.delete(p.record.attemptId);
    // Kept from redelivery while it waits behind an earlier apply of its task, too.
    delivering.add(h.msg);
    try {
      p.resolve(await apply(p, h));
    } catch (err) {
      const error = toErrorData(err);
      log.error({ taskId: p.task.id, attemptId: p.record.attemptId, err: error }, 'applying a remote result failed');
      p.resolve({ ...failed(p.task, p.record.programmerId, 'PAS_ERR_EXECUTOR_CRASHED', error.message), error });
    } finally {
      delivering.delete(h.msg);
    }
  };

  /** Results handed to their dispatch and being applied (they get in-progress acks until acked). */
  const delivering = new Set<JsMsg>();
  /** Results being applied; each runs on its own, so one bundle import never holds back the next result. */
  const applying = new Set<Promise<void>>();
  const deliverSoon = (p: Pending, h: Held) => {
    const done: Promise<void> = deliver(p, h).finally(() => applying.delete(done));
    applying.add(done);
  };

  /**
   * A result refused by its schema fails the attempt waiting for it at once, with the refusal
   * (naming the field), instead of leaving it to its timeout: workers send results unchecked
   * (messages.ts's encodeResultMessage), this is where they are judged. Only the attempt id is
   * read from the refused message, and only an attempt this process dispatched and still waits
   * for is failed; nothing of the message is applied.
   */
  const refusedResult = (data: Uint8Array, err: unknown) => {
    let refused: { attempt_id?: unknown; outcome?: { bundle_object?: unknown } } | null;
    try {
      refused = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as typeof refused;
    } catch {
      return;
    }
    const attemptId = refused?.attempt_id;
    const p = typeof attemptId === 'string' ? pending.get(attemptId) : undefined;
    if (!p) return;
    // The bundle it stored is of no use now: removed, when it is this attempt's result bundle by its name (never another's).
    const stored = refused?.outcome?.bundle_object;
    if (isResultBundleOf(stored, p.record.attemptId)) cleanup.later(() => deleteBundle(link.bundles, stored));
    pending.delete(p.record.attemptId);
    void forgetAttempt(p.task.id, p.record.attemptId);
    const error = toErrorData(err);
    p.resolve(endedResult(p, { ...failed(p.task, p.record.programmerId, error.code, error.message), error }));
  };

  const onResult = async (msg: JsMsg) => {
    cleanup.busy();
    if (early) {
      early.push(msg);
      return;
    }
    if (!msg.subject.startsWith(resultPrefix)) {
      // Spend and breaker outcomes share the stream: the cluster's LLM authority applies them.
      if (base.onReport) base.onReport(msg);
      else msg.ack();
      return;
    }
    let message: ResultMessage;
    try {
      message = decodeMessage('pas.v1.result', msg.data);
    } catch (err) {
      log.error({ err: toErrorData(err), subject: msg.subject, seq: msg.seq }, 'bad result message refused');
      msg.term();
      refusedResult(msg.data, err);
      return;
    }
    mark('c.result', message.task_id);
    const h: Held = { msg, message };
    const p = pending.get(message.attempt_id);
    if (p) return deliverSoon(p, h);
    if (applied.has(message.attempt_id)) {
      // A redelivery of a result already applied: held until the journal's commit, then acked.
      const list = awaitingAck.get(message.task_id);
      if (list) list.push(msg);
      else msg.ack();
      return;
    }
    const task = journal.getTask(message.task_id);
    if (!task || isFinishedTaskStatus(task.status)) return fence(h, 'the task is already finished');
    let current: AttemptRecord | undefined;
    try {
      current = await readAttempt(message.task_id);
    } catch (err) {
      // Not knowing the current attempt is no reason to drop a result (it may be the one the task
      // waits for): it stays on the broker and comes back.
      log.warn({ code: 'PAS_ERR_DIST_BROKER' satisfies ErrorCode, err: toErrorData(err), taskId: message.task_id, attemptId: message.attempt_id }, 'cannot read the current attempt: the result is delivered again');
      msg.nak(1_000);
      return;
    }
    if (current?.attemptId !== message.attempt_id) return fence(h, current ? `the current attempt is ${current.attemptId}` : 'the attempt was abandoned');
    // A dispatch may have started waiting for it while this looked the attempt up.
    const waiter = pending.get(message.attempt_id);
    if (waiter) return deliverSoon(waiter, h);
    // The current attempt, but nobody waits for it (this process restarted): kept for the re-dispatch
    // (once: a redelivery of the same stream message replaces the delivery held).
    const list = (held.get(message.task_id) ?? []).filter((k) => k.msg.seq !== msg.seq);
    list.push(h);
    held.set(message.task_id, list);
    log.info({ taskId: message.task_id, attemptId: message.attempt_id }, 'result of an earlier run held for the re-dispatch');
  };

  // One durable consumer of the results stream; results stay in it until the journal has them.
  const resultPrefix = anyOf(link.names.subjects.result).slice(0, -1);
  const { AckPolicy } = (await loadNatsModules()).jetstream;
  const stream = link.names.resultStream;
  // A result sent down a connection that died (a partition, the client's reconnect, a central
  // process killed before it acked) comes back after ack_wait, so ack_wait is short: at most
  // RESULT_ACK_WAIT_MS, whatever distribution.ack_wait_ms (the workers' task messages) says.
  // Results held here get in-progress acks well within it; a copy that comes back anyway (this
  // process stalled past it) is recognised and acked.
  const ackWaitMs = Math.min(link.settings.ack_wait_ms, RESULT_ACK_WAIT_MS);
  const central = { durable_name: 'central', ack_policy: AckPolicy.Explicit, ack_wait: nanos(ackWaitMs), max_ack_pending: 10_000 };
  await link.nats.jsm.consumers.add(stream, central).catch(async (err) => {
    if (!(await link.nats.jsm.consumers.info(stream, 'central').catch(() => null))) throw err;
    await link.nats.jsm.consumers.update(stream, 'central', { ack_wait: central.ack_wait });
  });
  const consumer = await link.nats.js.consumers.get(stream, 'central');
  // Tasks whose attempt an earlier run of this process recorded (listed once, before any dispatch):
  // the attempts this run makes all end applied or abandoned here, never adopted, so a task not
  // listed starts a new attempt without reading KV first.
  // Unknown (undefined) when the bucket cannot be listed now: then every dispatch reads KV.
  const earlier = await (async () => {
    const keys = new Set<string>();
    for await (const key of await link.attempts.keys()) keys.add(key);
    return keys;
  })().catch((err: unknown) => {
    log.warn({ code: 'PAS_ERR_DIST_BROKER' satisfies ErrorCode, err: toErrorData(err) }, 'cannot list the attempts of an earlier run: every dispatch asks KV for its task\'s attempt');
    return undefined;
  });
  const atStart = await consumer.info();
  const backlog = atStart.num_pending + atStart.num_ack_pending;
  const results = await consumer.consume();
  const consuming = (async () => {
    for await (const msg of results) {
      await onResult(msg).catch((err) => log.error({ err: toErrorData(err) }, 'result handling failed'));
    }
  })();
  // Held results get in-progress acks so they are not redelivered while they wait.
  const keepAlive = setInterval(() => {
    for (const m of early ?? []) m.working();
    for (const list of held.values()) for (const h of list) h.msg.working();
    for (const list of awaitingAck.values()) for (const m of list) m.working();
    for (const m of delivering) m.working();
  }, Math.max(200, Math.floor(ackWaitMs / 3)));
  keepAlive.unref();

  const progressSub = link.nats.nc.subscribe(anyOf(link.names.subjects.progress), {
    callback: (err, msg) => {
      if (err || !deps?.progress) return;
      try {
        const m = decodeMessage('pas.v1.progress', msg.data);
        const p = pending.get(m.attempt_id);
        if (!p) return;
        deps.progress.report({ agentId: m.programmer_id, jobId: p.task.jobId, taskId: m.task_id }, m.progress as TaskProgress);
      } catch (e) {
        log.warn({ err: toErrorData(e) }, 'bad progress message refused');
      }
    },
  });

  const failed = (task: TaskSpec, programmerId: string, code: ErrorCode, message: string, status: 'failed' | 'cancelled' = 'failed'): TaskResult => ({
    taskId: task.id,
    jobId: task.jobId,
    programmerId,
    status,
    error: codedError(code, message, { programmerId }),
  });

  const waitFor = (p: Pending, signal: AbortSignal) =>
    new Promise<TaskResult>((resolve) => {
      const onAbort = () => {
        if (pending.get(p.record.attemptId) !== p) {
          // Its result is being applied right now: the attempt is over, a re-dispatch starts another.
          void forgetAttempt(p.task.id, p.record.attemptId);
          return;
        }
        pending.delete(p.record.attemptId);
        void link.nats.nc
          .request(link.names.subjects.cancel(p.record.worker), encodeMessage('pas.v1.cancel', { kind: 'pas.v1.cancel', attempt_id: p.record.attemptId, task_id: p.task.id, programmer_id: p.record.programmerId }), { timeout: link.settings.request_timeout_ms })
          .catch(() => undefined);
        void forgetAttempt(p.task.id, p.record.attemptId);
        resolve(endedResult(p, failed(p.task, p.record.programmerId, 'PAS_ERR_TASK_CANCELLED', 'the remote attempt was stopped', 'cancelled')));
      };
      p.resolve = (result) => {
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      pending.set(p.record.attemptId, p);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });

  /** An earlier run's attempt that went out can be adopted; one that never did is dispatched anew (said in the log). */
  const adoptable = async (record: AttemptRecord, task: TaskSpec): Promise<boolean> => {
    // Its worker said it runs it (its message may no longer be the newest on the subject), or the broker has it.
    if (liveness.runningOn(record.worker).has(record.attemptId) || (await wentOut(record))) return true;
    // Its result may have come in while the broker was asked (the worker acks its task only after storing the result).
    if (held.get(task.id)?.some((h) => h.message.attempt_id === record.attemptId)) return true;
    log.info({ taskId: task.id, attemptId: record.attemptId, programmerId: record.programmerId }, 'attempt of an earlier run was never dispatched (the process stopped before it published the task): dispatched anew');
    return false;
  };

  const dispatch = async (input: ExecuteTaskInput, signal: AbortSignal): Promise<TaskResult> => {
    const { task, programmerId } = input;
    mark('c.dispatch', task.id, programmerId);
    await ready;
    // A result of this task's current attempt that arrived while this process was down. Only a
    // task an earlier run dispatched can have one (or an attempt to adopt): KV is asked for those.
    const current = !earlier || earlier.has(task.id) || held.has(task.id) ? await currentAttempt(task.id) : undefined;
    const waiting = held.get(task.id);
    // An attempt applied already (its failure retried now), here or by an earlier run whose pool
    // heard its end, is over: a copy of its result that came back is not applied again.
    const over = current !== undefined && (applied.has(current.attemptId) || journal.attemptTaken(task.id, current.journalAttempt));
    if (current && waiting) {
      held.delete(task.id);
      const mine = over ? undefined : waiting.find((h) => h.message.attempt_id === current.attemptId);
      for (const h of waiting) if (h !== mine) fence(h, h.message.attempt_id === current.attemptId ? 'a copy of the result applied' : `the current attempt is ${current.attemptId}`, h.message.attempt_id === current.attemptId);
      if (mine) {
        log.info({ taskId: task.id, attemptId: current.attemptId }, 'result of an earlier run applied on re-dispatch');
        return apply({ record: current, task, resolve: () => undefined, inherited: true }, mine);
      }
    }
    // An attempt still running on a live worker is adopted, not started again (one whose result
    // was applied is over: a retry after its failure is a new attempt).
    if (current && !over && ![...pending.values()].some((p) => p.record.attemptId === current.attemptId) && (await liveness.ownerOf(current.programmerId, signal)) === current.worker && (await adoptable(current, task))) {
      log.info({ taskId: task.id, attemptId: current.attemptId, worker: current.worker, programmerId: current.programmerId }, 'remote attempt adopted');
      const adopted = waitFor({ record: current, task, resolve: () => undefined, inherited: true }, signal);
      // Its result may have arrived (and been held) while the owner was asked.
      const early = held.get(task.id)?.find((h) => h.message.attempt_id === current.attemptId);
      const waiter = pending.get(current.attemptId);
      if (early && waiter) {
        held.set(task.id, held.get(task.id)!.filter((h) => h !== early));
        if (held.get(task.id)!.length === 0) held.delete(task.id);
        deliverSoon(waiter, early);
      }
      return adopted;
    }
    const worker = await liveness.ownerOf(programmerId, signal);
    if (!worker) return failed(task, programmerId, 'PAS_ERR_DIST_WORKER_OFFLINE', `the worker hosting ${programmerId} is offline`);
    const repo = await deps.repositories.forTask(task);
    const baseCommit = await baseOf(repo, task.baseCommit ?? 'HEAD');
    const repoKey = await memo(repoKeys, repo, () => repoKeyOf(repo));
    const journalAttempt = journal.taskAttempt(task.id) ?? task.attempt ?? 1;
    const record: AttemptRecord = { attemptId: `${task.id}.a${journalAttempt}.${randomBytes(4).toString('hex')}`, programmerId, worker, journalAttempt, repo, repoKey, dispatchedAt: now() };
    // The base as a bundle: full the first time this host sees the repository, incremental after.
    const hostHas = haves.haves(worker, repoKey);
    // A host that holds the base needs no bundle; otherwise one bundle per (base, what the host
    // holds), made once even when many tasks are dispatched at the same moment.
    const bundleKey = `${repoKey}:${baseCommit}:${hostHas.join(',')}`;
    const makeBundle = async () => {
      const made = await makeBaseBundle(repo, baseCommit, { haves: hostHas });
      const name = bundleObjectName(record.attemptId, 'base');
      // Shared by every task dispatched on this base meanwhile: it waits out a broker outage for all of them.
      const stored = made.bytes ? (await untilStored(link, `storing ${name}`, () => putBundle(link.bundles, name, made.bytes!), log, (err) => stopped || !brokerAway(link, err))).name : null;
      return { name: stored, full: made.full };
    };
    const reused = bundlesPut.has(bundleKey);
    // Shared by the tasks on this base: a task stopped meanwhile (during a broker outage) does not wait for it.
    const stoppedMeanwhile = () => new Promise<null>((resolve) => (signal.aborted ? resolve(null) : signal.addEventListener('abort', () => resolve(null), { once: true })));
    const shared = hostHas.includes(baseCommit) ? { name: null, full: false } : await Promise.race([memo(bundlesPut, bundleKey, makeBundle), stoppedMeanwhile()]);
    if (!shared) return failed(task, programmerId, 'PAS_ERR_TASK_CANCELLED', 'the task was stopped before it was dispatched', 'cancelled');
    let bundle = shared;
    // A bundle made earlier that the store dropped since (bundle_ttl_s, deleted) is made anew.
    if (reused && bundle.name && !(await bundleStored(link.bundles, bundle.name))) {
      bundlesPut.delete(bundleKey);
      bundle = await memo(bundlesPut, bundleKey, makeBundle);
    }
    // Cancelled (or timed out) while the base was being made: nothing goes to the worker.
    if (signal.aborted) return failed(task, programmerId, 'PAS_ERR_TASK_CANCELLED', 'the task was stopped before it was dispatched', 'cancelled');
    cleanup.busy();
    recordsPut.set(task.id, (recordsPut.get(task.id) ?? 0) + 1);
    // A broker away (restarting, a lost link) is waited for, as long as the task may wait: failing
    // here would spend one of the task's retries on every dispatch of the outage.
    const giveUp = (err: unknown) => signal.aborted || stopped || !brokerAway(link, err);
    await onBroker('cannot record the attempt', () => untilStored(link, `recording attempt ${record.attemptId}`, () => link.attempts.put(task.id, toJson(record)), log, giveUp));
    mark('c.recorded', task.id);
    const { repo: _repo, ...portable } = task;
    // The job's own budget goes with its tasks: the worker's LLM gateway holds the programs' calls to it.
    const jobLimit = journal.getJob(task.jobId)?.spec.maxJobSpendUsd;
    const p: Pending = { record, task, resolve: () => undefined };
    const result = waitFor(p, signal);
    const message: TaskMessage = {
      kind: 'pas.v1.task',
      job_id: task.jobId,
      task_id: task.id,
      attempt_id: record.attemptId,
      programmer_id: programmerId,
      task: { ...portable, baseCommit },
      repo_key: repoKey,
      base_commit: baseCommit,
      bundle_object: bundle.name,
      bundle_full: bundle.full,
      branch: taskBranchName(task.jobId, task.id),
      sent_at: new Date(record.dispatchedAt).toISOString(),
      ...(jobLimit !== undefined ? { job_max_spend_usd: jobLimit } : {}),
    };
    try {
      // The attempt id is the message id: a publish tried again is stored once.
      await onBroker(`cannot publish the task for ${programmerId}`, () => untilStored(link, `publishing ${record.attemptId}`, () => link.nats.js.publish(link.names.subjects.task(programmerId), encodeTaskMessage(message), { msgID: record.attemptId }), log, giveUp));
    } catch (err) {
      // Not dispatched (as far as we know): the attempt is no longer current, so a worker that
      // got the message anyway skips it, and a late result of it is fenced.
      pending.delete(record.attemptId);
      await forgetAttempt(task.id, record.attemptId).catch(() => undefined);
      throw err;
    }
    mark('c.published', task.id);
    log.info({ taskId: task.id, attemptId: record.attemptId, programmerId, worker }, 'task dispatched to a remote programmer');
    return result;
  };

  return {
    async drainBacklog(timeoutMs) {
      const deadline = now() + timeoutMs;
      while (early && early.length < backlog && now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return backlog;
    },
    bind(given) {
      deps = given;
      journal = given.journal;
      const backlogMsgs = early ?? [];
      early = undefined;
      // No import runs before the quarantine refs a killed run left are gone (every dispatch waits for this).
      ready = (async () => {
        await sweepQuarantinesAfterCrash(given.journal, given.repositories, log);
        for (const msg of backlogMsgs) await onResult(msg).catch((err) => log.error({ err: toErrorData(err) }, 'result handling failed'));
      })();
    },
    wrap: (local) => (input, signal) => {
      if (!remoteIds.has(input.programmerId)) return local(input, signal);
      const startedAt = now();
      // The attempt as it starts (a stopped one ends after the pool may have started the next).
      const attempt = journal.taskAttempt(input.task.id) ?? input.task.attempt ?? 1;
      return dispatch(input, signal)
        .catch((err) => {
          const error = toErrorData(err);
          log.warn({ code: error.code, taskId: input.task.id, programmerId: input.programmerId, err: error }, 'remote dispatch failed');
          // The broker's trouble is worth another try; a bad base commit or repository is not.
          return { ...failed(input.task, input.programmerId, error.code, error.message), error: error.code === 'PAS_ERR_DIST_BROKER' || !isPasError(err) ? { ...error, retryable: true } : error };
        })
        .then((result) => (withReceipt.has(result) ? result : bookEnded(input, result, startedAt, attempt)));
    },
    attemptOver(attemptId) {
      if (pending.has(attemptId)) return false;
      if (givenUp.has(attemptId)) return true;
      const parsed = ATTEMPT_ID.exec(attemptId);
      if (!parsed) return false;
      const taskId = parsed[1]!;
      // An earlier run of this process gave it up (its given-up set went with it): the pool heard
      // its end (its receipt's row is taken), another attempt of its task runs, or the journal has
      // finished the task.
      if (journal?.attemptTaken(taskId, Number(parsed[2]))) return true;
      for (const p of pending.values()) if (p.task.id === taskId) return true;
      const task = journal?.getTask(taskId);
      return task !== undefined && isFinishedTaskStatus(task.status);
    },
    taskFinished(taskId) {
      mark('c.finished', taskId);
      abandoned.delete(taskId);
      earlier?.delete(taskId);
      if (!awaitingAck.has(taskId)) return;
      // Acked once the journal group holding the finish is committed: the tasks that finish in
      // this event-loop turn share that commit (one fsync), as in-process bookkeeping does.
      acks.later(() => ackFinished(taskId));
    },
    sweepHeld() {
      for (const [taskId, list] of held) {
        const task = journal.getTask(taskId);
        if (task && !isFinishedTaskStatus(task.status)) continue;
        held.delete(taskId);
        for (const h of list) fence(h, 'the task is already finished');
      }
    },
    workerOffline(worker) {
      for (const [attemptId, p] of pending) {
        if (p.record.worker !== worker) continue;
        pending.delete(attemptId);
        void forgetAttempt(p.task.id, attemptId);
        log.warn({ code: 'PAS_ERR_DIST_WORKER_OFFLINE' satisfies ErrorCode, taskId: p.task.id, attemptId, worker }, 'worker offline: its task goes to another programmer');
        p.resolve(endedResult(p, failed(p.task, p.record.programmerId, 'PAS_ERR_DIST_WORKER_OFFLINE', `worker ${worker} sent no heartbeat in time; the task runs again on another programmer`)));
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      acks.now();
      clearInterval(keepAlive);
      progressSub.unsubscribe();
      await results.close().catch(() => undefined);
      await consuming.catch(() => undefined);
      await Promise.allSettled([...applying]);
      await cleanup.stop(2_000);
    },
  };
}

/** Whether `name` is a result bundle's object name of `attemptId` (as a worker names them: by attempt and commit). */
function isResultBundleOf(name: unknown, attemptId: string): name is string {
  if (typeof name !== 'string' || !objectNameSchema.safeParse(name).success) return false;
  const suffix = '.result.bundle';
  const prefix = `${bundleObjectName(attemptId, 'result').slice(0, -suffix.length)}.`;
  return name.startsWith(prefix) && name.endsWith(suffix);
}
