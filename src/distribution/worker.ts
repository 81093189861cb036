/**
 * `pas worker` (CONTRACT §10, §11): hosts the programmers whose `host` names it. It registers
 * them with the central process (which gives each id to one owner), heartbeats, and pulls each
 * programmer's tasks from its own durable consumer (one task in flight, in-progress acks while
 * working, bounded redelivery). A task runs with the same executors and pipeline as in-process
 * (runProgrammerTask) in this host's own cached clone, made from the base bundle; the commit goes
 * back as a bundle and the result as a `pas.v1.result` on the results stream. The task message is
 * acked only once the result is stored. LLM keys stay here: the models are this host's; the
 * breakers and the budget are the cluster's (cluster-gate.ts asks the central process per call).
 * The agent CLIs and aider reach the models through this worker's own loopback LLM gateway
 * (worker-llm-gateway.ts) with a per-task credential, so their calls are measured for the receipt
 * and pass the breakers and the budget.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { loadNatsModules, type JsMsg } from './nats-connection.ts';
import type { PasConfig, ResolvedProgrammer } from '../config/load-config.ts';
import type { DistributionConfig } from '../config/schemas.ts';
import { isPasError, PasError, toErrorData, type ErrorCode } from '../errors.ts';
import { AGENT_CLI_SPECS, createAgentCliExecutor, createAiderExecutor, createNativeExecutor, runProgrammerTask, type Executor, type ExecutorKindName } from '../executors/index.ts';
import { closeCheckoutWatches, configureCheckoutWatches } from '../executors/checkout-changes.ts';
import type { TaskProgress } from '../executors/executor.ts';
import { breakerSettingsFrom, createLlmClient, createMemorySpendStore, llmClientOptionsFrom } from '../llm/index.ts';
import { createOfflineAdapter } from '../llm/providers/offline-adapter.ts';
import { abortableSleep } from '../llm/sleep.ts';
import type { ChatRequest, LlmClient, ProviderAdapter, Receipt } from '../llm/types.ts';
import { createClusterGate, followRevokes } from './cluster-gate.ts';
import { bundleObjectName, getBundle, putBundle, WorkerRepoCache } from './bundles.ts';
import { attemptOf, brokerAway, nanos, openLink, publishUntilStored, untilStored, type AttemptRecord, type DistLink } from './link.ts';
import { decodeMessage, encodeMessage, encodeResultMessage, encodeWithInlineBundle, MAX_CALLS_PER_RESULT, type ResultMessage, type TaskMessage } from './messages.ts';
import { refusedForBuild, thisBuild } from './protocol.ts';
import { SentResults } from './sent-results.ts';
import { refusalOf } from './task-refusal.ts';
import { mark, timelineOn } from './timeline.ts';
import { startWorkerLlmGateway, type WorkerLlmGateway } from './worker-llm-gateway.ts';
import { releaseOwnership, takenOverBy } from './worker-liveness.ts';

export interface WorkerOptions {
  config: PasConfig;
  workerId: string;
  /** Programmer ids to host (default: every programmer whose `host` is workerId). */
  programmerIds?: string[];
  dataDir: string;
  logger: Logger;
  /** Overrides `distribution.nats_url`. */
  natsUrl?: string;
  /** Every model is the offline scripted model (synthetic edits), each edit taking `editDelayMs`. */
  offline?: boolean;
  editDelayMs?: number;
}

export interface Worker {
  readonly id: string;
  readonly programmers: string[];
  /**
   * Settles when the worker cannot go on serving: the central process now runs another PAS build
   * (PAS_ERR_DIST_VERSION_MISMATCH, naming both), or another process of this worker id took over
   * its programmers while this one was not heard (PAS_ERR_DIST_OWNER_TAKEN). The caller then stops
   * it (`pas worker` exits 1).
   */
  readonly ended: Promise<PasError>;
  stop(): Promise<void>;
}

interface Running {
  attemptId: string;
  taskId: string;
  programmerId: string;
  controller: AbortController;
}

/** An adapter whose every answer takes `ms` (the offline model made to take time, as `pas demo` does). */
function slowed(adapter: ProviderAdapter, ms: number): ProviderAdapter {
  return {
    provider: adapter.provider,
    chat: async (model: string, request: ChatRequest) => {
      await abortableSleep(ms, request.signal);
      return adapter.chat(model, request);
    },
  };
}

