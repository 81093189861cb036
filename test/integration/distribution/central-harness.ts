/**
 * The central side of remote programmers (remote-programmers.ts) on a real nats-server, a real
 * SQLite journal and real git repositories, with a scripted worker that speaks the real wire
 * format: it pulls `pas.v1.task` from the programmer's durable consumer, fetches the base bundle
 * into its own cache (WorkerRepoCache), makes a commit, sends it back as a bundle and publishes a
 * `pas.v1.result`. Only worker liveness is given (the worker `w1` owns every programmer); it has
 * tests of its own. Each bench uses its own `distribution.prefix`, so benches share one server.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { JobSpec, TaskResult, TaskSpec } from '../../../machines/domain.ts';
import { distributionSchema } from '../../../src/config/schemas.ts';
import { bundleObjectName, getBundle, HostHaves, putBundle, WorkerRepoCache } from '../../../src/distribution/bundles.ts';
import { nanos, openLink, type DistLink } from '../../../src/distribution/link.ts';
import { decodeMessage, encodeMessage, type ResultMessage, type TaskMessage } from '../../../src/distribution/messages.ts';
import type { JsMsg } from '../../../src/distribution/nats-connection.ts';
import { createRemoteProgrammers, type ExecuteTask, type RemoteProgrammers } from '../../../src/distribution/remote-programmers.ts';
import type { WorkerLiveness } from '../../../src/distribution/worker-liveness.ts';
import type { PasConfig } from '../../../src/config/load-config.ts';
import { createClusterLlmAuthority, reportPrefixes, serveAdmissions } from '../../../src/distribution/cluster-llm-authority.ts';
import { openJournal, type Journal } from '../../../src/journal/journal.ts';
import { breakerSettingsFrom } from '../../../src/llm/index.ts';
import { createMoneyPolicy } from '../../../src/llm/money-policy.ts';
import { BreakerRegistry } from '../../../src/runtime/breaker-registry.ts';
import type { Receipt } from '../../../src/llm/types.ts';
import { createRepositories } from '../../../src/runtime/services/repositories.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

export const WORKER = 'w1';
export const PROGRAMMER = 'Prog-011';

export interface BenchOptions {
  /** Programmer ids hosted by workers (default PROGRAMMER and Prog-012). */
  remoteIds?: string[];
  /**
   * The central process's breakers and budget (cluster-llm-authority.ts) for these models, so a
   * real `pas worker` may call its model: it asks before every call. Stays up across `restart()`.
   */
  llmFor?: PasConfig;
  /** What the central process appends receipts with (default: kept in `receipts`). */
  appendReceipt?: (receipt: Receipt) => void | Promise<void>;
}

export interface Bench {
  link: DistLink;
  journal: Journal;
  repo: TempRepo;
  dataDir: string;
  remote: RemoteProgrammers;
  /** Receipts the central process wrote. */
  receipts: Receipt[];
  /** Every log line of the central side (all its instances). */
  logs: Array<Record<string, unknown>>;
  /** A job with one running task in the journal (attempt 1), on the bench's repository. */
  addTask(taskId: string, extra?: Partial<TaskSpec>): TaskSpec;
  /** The executeTask the runtime would call for a remote programmer. */
  execute(task: TaskSpec, signal?: AbortSignal, programmerId?: string): Promise<TaskResult>;
  /** The next task message for `programmerId`, as its worker pulls it. */
  nextTask(programmerId?: string, timeoutMs?: number): Promise<{ msg: JsMsg; task: TaskMessage } | null>;
  /** Runs a task as a worker would: a commit on top of its base, sent back as a bundle with a result. */
  /** A worker's commit on the task's base, sent back (its bundle in the object store, or inside the message with `inline`; `bundleBytes` changes what is sent). */
  complete(task: TaskMessage, opts?: { costUsd?: number; callIds?: string[]; bundleObject?: string; inline?: boolean; bundleBytes?: (bytes: Uint8Array) => Uint8Array }): Promise<ResultMessage>;
  /** Publishes a result on the results stream (a worker's, or one redelivered after a broker restart). */
  publishResult(result: ResultMessage, msgID?: string): Promise<void>;
  /** The central process again (after a crash): a new instance on the same journal, broker and repository. */
  restart(): Promise<RemoteProgrammers>;
  /** The task's current attempt in KV, if any. */
  currentAttempt(taskId: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Worker liveness as a central process sees a live worker `w1` hosting every programmer. */
export const liveWorker: WorkerLiveness = {
  isOnline: (worker) => worker === WORKER,
  ownerOf: async () => WORKER,
  online: () => new Map([[WORKER, [PROGRAMMER]]]),
  reachable: () => new Set([PROGRAMMER]),
  // No heartbeat lists a running attempt: the broker's streams say what went out.
  runningOn: () => new Set(),
  stop: () => undefined,
};

/** A pino logger whose lines land, parsed, in `lines`. */
export function memoryLogger(lines: Array<Record<string, unknown>>, level: pino.Level = 'debug'): pino.Logger {
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level }, sink);
}

