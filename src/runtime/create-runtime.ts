/**
 * The composition root: boots the whole PAS tree from config as one XState actor system whose
 * system ids are the agent ids, and wires what the modules beside it implement: the services
 * (activities) behind the statecharts' named actors, the facts they state (journal-facts.ts),
 * the inspection bus, the breakers, the money policy and its budget gate, the progress board, the
 * LLM gateway's saturation signals to the pool, the intake and the resume after a restart.
 * No DI container: everything that does I/O comes in through `services` (or the defaults built
 * from config).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createActor, fromPromise, type InspectionEvent } from 'xstate';
import { architectMachine } from '../../machines/architect.machine.ts';
import { directorMachine } from '../../machines/director.machine.ts';
import type { FactRecorder } from '../../machines/facts.ts';
import { provideFacts } from '../../machines/facts.ts';
import { jobMachine } from '../../machines/job.machine.ts';
import { managerMachine } from '../../machines/manager.machine.ts';
import { breakerId, pasSystemMachine, POOL_ID } from '../../machines/pas-system.machine.ts';
import { poolMachine, poolStatus, type PoolContext, type PoolEvent } from '../../machines/pool.machine.ts';
import { programmerMachine, type ProgrammerContext } from '../../machines/programmer.machine.ts';
import type { PasConfig } from '../config/load-config.ts';
import { llmOf } from '../config/settings-writer.ts';
import { isTerminalJobStatus, JOB_STATUSES } from '../../machines/statuses.ts';
import { openJournal } from '../journal/journal.ts';
import { startSpawner } from '../executors/spawner.ts';
import type { LlmGateway } from '../llm/gateway/llm-gateway.ts';
import { createMoneyPolicy } from '../llm/money-policy.ts';
import { BreakerRegistry, type BreakerRef } from './breaker-registry.ts';
import { createBudgetGate } from './budget-gate.ts';
import { createChatInbox } from './chat-inbox.ts';
import { createFactBus } from './fact-bus.ts';
import { createInFlight, type InFlight } from './in-flight.ts';
import { InspectionBus } from './inspection-bus.ts';
import { createIntake } from './intake.ts';
import { createJobWaiters } from './job-waiters.ts';
import { createJournalFacts } from './journal-facts.ts';
import { createLiveLlmSettings } from './live-llm-settings.ts';
import { MergeBoard } from './merge-board.ts';
import { ProgressBoard } from './progress-board.ts';
import { silentLogger } from './logger.ts';
import { resumeUnfinished } from './resume.ts';
import type { LlmSettings, Runtime, RuntimeOptions, RuntimeServices } from './runtime-types.ts';
import { buildTopology, probeTimeoutMs } from './topology.ts';
import { treeNodes } from './tree-view.ts';
import { verifyJobUnavailable } from './services/verify-job.ts';

export * from './runtime-types.ts';

export function newJobId(): string {
  return randomBytes(5).toString('hex');
}

function initialLlmSettings(config: PasConfig): LlmSettings {
  const settings: LlmSettings = new Map();
  const ids = [config.pas.architect.agent_id, ...config.pas.managers.map((m) => m.agent_id), ...config.programmers.map((p) => p.id)];
  for (const id of ids) {
    const llm = llmOf(config, id);
    if (llm) settings.set(id, llm);
  }
  return settings;
}

/**
 * The system statechart with the services behind its named actors and the recorders of its facts;
 * every run of a service counts as in flight until it settles (stop waits for them).
 */