export function programmersFor(config: PasConfig, workerId: string, ids?: string[]): ResolvedProgrammer[] {
  if (ids && ids.length > 0) {
    const unknown = ids.filter((id) => !config.programmers.some((p) => p.id === id));
    if (unknown.length > 0) throw new PasError('PAS_ERR_CONFIG_INVALID', `--programmers: ${unknown.join(', ')} not in programmer_pool.yaml`, { details: { unknown } });
    // The central process gives a worker only programmers configured with its host: say so here, before any broker.
    const elsewhere = config.programmers.filter((p) => ids.includes(p.id) && p.host !== workerId);
    if (elsewhere.length > 0) {
      const named = elsewhere.map((p) => `${p.id} (host: ${p.host ?? 'local'})`).join(', ');
      throw new PasError('PAS_ERR_CONFIG_INVALID', `--programmers: ${named} not hosted by ${workerId} in programmer_pool.yaml; a worker runs only programmers with host: ${workerId}`, { details: { elsewhere: elsewhere.map((p) => p.id) } });
    }
    return config.programmers.filter((p) => ids.includes(p.id));
  }
  return config.programmers.filter((p) => p.host === workerId);
}

export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const { config, workerId, logger } = options;
  const log = logger.child({ component: 'worker', worker: workerId });
  const base = config.pas.distribution;
  const settings = base ? { ...base, ...(options.natsUrl ? { nats_url: options.natsUrl } : {}) } : undefined;
  if (!settings) throw new PasError('PAS_ERR_CONFIG_INVALID', 'pas.yaml: distribution: a worker needs distribution.nats_url (or --nats URL)');
  const wanted = programmersFor(config, workerId, options.programmerIds);
  if (wanted.length === 0) throw new PasError('PAS_ERR_CONFIG_INVALID', `programmer_pool.yaml: no programmer has host: ${workerId} (set programmers[].host: ${workerId} on the programmers this worker runs)`);

  const link: DistLink = await openLink(settings, `pas-worker:${workerId}`);
  // What has started so far, undone (last first) when a later step fails: a worker that cannot run
  // its programmers must not live on heartbeating, as if it ran them.
  const undo: Undo = [];
  try {
    return await startOn(options, settings, wanted, link, undo);
  } catch (err) {
    const failure = isPasError(err) ? err : new PasError('PAS_ERR_INTERNAL', `pas worker ${workerId} could not start: ${(err as Error).message}`, { cause: err });
    log.error({ code: failure.code, err: toErrorData(failure) }, 'worker could not start: what it had started is stopped');
    for (const step of undo.reverse()) await Promise.resolve().then(step).catch((e: unknown) => log.warn({ err: toErrorData(e) }, 'undoing a start step failed'));
    await link.close().catch(() => undefined);
    throw failure;
  }
}

/** Steps to undo, in the order they were done. */
type Undo = Array<() => unknown>;