/** Fails the test instead of hanging it when `p` never settles. */
export function settled<T>(p: Promise<T>, what: string, ms = 15_000): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms (hung)`)), ms))]);
}

export async function startBench(natsUrl: string, options: BenchOptions = {}): Promise<Bench> {
  const prefix = `b${randomBytes(4).toString('hex')}`;
  const settings = distributionSchema.parse({ nats_url: natsUrl, prefix, request_timeout_ms: 2_000 });
  const link = await openLink(settings, 'pas-central-test');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-remote-bench-'));
  const journal = openJournal(path.join(dataDir, 'journal.db'));
  const repo = await createTempRepo({ 'README.md': '# remote bench\n', 'src/a.js': 'export const a = 1;\n' });
  const cache = new WorkerRepoCache(path.join(dataDir, 'worker'));
  const receipts: Receipt[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const logger = memoryLogger(logs);
  const instances: RemoteProgrammers[] = [];
  const haves = new HostHaves();
  const llm = options.llmFor;
  const authority = llm ? createClusterLlmAuthority({ logger, ...reportPrefixes(link.names) }) : undefined;
  const breakers = llm ? new BreakerRegistry(breakerSettingsFrom(llm.pool.failover.circuit_breaker)) : undefined;
  if (llm && authority && breakers) authority.bind({ breakers, journal, money: createMoneyPolicy({ models: llm.models, costOptimization: llm.pool.cost_optimization, spend: journal.spendStore() }) });
  const stopAdmissions = authority ? serveAdmissions(link, authority, logger) : undefined;

  const start = async (): Promise<RemoteProgrammers> => {
    const remote = await createRemoteProgrammers({ link, liveness: liveWorker, logger, haves, ...(authority ? { onReport: (msg: JsMsg) => authority.take(msg) } : {}) }, new Set(options.remoteIds ?? [PROGRAMMER, 'Prog-012']));
    remote.bind({
      journal,
      receipts: { append: options.appendReceipt ?? ((r) => void receipts.push(r)) },
      runId: `run-${instances.length + 1}`,
      repositories: createRepositories(dataDir),
    });
    instances.push(remote);
    return remote;
  };

  const consumers = new Set<string>();
  const bench: Bench = {
    link,
    journal,
    repo,
    dataDir,
    remote: await start(),
    receipts,
    logs,
    addTask(taskId, extra = {}) {
      const jobId = `job-${taskId}`;
      const job: JobSpec = { id: jobId, task: `do ${taskId}`, lane: 'Code', files: ['src/a.js'], repo: repo.repo, submittedAt: new Date().toISOString() };
      journal.acceptJob(job);
      const task: TaskSpec = { id: taskId, jobId, managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: `edit for ${taskId}`, files: ['src/a.js'], repo: repo.repo, attempt: 1, ...extra };
      journal.upsertTask(task, 'running');
      return task;
    },
    execute(task, signal = new AbortController().signal, programmerId = PROGRAMMER) {
      const local: ExecuteTask = async () => {
        throw new Error('a remote programmer ran locally');
      };
      return bench.remote.wrap(local)({ task, programmerId }, signal);
    },
    async nextTask(programmerId = PROGRAMMER, timeoutMs = 10_000) {
      const durable = `prog-${programmerId}`;
      if (!consumers.has(durable)) {
        await link.nats.jsm.consumers.add(link.names.taskStream, { durable_name: durable, filter_subject: link.names.subjects.task(programmerId), ack_policy: 'explicit' as never, max_ack_pending: 1, ack_wait: nanos(30_000) });
        consumers.add(durable);
      }
      const consumer = await link.nats.js.consumers.get(link.names.taskStream, durable);
      const msg = await consumer.next({ expires: timeoutMs });
      if (!msg) return null;
      return { msg, task: decodeMessage('pas.v1.task', msg.data) };
    },
    async complete(task, opts = {}) {
      const clone = await cache.ensureBase(task.repo_key, task.bundle_object ? await getBundle(link.bundles, task.bundle_object) : null, task.base_commit);
      const tree = await gitOut(clone, 'rev-parse', `${task.base_commit}^{tree}`);
      const commit = await gitOut(clone, 'commit-tree', tree, '-p', task.base_commit, '-m', `work of ${task.attempt_id}`);
      const made = await cache.makeResultBundle(clone, task.base_commit, commit);
      const bytes = opts.bundleBytes ? opts.bundleBytes(made) : made;
      const bundleObject = opts.bundleObject ?? bundleObjectName(task.attempt_id, 'result');
      if (!opts.inline) await putBundle(link.bundles, bundleObject, bytes);
      const bundle = opts.inline ? { bundle: Buffer.from(bytes).toString('base64') } : { bundle_object: bundleObject };
      const now = new Date().toISOString();
      const result: ResultMessage = {
        kind: 'pas.v1.result',
        attempt_id: task.attempt_id,
        job_id: task.job_id,
        task_id: task.task_id,
        programmer_id: task.programmer_id,
        worker_id: WORKER,
        outcome: { status: 'ok', base_commit: task.base_commit, commit, ...bundle, summary: 'done' },
        receipt: { provider: 'ollama', model: 'qwen2.5-coder:7b-instruct', used_backup: false, tokens: { input: 100, output: 20 }, cost_usd: opts.costUsd ?? 0, duration_ms: 5, kpi: { files_changed: 1, lines_added: 1, lines_removed: 0 }, started_at: now, finished_at: now, ...(opts.callIds ? { call_ids: opts.callIds } : {}) },
      };
      await bench.publishResult(result);
      return result;
    },
    async publishResult(result, msgID = result.attempt_id) {
      await link.nats.js.publish(link.names.subjects.result(result.programmer_id), encodeMessage('pas.v1.result', result), { msgID });
    },
    async restart() {
      await bench.remote.stop();
      bench.remote = await start();
      return bench.remote;
    },
    async currentAttempt(taskId) {
      const entry = await link.attempts.get(taskId);
      if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined;
      return (JSON.parse(entry.string()) as { attemptId: string }).attemptId;
    },
    async close() {
      for (const r of instances) await r.stop().catch(() => undefined);
      stopAdmissions?.();
      breakers?.stop();
      await link.close().catch(() => undefined);
      journal.close();
      await repo.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return bench;
}