function provideSystem(services: RuntimeServices, facts: FactRecorder, inFlight: InFlight) {
  const withSignal = <I, O>(fn: (input: I, signal: AbortSignal) => Promise<O>) => fromPromise<O, I>(({ input, signal }) => inFlight.track(fn(input, signal)));
  return pasSystemMachine.provide({
    actors: {
      programmer: programmerMachine.provide({ actors: { executeTask: withSignal(services.executeTask) } }),
      pool: poolMachine.provide({ actions: provideFacts(facts, ['recordTaskQueued', 'recordTaskStarted', 'recordAttemptEnded', 'recordTaskFinished']) }),
      manager: managerMachine.provide({
        actions: provideFacts(facts, ['recordJobAtManager', 'recordJobFinished']),
        actors: {
          job: jobMachine.provide({
            actors: { planJob: withSignal(services.planJob), mergeJob: withSignal(services.mergeJob), verifyJob: withSignal(services.verifyJob?.bind(services) ?? verifyJobUnavailable) },
            actions: provideFacts(facts, ['recordJobRunning', 'recordPlanMade', 'recordRerunCreated', 'recordFixupCreated', 'recordBranchesMerged', 'recordMergeStep', 'recordJobFinished']),
          }),
        },
      }),
      director: directorMachine.provide({ actions: provideFacts(facts, ['recordJobFinished']) }),
      architect: architectMachine.provide({ actors: { classifyLane: withSignal(services.classifyLane) }, actions: provideFacts(facts, ['recordJobFinished']) }),
    },
  });
}