async function startOn(options: WorkerOptions, settings: DistributionConfig, wanted: ResolvedProgrammer[], link: DistLink, undo: Undo): Promise<Worker> {
  const { config, workerId, logger } = options;
  const log = logger.child({ component: 'worker', worker: workerId });
  const { nc } = link.nats;
  const startedAt = new Date().toISOString();
  const build = thisBuild();

  const running = new Map<string, Running>();
  let stopping = false;
  /** This process among others of the same worker id (two containers may both run pid 1). */
  const instance = randomUUID();
  // Heartbeats (plain publish) from the start: what runs now, so the central process can adopt it after a restart.
  // They carry a reply inbox: a central process that does not take them (one restarted with another
  // build) answers there, and this worker registers again to hear why (see `ended`).
  const heartbeatInbox = (await loadNatsModules()).transport.createInbox();
  let seq = 0;
  let lastBeatAt = performance.now();
  /** Told (once registered) that this process did not run for longer than offline_after_ms: paused, frozen. */
  let stalled = (_ms: number): void => undefined;
  const beat = () => {
    const at = performance.now();
    if (at - lastBeatAt > settings.offline_after_ms) stalled(Math.round(at - lastBeatAt));
    lastBeatAt = at;
    if (nc.isClosed()) return;
    nc.publish(
      link.names.subjects.heartbeat(workerId),
      encodeMessage('pas.v1.heartbeat', { kind: 'pas.v1.heartbeat', worker_id: workerId, seq: seq++, pid: process.pid, instance, protocol: build.protocol, sent_at: new Date().toISOString(), running: [...running.values()].map((r) => ({ programmer_id: r.programmerId, attempt_id: r.attemptId })) }),
      { reply: heartbeatInbox },
    );
  };
  beat();
  const heartbeat = setInterval(beat, settings.heartbeat_ms);
  undo.push(() => clearInterval(heartbeat));

  const cache = new WorkerRepoCache(options.dataDir, {
    onFailed: (commit, err) => log.warn({ code: 'PAS_ERR_GIT' satisfies ErrorCode, commit, err: toErrorData(err) }, 'the have ref of a result was not written: a later base bundle for this host will be bigger'),
    onSweepFailed: (err) => log.warn({ code: 'PAS_ERR_GIT' satisfies ErrorCode, err: toErrorData(err) }, 'the older have refs of a cached clone were not swept: tried again after more results'),
  });
  // Registration: the central process gives each programmer to one owner (it may be down: ask again).
  /** Why the last registration was refused programmers (each reason once). */
  let refusals: string[] = [];
  /** Whether every programmer was refused "for now" (another process of this worker id may be alive). */
  let refusedForNow = false;
  const register = async () => {
    const reply = await nc.request(
      link.names.subjects.register,
      encodeMessage('pas.v1.register', { kind: 'pas.v1.register', worker_id: workerId, host_name: os.hostname(), programmer_ids: wanted.map((p) => p.id), capabilities: [], pid: process.pid, instance, version: build.version, protocol: build.protocol, started_at: startedAt, repo_haves: await cache.haves() }),
      { timeout: settings.request_timeout_ms },
    );
    // A central process of another build refuses this one (read before the strict schema: its answer may differ too).
    const otherBuild = refusedForBuild(reply.data);
    if (otherBuild) throw otherBuild;
    const registered = decodeMessage('pas.v1.registered', reply.data);
    refusals = [...new Set(registered.refused.map((r) => r.error.message))];
    refusedForNow = registered.accepted.length === 0 && registered.refused.length > 0 && registered.refused.every((r) => r.error.code === 'PAS_ERR_DIST_OWNER_TAKEN' && r.error.retryable);
    if (!refusedForNow) for (const r of registered.refused) log.error({ programmerId: r.programmer_id, err: r.error }, 'programmer refused');
    return registered.accepted;
  };
  let accepted: string[] = [];
  /** When the worker last said that no central process listens (said again every 30 s while none does). */
  let saidNoCentral = Number.NEGATIVE_INFINITY;
  // Refused "for now": this worker id's old process may still be alive. A restart is taken once the
  // old one has been silent for offline_after_ms; a second live process gives up after twice that.
  const givesUpAt = Date.now() + 2 * settings.offline_after_ms + settings.request_timeout_ms;
  let saidInUse = false;
  for (let wait = 500; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      accepted = await register();
      if (!refusedForNow || Date.now() >= givesUpAt) break;
      if (!saidInUse) log.warn({ refused: refusals }, 'another process of this worker id may be alive: asking again until it has been silent for offline_after_ms');
      saidInUse = true;
      await new Promise((r) => setTimeout(r, Math.min(1_000, settings.heartbeat_ms)));
      continue;
    } catch (err) {
      // Asking again cannot help: the central process runs another build (its message says which and what to do).
      if (isPasError(err, 'PAS_ERR_DIST_VERSION_MISMATCH')) throw err;
      if ((err as Error).name === 'NoRespondersError' || /no responders/i.test((err as Error).message)) {
        // The broker answers, but no central process listens (not started yet, restarting, or another distribution.prefix).
        if (Date.now() - saidNoCentral >= 30_000) {
          saidNoCentral = Date.now();
          log.warn({ subject: link.names.subjects.register }, 'no central process listens yet (is pas up running, with the same distribution.prefix?); asking again until one does');
        }
      } else {
        // Heard but not answered: the central process is busy, or runs an older build that refuses this one's registration unread.
        const hint = (err as Error).name === 'TimeoutError' ? { hint: 'the central process got the registration but did not answer: if its log says "registration refused", it runs another PAS build; run the same build on both hosts' } : {};
        log.warn({ err: toErrorData(err), ...hint }, 'no answer to registration yet; asking again');
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  // A central process of another build met after the start (restarted with it, on the same broker or
  // after a reconnect) gives this worker no task, ever: the worker ends with its refusal (`ended`).
  let endWith!: (error: PasError) => void;
  const ended = new Promise<PasError>((resolve) => (endWith = resolve));
  let hasEnded = false;
  // Another process of this worker id took its programmers while this one went unheard (paused,
  // frozen, cut off for over offline_after_ms): this one has no programmer left and stops, so it
  // does not live on heartbeating or pulling from consumers made anew for the other one. Asked when
  // this process finds it did not run for that long, when a consumer of its was deleted, and when
  // a re-registration got every programmer refused; a read the broker did not answer is asked again.
  let checkingOwner = false;
  const stopIfTakenOver = async (why: string): Promise<void> => {
    if (checkingOwner || hasEnded || stopping) return;
    checkingOwner = true;
    try {
      const other = await takenOverBy(link, workerId, process.pid, accepted, instance);
      if (!other || hasEnded) return;
      hasEnded = true;
      const error = new PasError('PAS_ERR_DIST_OWNER_TAKEN', `worker id ${workerId}: another process of it (pid ${other.pid}) took over its programmers while this one (pid ${process.pid}) was not heard for offline_after_ms; this one stops`, { details: { worker: workerId, pid: process.pid, otherPid: other.pid } });
      log.error({ code: error.code, err: toErrorData(error), why }, 'another process of this worker id took over its programmers: this one stops');
      endWith(error);
    } catch (err) {
      log.warn({ err: toErrorData(err), why }, 'could not read who owns this worker\'s programmers: asking again in 1 s');
      setTimeout(() => void stopIfTakenOver(why), 1_000).unref();
    } finally {
      checkingOwner = false;
    }
  };
  stalled = (ms) => void stopIfTakenOver(`this process did not run for ${ms} ms (paused or frozen)`);
  const registerAgain = async (why: string) => {
    await register().then(
      (again) => {
        log.info({ programmers: again }, `${why}: registered again`);
        if (again.length === 0) return stopIfTakenOver(`${why}: every programmer was refused`);
      },
      (err: unknown) => {
        if (!isPasError(err, 'PAS_ERR_DIST_VERSION_MISMATCH')) return log.warn({ err: toErrorData(err) }, `${why}: registering again failed; heartbeats go on`);
        if (hasEnded) return;
        hasEnded = true;
        log.error({ code: err.code, err: toErrorData(err) }, 'the central process now runs another PAS build: it gives this worker no task; the worker stops');
        endWith(err);
      },
    );
  };
  // Back after a lost link (a partition, a broker restart): the running task goes on, heartbeats
  // resume on the new connection, and the worker registers again without a restart.
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') log.warn({ code: 'PAS_ERR_DIST_BROKER', running: running.size }, 'lost the NATS broker: running tasks go on; their results are sent once it is back');
      if (status.type !== 'reconnect') continue;
      beat();
      await registerAgain('broker reachable again');
    }
  })().catch(() => undefined);
  // An answer to a heartbeat: the central process did not take it (the same build never answers).
  let asking = false;
  const heartbeatAnswers = nc.subscribe(heartbeatInbox, {
    callback: (err, msg) => {
      // An empty answer is the broker's "no responders" (no central process listens right now): nothing to hear.
      if (err || msg.data.length === 0 || asking || hasEnded) return;
      asking = true;
      void registerAgain('the central process did not take a heartbeat').finally(() => (asking = false));
    },
  });
  undo.push(() => heartbeatAnswers.unsubscribe());
  if (accepted.length === 0) {
    throw new PasError('PAS_ERR_DIST_OWNER_TAKEN', `worker ${workerId}: the central process gave it none of ${wanted.map((p) => p.id).join(', ')}${refusals.length ? `: ${refusals.join('; ')}` : ''}`);
  }
  // Given back if the start fails from here: the central process then dispatches nothing to them.
  undo.push(() => releaseOwnership(link, workerId, process.pid, accepted, instance));
  const programmers = wanted.filter((p) => accepted.includes(p.id));
  log.info({ programmers: accepted }, 'worker registered');

  const publishDurably = (subject: string, data: Uint8Array, msgID: string) => publishUntilStored(link, subject, data, msgID, log);

  // This host's own LLM client and keys; the breakers and the budget are the cluster's, kept by the
  // central process: every model call asks it first and reports its outcome and cost.
  const breakers = createClusterGate({
    workerId,
    names: link.names,
    request: (subject, data, opts) => nc.request(subject, data, opts),
    publishDurably,
    requestTimeoutMs: settings.request_timeout_ms,
    admissionWaitMs: settings.admission_wait_ms,
    cooldownMs: breakerSettingsFrom(config.pool.failover.circuit_breaker).cooldownMs,
    logger: log,
    // A programmer runs one task at a time: the pair names one attempt, also while a given-up
    // attempt of the task is still unwinding on another programmer here.
    attemptOf: (taskId, programmerId) => {
      for (const run of running.values()) if (run.taskId === taskId && run.programmerId === programmerId) return run.attemptId;
      return undefined;
    },
    // The central process gave the attempt up (this process was paused past offline_after_ms, say): it stops here.
    onAttemptOver: (attemptId) => {
      const run = running.get(attemptId);
      if (!run || run.controller.signal.aborted) return;
      log.warn({ attemptId, taskId: run.taskId, programmerId: run.programmerId }, 'attempt given up by the central process: stopped');
      run.controller.abort(new PasError('PAS_ERR_TASK_CANCELLED', `attempt ${attemptId} was given up by the central process`));
    },
  });
  // The central process ends the leases on a model whose breaker left closed; a lost link ends them all
  // (a revoke may be missed while it is down).
  const stopRevokes = followRevokes(nc, link.names, breakers, log);
  undo.push(stopRevokes);
  void (async () => {
    for await (const status of nc.status()) if (status.type === 'disconnect' || status.type === 'reconnect') breakers.dropLeases();
  })().catch(() => undefined);
  const spend = breakers.spendStore;
  const scripted = options.offline ? slowed(createOfflineAdapter(config.models, config.dir), options.editDelayMs ?? 0) : undefined;
  // The programs this worker starts (agent CLIs, aider) call their models through this host's own
  // loopback gateway, with the same breakers and spend; the keys stay in this process.
  const jobLimits = new Map<string, number>();
  const llmGateway: WorkerLlmGateway = await startWorkerLlmGateway({ config, breakers, spend, logger: log, jobLimit: (jobId) => jobLimits.get(jobId), ...(scripted ? { scripted } : {}) });
  undo.push(() => llmGateway.close());
  const gateway = llmGateway.gateway;
  const llm = createLlmClient({
    ...llmClientOptionsFrom(config),
    breakers,
    // The gate reports each call's cost itself (a ticket's finish); this store only feeds the client's own count.
    spend: createMemorySpendStore(),
    logger: log.child({ component: 'llm' }),
    ...(scripted ? { offline: true, scripted } : {}),
    // The native editor's calls count against a job's budget together with the programs' calls.
    jobBudget: gateway.jobBudget(),
  });
  // Every executor a central process has (CONTRACT §8), wired to the gateway as on the central host.
  const executors: Partial<Record<ExecutorKindName, Executor>> = {
    native: createNativeExecutor({ fsAllowlist: config.fsAllowlist }),
    aider: createAiderExecutor({ fsAllowlist: config.fsAllowlist, models: config.models, aider: config.pool.aider, gateway }),
  };
  const budget = { enabled: config.pool.cost_optimization.enabled, maxDailySpendUsd: config.pool.cost_optimization.max_daily_spend_usd, spend, now: () => Date.now() };
  for (const spec of Object.values(AGENT_CLI_SPECS)) {
    executors[spec.name] = createAgentCliExecutor({ spec, settings: config.pool[spec.section as 'claude_code'], fsAllowlist: config.fsAllowlist, models: config.models, runsDir: path.join(options.dataDir, 'agent-runs'), breakers, failover: config.pool.failover.enabled, budget, gateway });
  }
  // The programmers' reused checkouts here: this host's share of its inotify watches, and the one warning when it is spent.
  configureCheckoutWatches(config.pool.checkouts.max_watches, (message, code) => log.warn({ code }, message));
  undo.push(closeCheckoutWatches);
  const executorFor = (kind: ExecutorKindName): Executor => {
    const executor = executors[kind];
    if (!executor) throw new PasError('PAS_ERR_INTERNAL', `this worker has no ${kind} executor`, { details: { executor: kind } });
    return executor;
  };
  const workspacesDir = path.join(options.dataDir, 'workspaces');

  const cancels = nc.subscribe(link.names.subjects.cancel(workerId), {
    callback: (err, msg) => {
      if (err) return;
      try {
        const cancel = decodeMessage('pas.v1.cancel', msg.data);
        const run = running.get(cancel.attempt_id);
        run?.controller.abort(new PasError('PAS_ERR_TASK_CANCELLED', `attempt ${cancel.attempt_id} cancelled by the central process`));
        log.info({ attemptId: cancel.attempt_id, found: !!run }, 'cancel');
        msg.respond(encodeMessage('pas.v1.cancelled', { kind: 'pas.v1.cancelled', attempt_id: cancel.attempt_id, found: !!run }));
      } catch (e) {
        log.warn({ err: toErrorData(e) }, 'bad cancel refused');
      }
    },
  });
  undo.push(() => cancels.unsubscribe());

  /**
   * The result message, encoded: a small result bundle travels inside it when the whole message
   * fits the broker's max payload (no object store round trips on the way out or in); otherwise
   * the bundle is stored in the object store, named by attempt and commit, so a run of the same
   * attempt again (a restarted worker) never overwrites the bundle a sent result names.
   */
  const encodeResult = async (message: ResultMessage, bundle: { bytes: Uint8Array; name: string } | undefined): Promise<Uint8Array> => {
    if (!bundle || message.outcome.status !== 'ok') return encodeResultMessage(message);
    const inline = encodeWithInlineBundle(message, bundle.bytes, nc.info?.max_payload);
    if (inline) return inline;
    const object = bundleObjectName(bundle.name, 'result');
    await untilStored(link, `storing ${object}`, () => putBundle(link.bundles, object, bundle.bytes), log);
    return encodeResultMessage({ ...message, outcome: { ...message.outcome, bundle_object: object } });
  };

  /** The results this process sent, by attempt (a task delivered again gets its result again, never a second run). */
  const sent = new SentResults();

  /** The attempt KV names for a task (undefined: none); asked again while the broker is away, never guessed. */
  const currentAttemptOf = async (taskId: string): Promise<AttemptRecord | undefined> => attemptOf(await untilStored(link, `reading the current attempt of ${taskId}`, () => link.attempts.get(taskId), log, () => stopping));

  const runTask = async (programmer: ResolvedProgrammer, msg: JsMsg, task: TaskMessage) => {
    const current = await currentAttemptOf(task.task_id);
    mark('w.current', task.task_id);
    if (current?.attemptId !== task.attempt_id) {
      log.warn({ code: 'PAS_ERR_DIST_STALE_RESULT', taskId: task.task_id, attemptId: task.attempt_id, current: current?.attemptId ?? null }, 'task attempt is no longer current: not run');
      if (!current) {
        // No attempt at all: given up by the central process (which fences this answer), or its
        // record was lost with the broker (kill -9 right after the write) while the central
        // process still waits: a retryable failure tells it to dispatch the task again.
        const at = new Date().toISOString();
        const error = toErrorData(new PasError('PAS_ERR_DIST_BROKER', `the broker has no record of attempt ${task.attempt_id}: not run`, { details: { attemptId: task.attempt_id } }));
        const notRun: ResultMessage = { kind: 'pas.v1.result', attempt_id: task.attempt_id, job_id: task.job_id, task_id: task.task_id, programmer_id: programmer.id, worker_id: workerId, outcome: { status: 'error', error }, receipt: { duration_ms: 0, started_at: at, finished_at: at } };
        await publishDurably(link.names.subjects.result(programmer.id), encodeMessage('pas.v1.result', notRun), `${task.attempt_id}.not-run`);
      }
      msg.term();
      return;
    }
    const before = sent.get(task.attempt_id);
    if (before) {
      log.info({ taskId: task.task_id, attemptId: task.attempt_id }, 'task delivered again: its result is sent again, not run twice');
      await publishDurably(link.names.subjects.result(programmer.id), before, task.attempt_id);
      msg.ack();
      return;
    }
    if (task.job_max_spend_usd !== undefined) rememberJobLimit(jobLimits, task.job_id, task.job_max_spend_usd);
    const controller = new AbortController();
    const run: Running = { attemptId: task.attempt_id, taskId: task.task_id, programmerId: programmer.id, controller };
    running.set(task.attempt_id, run);
    const inProgress = setInterval(() => msg.working(), Math.max(200, Math.floor(settings.ack_wait_ms / 3)));
    let receipt: Receipt | undefined;
    let last: TaskProgress | undefined;
    let progressSeq = 0;
    let message: ResultMessage;
    let data: Uint8Array;
    const startedAt = new Date().toISOString();
    try {
      // The bundle is fetched only if the clone lacks the base (a burst of tasks on a new base fetches it once).
      const bundleObject = task.bundle_object;
      // Read again while the broker is away (a restart, a lost link); a bundle the store does not have is final.
      const readBase = () => untilStored(link, `reading ${bundleObject}`, () => getBundle(link.bundles, bundleObject!), log, (err) => stopping || controller.signal.aborted || !brokerAway(link, err));
      const clone = await cache.ensureBase(task.repo_key, bundleObject ? readBase : null, task.base_commit);
      mark('w.base', task.task_id);
      const executor = executorFor(task.task.executor ?? programmer.executor);
      const result = await runProgrammerTask({
        task: { ...task.task, repo: clone },
        programmer,
        repo: clone,
        workspacesDir,
        executor: timelineOn ? timedExecutor(executor, task.task_id) : executor,
        llm: timelineOn ? timedLlm(llm, task.task_id) : llm,
        receipts: { append: (r) => void (receipt = r) },
        runId: workerId,
        signal: controller.signal,
        fsAllowlist: config.fsAllowlist,
        cmdAllowlist: config.cmdAllowlist,
        verifyRounds: config.pool.defaults.verify_rounds,
        // The clone is a cache: the central process creates the task branch from the result bundle.
        taskBranch: false,
        log: log.child({ agentId: programmer.id, taskId: task.task_id }),
        onProgress: (p) => {
          last = p;
          nc.publish(link.names.subjects.progress(programmer.id), encodeMessage('pas.v1.progress', { kind: 'pas.v1.progress', attempt_id: task.attempt_id, task_id: task.task_id, programmer_id: programmer.id, seq: progressSeq++, at: new Date().toISOString(), progress: p }));
        },
      });
      mark('w.done', task.task_id);
      const r = receipt;
      const calls = breakers.takeCalls(task.attempt_id);
      const receiptPart: ResultMessage['receipt'] = {
        ...(r?.provider ? { provider: r.provider } : {}),
        ...(r?.model ? { model: r.model } : {}),
        used_backup: r?.used_backup ?? false,
        tokens: r?.tokens ?? { input: null, output: null },
        cost_usd: r?.cost_usd ?? 0,
        duration_ms: r?.duration_ms ?? 0,
        kpi: r?.kpi ?? { files_changed: 0, lines_added: 0, lines_removed: 0 },
        started_at: r?.started_at ?? startedAt,
        finished_at: r?.finished_at ?? new Date().toISOString(),
        // Too many to name: the central process adds no earlier run's calls to this receipt.
        ...(calls.length <= MAX_CALLS_PER_RESULT ? { call_ids: calls } : {}),
      };
      let outcome: ResultMessage['outcome'];
      let bundle: { bytes: Uint8Array; name: string } | undefined;
      if (result.status === 'completed' && result.commit) {
        // A task that changed nothing has no commit of its own to send.
        if (result.commit !== task.base_commit) bundle = { bytes: await cache.makeResultBundle(clone, task.base_commit, result.commit), name: `${task.attempt_id}.${result.commit.slice(0, 12)}` };
        mark('w.bundled', task.task_id);
        outcome = { status: 'ok', base_commit: task.base_commit, commit: result.commit, ...(result.summary !== undefined ? { summary: result.summary.slice(0, 20_000) } : {}) };
      } else {
        outcome = { status: 'error', error: result.error ?? toErrorData(new PasError('PAS_ERR_EXECUTOR_CRASHED', 'the task ended without a commit')), ...(result.status === 'cancelled' ? { cancelled: true } : {}) };
      }
      message = { kind: 'pas.v1.result', attempt_id: task.attempt_id, job_id: task.job_id, task_id: task.task_id, programmer_id: programmer.id, worker_id: workerId, outcome, receipt: receiptPart, ...(last ? { progress: last } : {}) };
      data = await encodeResult(message, bundle);
      mark('w.encoded', task.task_id);
    } catch (err) {
      const error = toErrorData(err);
      log.error({ taskId: task.task_id, err: error }, 'task failed on this worker');
      const now = new Date().toISOString();
      // No call of this run is on its receipt: the central process adds every call reported for the attempt.
      message = { kind: 'pas.v1.result', attempt_id: task.attempt_id, job_id: task.job_id, task_id: task.task_id, programmer_id: programmer.id, worker_id: workerId, outcome: { status: 'error', error }, receipt: { duration_ms: 0, started_at: startedAt, finished_at: now, call_ids: [] } };
      data = encodeMessage('pas.v1.result', message);
    } finally {
      clearInterval(inProgress);
      breakers.takeCalls(task.attempt_id);
    }
    if (stopping) {
      // Stopped, not finished: the task goes back to the queue (or to another programmer once this one is offline).
      running.delete(task.attempt_id);
      msg.nak();
      return;
    }
    try {
      await publishDurably(link.names.subjects.result(programmer.id), data, task.attempt_id);
      mark('w.stored', task.task_id);
      sent.set(task.attempt_id, data);
      // A plain ack (no round trip): the result is stored already, so an ack lost on the way
      // only brings the task back, and its result is sent again from `sent`, never run twice.
      msg.ack();
      log.info({ taskId: task.task_id, attemptId: task.attempt_id, status: message.outcome.status }, 'result sent');
    } finally {
      running.delete(task.attempt_id);
    }
  };

  // One durable pull consumer per programmer: one task in flight, bounded redelivery.
  const { AckPolicy } = (await loadNatsModules()).jetstream;
  const loops: Array<Promise<void>> = [];
  const iterators: Array<{ close(): Promise<void | Error> }> = [];
  for (const programmer of programmers) {
    const durable = `prog-${programmer.id}`;
    const consumerConfig = {
      durable_name: durable,
      filter_subject: link.names.subjects.task(programmer.id),
      ack_policy: AckPolicy.Explicit,
      max_ack_pending: 1,
      ack_wait: nanos(settings.ack_wait_ms),
      max_deliver: settings.max_redeliveries,
    };
    const stream = link.names.taskStream;
    // Made anew: a task an earlier process of this worker had pulled when it died is held by its
    // delivery until ack_wait_ms; a fresh consumer has it at once (this process was given the
    // programmer, so that process is gone). Its messages stay in the stream until acked.
    await link.nats.jsm.consumers.delete(stream, durable).catch(() => undefined);
    await link.nats.jsm.consumers.add(stream, consumerConfig).catch((added: unknown) =>
      link.nats.jsm.consumers.update(stream, durable, consumerConfig).catch((updated: unknown) => {
        throw new PasError('PAS_ERR_DIST_BROKER', `the broker refused the work-queue consumer ${durable} of ${programmer.id} on stream ${stream}: ${(added as Error).message} (and updating it: ${(updated as Error).message})`, { details: { consumer: durable, stream, programmerId: programmer.id }, cause: added });
      }),
    );
    const consumer = await link.nats.js.consumers.get(stream, durable);
    const messages = await consumer.consume({ max_messages: 1 });
    undo.push(() => messages.close());
    iterators.push(messages);
    // A consumer deleted while this process runs: another process of this worker id makes its
    // consumers anew at its start (an operator or a lost broker store may too: the owners decide).
    void (async () => {
      for await (const status of messages.status()) {
        if (stopping) return;
        if (status.type === 'consumer_deleted' || status.type === 'consumer_not_found') await stopIfTakenOver(`the task consumer of ${programmer.id} was deleted`);
      }
    })().catch(() => undefined);
    loops.push(
      (async () => {
        for await (const msg of messages) {
          if (stopping) break;
          let task: TaskMessage;
          try {
            task = decodeMessage('pas.v1.task', msg.data);
          } catch (err) {
            log.error({ err: toErrorData(err), subject: msg.subject }, 'bad task message refused');
            try {
              // Answered with a failed result naming the field, unless another attempt of the task is
              // current: the attempt waiting for it fails at once (one the central process gave up, or
              // never made, is fenced there; one whose record the broker lost still gets its answer).
              const refusal = refusalOf(msg.data, err, programmer.id, workerId);
              const current = refusal ? await currentAttemptOf(refusal.taskId) : undefined;
              if (refusal && (!current || current.attemptId === refusal.attemptId)) {
                await publishDurably(link.names.subjects.result(programmer.id), refusal.data, `${refusal.attemptId}.refused`);
              }
            } catch (e) {
              log.warn({ err: toErrorData(e) }, 'the refusal of a bad task message was not sent');
            } finally {
              msg.term();
            }
            continue;
          }
          mark('w.received', task.task_id, programmer.id);
          log.info({ taskId: task.task_id, attemptId: task.attempt_id, programmerId: programmer.id, delivery: msg.info.deliveryCount }, 'task received');
          await runTask(programmer, msg, task).catch((err) => log.error({ err: toErrorData(err) }, 'task handling failed'));
        }
      })(),
    );
  }

  return {
    id: workerId,
    programmers: accepted,
    ended,
    async stop() {
      stopping = true;
      clearInterval(heartbeat);
      heartbeatAnswers.unsubscribe();
      for (const run of running.values()) run.controller.abort(new PasError('PAS_ERR_TASK_CANCELLED', 'the worker is stopping'));
      cancels.unsubscribe();
      stopRevokes();
      for (const it of iterators) await it.close().catch(() => undefined);
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(loops), new Promise((r) => (grace = setTimeout(r, 5_000)))]);
      clearTimeout(grace);
      await cache.settled();
      await llmGateway.close().catch((err) => log.warn({ err: toErrorData(err) }, 'worker LLM gateway did not close cleanly'));
      await breakers.drain(5_000);
      await link.close().catch(() => undefined);
      closeCheckoutWatches();
    },
  };
}

/** A job's own budget, as its tasks carry it; the oldest jobs are forgotten past 1,000. */
function rememberJobLimit(limits: Map<string, number>, jobId: string, usd: number): void {
  limits.delete(jobId);
  limits.set(jobId, usd);
  if (limits.size > 1_000) limits.delete(limits.keys().next().value!);
}

/** The executor with its end marked (PAS_DIST_TIMELINE): what follows is the commit. */
function timedExecutor(executor: Executor, taskId: string): Executor {
  return {
    kind: executor.kind,
    ...(executor.checkout ? { checkout: executor.checkout } : {}),
    run: async (input) => {
      try {
        return await executor.run(input);
      } finally {
        mark('w.exec', taskId);
      }
    },
  };
}

/** The LLM client with its calls' start and end marked (PAS_DIST_TIMELINE). */
function timedLlm(llm: LlmClient, taskId: string): LlmClient {
  return {
    call: async (options) => {
      mark('w.llm0', taskId);
      try {
        return await llm.call(options);
      } finally {
        mark('w.llm1', taskId);
      }
    },
  };
}