export function createRuntime(options: RuntimeOptions): Runtime {
  // Git and verify commands are started by the spawner: start it now, while this process is small.
  startSpawner();
  const { config } = options;
  const logger = options.logger ?? silentLogger();
  const now = options.now ?? (() => new Date());
  const dataDir = path.resolve(options.dataDir ?? config.pas.runtime.data_dir);
  mkdirSync(dataDir, { recursive: true });
  const runId = options.runId ?? `${now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${randomBytes(3).toString('hex')}`;
  const journal = options.journal ?? openJournal(path.join(dataDir, 'pas.db'), {
    onFsyncFailure: (err) => logger.error({ err, code: err.code }, 'journal fsync failed: the journal refuses every further call (restart to recover)'),
  });
  const ownsJournal = !options.journal;
  const topology = buildTopology(config, { portOffset: options.portOffset ?? 0 });
  const cb = config.pool.failover.circuit_breaker;
  const breakers = new BreakerRegistry(
    { enabled: cb.enabled, failureThreshold: cb.failure_threshold, windowMs: cb.window_minutes * 60_000, cooldownMs: cb.cooldown_minutes * 60_000, probeTimeoutMs: (ref) => probeTimeoutMs(config, ref) },
    () => now().getTime(),
    options.clock,
  );
  const llmSettings = initialLlmSettings(config);
  const progress = new ProgressBoard({ now });
  const money = createMoneyPolicy({
    models: config.models,
    costOptimization: config.pool.cost_optimization,
    spend: journal.spendStore(),
    usage: journal.usageLedger(),
    now: () => now().getTime(),
  });
  const services =
    typeof options.services === 'function'
      ? options.services({ config, logger, journal, breakers, runId, dataDir, llmSettings, money, now, progress })
      : options.services;

  const bus = new InspectionBus(now);
  for (const agent of topology.agents) bus.watch(agent.agentId, agent.role, 'IDLE');
  for (const breaker of topology.breakers) bus.watch(breaker.agentId, 'breaker', 'closed');
  bus.onTransition((record) => logger.info({ agentId: record.agentId, role: record.role, from: record.from, to: record.to, event: record.event, jobId: record.jobId, taskId: record.taskId, seq: record.seq }, 'transition'));

  const waiters = createJobWaiters(journal);
  // Tells the pool (once the system has started) when today's budget runs out or comes back.
  const pool: { tell?: (event: PoolEvent) => void } = {};
  const budget = createBudgetGate({ money, logger, tellPool: (event) => (pool.tell ? (pool.tell(event), true) : false) });
  const facts = createFactBus(createJournalFacts({ journal, money, budget, waiters, logger }), (err, name) =>
    logger.error({ err, fact: name }, 'a fact listener failed'),
  );

  const merges = new MergeBoard({ now });
  facts.on(merges.onFact);

  const inFlight = createInFlight(logger);
  const system = createActor(provideSystem(services, facts.recorder, inFlight), {
    input: topology.input,
    inspect: (ev: InspectionEvent) => {
      // The pool routes on what it was last told; a new UTC day restores the budget before any task
      // of that day finishes, so the pool hears the day's verdict before each task it is about to route.
      if (ev.type === '@xstate.event' && ev.event.type === 'task.submitted' && (ev.actorRef as { id?: string }).id === POOL_ID) budget.sync();
      bus.inspect(ev);
      options.inspect?.(ev);
    },
    ...(options.clock ? { clock: options.clock } : {}),
  });
  system.start();
  const get = (id: string) => system.system.get(id);
  const toPool = (event: PoolEvent) => get(POOL_ID)?.send(event);
  pool.tell = toPool;
  for (const breaker of topology.breakers) {
    const ref = get(breakerId(breaker.key)) as BreakerRef | undefined;
    if (ref) breakers.adopt(breaker.key, ref);
  }
  budget.sync();

  const architectId = config.pas.architect.agent_id;
  const programmerIds = new Set(config.programmers.map((p) => p.id));
  const intake = createIntake({ config, topology, journal, idGen: options.idGen ?? newJobId, now, send: (id, event) => get(id)?.send(event), sendPool: toPool });
  const inbox = createChatInbox(now, logger);
  const live = createLiveLlmSettings({ config, topology, llmSettings, bus, breakers, spawnBreaker: (input) => system.send({ type: 'breaker.spawn', input }), get, toPool, logger });
  let halted = false;

  // The pool hears when a provider is saturated, so it stops dispatching work to its programmers.
  const llmGateway = (services as { llmGateway?: LlmGateway }).llmGateway;
  const stopSaturationFacts = llmGateway?.limiter.onSaturation((provider, saturated) => {
    toPool({ type: saturated ? 'provider.saturated' : 'provider.available', provider });
  });

  const runtime: Runtime = {
    config,
    topology,
    runId,
    dataDir,
    logger,
    bus,
    journal,
    breakers,
    llmSettings,
    progress,
    merges,
    system,
    llmGateway,
    tree: () => treeNodes(topology, bus, llmSettings, live.breakerKeys),
    submitJob: (submission, via) => intake.submitJob(submission, via),
    submitTask: (direct) => intake.submitTask(direct),
    receiveChat: (message) => inbox.receive(message),
    inbox: (agentId) => inbox.of(agentId),
    usageToday: (agentId) => money.usageToday(agentId),
    updateLlmSetting: (agentId, update) => live.update(agentId, update),
    budget: () => budget.view(),
    getJob: (id) => journal.getJob(id),
    cancelJob: (id) => intake.cancelJob(id),
    waitForJob: (id, timeoutMs = 60_000) => waiters.wait(id, timeoutMs),
    poolContext: () => (get(POOL_ID)!.getSnapshot() as { context: PoolContext }).context,
    poolStatus: () => poolStatus(runtime.poolContext()),
    programmerContext: (id) => (programmerIds.has(id) ? (get(id)?.getSnapshot() as { context: ProgrammerContext } | undefined)?.context : undefined),
    send(agentId, event) {
      const ref = get(agentId);
      if (!ref) return false;
      ref.send(event);
      return true;
    },
    onTransition: (listener) => bus.onTransition(listener),
    onFact: (listener) => facts.on(listener),
    closeIntake: () => intake.close(),
    unfinishedJobs: () => journal.countJobs(JOB_STATUSES.filter((s) => !isTerminalJobStatus(s))),
    async stop() {
      if (halted) return;
      halted = true;
      intake.close();
      // Stopping the system aborts every run; their processes and git work end before the journal closes.
      system.stop();
      await inFlight.settled();
      stopSaturationFacts?.();
      llmGateway?.stop();
      breakers.stop();
      await services.stop?.();
      if (ownsJournal) journal.close();
    },
  };

  resumeUnfinished(journal, config.pas.runtime.on_restart, { architect: (event) => get(architectId)?.send(event), pool: toPool }, logger, { dir: path.join(dataDir, 'receipts'), runId, now });
  return runtime;
}
