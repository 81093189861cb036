/**
 * The composition root: boots the whole PAS tree from config as one XState actor system whose
 * system ids are the agent ids, wires the inspection bus, the journal projection and the
 * breakers, and exposes what the gateway and the CLI need. No DI container: everything that does
 * I/O comes in through `services` (or the defaults built from config).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { createActor, fromPromise, type Actor, type AnyEventObject, type InspectionEvent } from 'xstate';
import { architectMachine, type ClassifyLaneInput } from '../../machines/architect.machine.ts';
import type { JobResume, JobSpec, Lane, TaskResult, TaskSpec } from '../../machines/domain.ts';
import { isTerminalJobStatus, JOB_STATUSES } from '../../machines/statuses.ts';
import { capPlan, jobMachine, type JobPlan, type MergeJobInput, type MergeOutcome, type PlanJobInput, type VerifyJobInput, type VerifyJobOutcome } from '../../machines/job.machine.ts';
import { managerMachine } from '../../machines/manager.machine.ts';
import { breakerId, pasSystemMachine, POOL_ID } from '../../machines/pas-system.machine.ts';
import { poolStatus, type PoolContext } from '../../machines/pool.machine.ts';
import { programmerMachine, type ExecuteTaskInput, type ProgrammerContext } from '../../machines/programmer.machine.ts';
import { modelIsFree, type PasConfig } from '../config/load-config.ts';
import { llmOf, writeLlmSetting, type LlmChoiceUpdate, type SettingsWriteResult } from '../config/settings-writer.ts';
import { PasError } from '../errors.ts';
import { createMoneyPolicy, type AgentUsage, type BudgetView, type MoneyPolicy } from '../llm/money-policy.ts';
import { openJournal, type Journal, type JobRecord } from '../journal/journal.ts';
import type { LlmGateway } from '../llm/gateway/llm-gateway.ts';
import { BreakerRegistry, type BreakerRef, type Clock } from './breaker-registry.ts';
import { InspectionBus } from './inspection-bus.ts';
import { ProgressBoard } from './progress-board.ts';
import { silentLogger } from './logger.ts';
import { breakerInput, buildTopology, probeTimeoutMs, type Topology } from './topology.ts';
import type { TransitionRecord, TreeNode } from './transition-record.ts';

/** The I/O behind the statecharts' named actors. */
export interface RuntimeServices {
  executeTask(input: ExecuteTaskInput, signal: AbortSignal): Promise<TaskResult>;
  planJob(input: PlanJobInput, signal: AbortSignal): Promise<JobPlan>;
  mergeJob(input: MergeJobInput, signal: AbortSignal): Promise<MergeOutcome>;
  /** Runs the job's verify command on its merged branch (and plans the fix-up); without it such a job fails. */
  verifyJob?(input: VerifyJobInput, signal: AbortSignal): Promise<VerifyJobOutcome>;
  classifyLane(input: ClassifyLaneInput, signal: AbortSignal): Promise<{ lane: string | null }>;
}

/** What service factories get to build the real services. */
export interface ServiceContext {
  config: PasConfig;
  logger: Logger;
  journal: Journal;
  breakers: BreakerRegistry;
  runId: string;
  dataDir: string;
  /** The live primary/backup of every agent (changed from the HMI without a restart). */
  llmSettings: LlmSettings;
  /** Prices, the daily budget and per-agent usage: the one money policy. */
  money: MoneyPolicy;
  now: () => Date;
  /** Where executors report what they do while a task runs (the feed's `progress` messages). */
  progress?: ProgressBoard;
}

export type LlmSettings = Map<string, { primary: string; backup?: string }>;

export interface RuntimeOptions {
  config: PasConfig;
  services: RuntimeServices | ((context: ServiceContext) => RuntimeServices);
  logger?: Logger;
  /** XState scheduler clock (SimulatedClock in tests). */
  clock?: Clock;
  now?: () => Date;
  idGen?: () => string;
  /** Where pas.db, receipts, workspaces and logs go. Defaults to config runtime.data_dir. */
  dataDir?: string;
  journal?: Journal;
  runId?: string;
  portOffset?: number;
  /** Another inspection observer (the Stately inspector), called after the bus. */
  inspect?: (event: InspectionEvent) => void;
}

export interface JobSubmission {
  task: string;
  lane?: Lane;
  files?: string[];
  repo?: string;
  /** Run after every subtask's edit (cmd_allowlist.yaml); non-zero fails the subtask. */
  verify?: string[];
  /** This job's spending limit in USD (LLM gateway calls and in-process calls). */
  maxJobSpendUsd?: number;
  id?: string;
}

export interface DirectTask {
  programmerId: string;
  instruction: string;
  files: string[];
  repo?: string;
  taskId?: string;
  jobId?: string;
  timeoutMs?: number;
  executor?: 'aider' | 'native';
  verify?: string[];
}

export type { AgentUsage } from '../llm/money-policy.ts';

export interface ChatMessageRecord {
  id: number;
  to: string;
  from: string;
  message: string;
  kind: string;
  jobId?: string;
  taskId?: string;
  at: string;
}

/** System id of the root actor; direct tasks report to it (the journal records their results). */
export const DIRECT_REPLY_TO = 'pas';

export interface Runtime {
  readonly config: PasConfig;
  readonly topology: Topology;
  readonly runId: string;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly bus: InspectionBus;
  readonly journal: Journal;
  readonly breakers: BreakerRegistry;
  readonly llmSettings: LlmSettings;
  /** Live progress of running tasks (feed `progress` messages, the newest few per task). */
  readonly progress: ProgressBoard;
  readonly system: Actor<typeof pasSystemMachine>;
  /** The LLM gateway's policy (credentials, budgets, limits) when the services provide one. */
  readonly llmGateway: LlmGateway | undefined;
  tree(): TreeNode[];
  /** Journals the job, then hands it to the Architect (or to `via`: any Director or Manager). */
  submitJob(submission: JobSubmission, via?: string): JobRecord;
  /** Journals a task pinned to one programmer and puts it in the pool. */
  submitTask(task: DirectTask): TaskSpec;
  /** A message for an agent (`POST /agent_chat/receive`), kept in a bounded inbox. */
  receiveChat(message: Omit<ChatMessageRecord, 'id' | 'at'>): ChatMessageRecord;
  inbox(agentId: string): ChatMessageRecord[];
  /** Tokens and cost of the agent's finished tasks today (UTC). */
  usageToday(agentId: string): AgentUsage;
  /** Writes the agent's LLM choice into its config file and applies it to the live agent. */
  updateLlmSetting(agentId: string, update: LlmChoiceUpdate): Promise<SettingsWriteResult>;
  /** Today's spend against max_daily_spend_usd. */
  budget(): BudgetView;
  getJob(id: string): JobRecord | undefined;
  cancelJob(id: string): boolean;
  /** Resolves with the job once it is terminal. */
  waitForJob(id: string, timeoutMs?: number): Promise<JobRecord>;
  poolContext(): PoolContext;
  poolStatus(): ReturnType<typeof poolStatus>;
  programmerContext(id: string): ProgrammerContext | undefined;
  /** Send an event to an agent by id (resets, fault injection). */
  send(agentId: string, event: AnyEventObject): boolean;
  onTransition(listener: (record: TransitionRecord) => void): () => void;
  /** Refuse new jobs and tasks from now on (the first step of a drain). */
  closeIntake(): void;
  /** Jobs accepted or running. */
  unfinishedJobs(): number;
  stop(): Promise<void>;
}

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

export function createRuntime(options: RuntimeOptions): Runtime {
  const { config } = options;
  const logger = options.logger ?? silentLogger();
  const now = options.now ?? (() => new Date());
  const idGen = options.idGen ?? newJobId;
  const dataDir = path.resolve(options.dataDir ?? config.pas.runtime.data_dir);
  mkdirSync(dataDir, { recursive: true });
  const runId = options.runId ?? `${now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${randomBytes(3).toString('hex')}`;
  const journal = options.journal ?? openJournal(path.join(dataDir, 'pas.db'));
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

  const countUsage = (result: TaskResult) => money.record(result.programmerId, result.jobId, result.taskId, result.tokens, result.costUsd ?? 0);
  /** A Manager's usage today is what its plan calls cost. */
  const countPlanUsage = (managerId: string, jobId: string, plan: JobPlan) => {
    if (plan.usage || plan.costUsd !== undefined) money.record(managerId, jobId, undefined, plan.usage, plan.costUsd ?? 0);
  };
  /** Tells the pool when today's budget runs out (or a new day restores it) so it routes to free programmers only. */
  let lastExhausted = false;
  const syncBudget = () => {
    const exhausted = money.exhausted();
    if (exhausted === lastExhausted) return;
    lastExhausted = exhausted;
    system.system.get(POOL_ID)?.send({ type: exhausted ? 'budget.exhausted' : 'budget.restored' });
    logger.info({ exhausted, day: money.today() }, exhausted ? 'daily budget spent: paid programmers get no more tasks today' : 'daily budget available again');
  };
  // The pool routes on what it was last told; a new UTC day restores the budget before any task of
  // that day finishes, so the pool hears the day's verdict before each task it is about to route.
  bus.onEvent(({ target, event }) => {
    if (event.type === 'task.submitted' && target === POOL_ID) syncBudget();
  });

  const waiters = new Map<string, Set<(job: JobRecord) => void>>();
  const settleWaiters = (jobId: string) => {
    const record = journal.getJob(jobId);
    const set = waiters.get(jobId);
    if (!record || !set || !isTerminalJobStatus(record.status)) return;
    waiters.delete(jobId);
    for (const resolve of set) resolve(record);
  };

  // The journal is a projection of the events the actors deliver to each other.
  const managerIds = new Set(config.pas.managers.map((m) => m.agent_id));
  const programmerIds = new Set(config.programmers.map((p) => p.id));
  const architectId = config.pas.architect.agent_id;
  /** Jobs a Manager holds whose own actor has not started yet (queued behind max_concurrent_tasks). */
  const jobsAtManagers = new Set<string>();
  bus.onEvent(({ target, event }) => {
    try {
      // The projection writes of one event-loop iteration (a job fanning out ten subtasks, a wave
      // of programmers finishing together) commit together: one fsync (see Journal.deferCommit).
      journal.deferCommit();
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped projection, rewritten by step9-facts
      const e = event as Record<string, any>;
      if (event.type === 'job.submitted' && managerIds.has(target)) {
        // The Manager has it (maybe queued behind max_concurrent_tasks): record who, not yet running.
        const current = journal.getJob(e.job.id);
        if (current) journal.setJobStatus(e.job.id, current.status, { managerId: target, ...(e.job.lane ? { lane: e.job.lane } : {}) });
        jobsAtManagers.add(e.job.id);
      } else if (event.type === 'xstate.init' && jobsAtManagers.delete(target)) {
        // The job's own actor (its id is the job id) started: it is running now.
        journal.setJobStatus(target, 'running');
      } else if (event.type === 'xstate.done.actor.planJob') {
        const plan = e.output as JobPlan;
        // Journaled as the job runs it (capped at its Manager's max_programmers), so a resume replays the same subtasks.
        const managerId = journal.getJob(target)?.managerId;
        const max = config.pas.managers.find((m) => m.agent_id === managerId)?.resources.max_programmers;
        journal.saveSnapshot(`plan:${target}`, max ? { ...plan, subtasks: capPlan(plan.subtasks, max) } : plan);
      } else if (event.type === 'task.submitted' && target === POOL_ID) {
        const task = e.task as TaskSpec;
        if (!journal.getTask(task.id)) journal.upsertTask(task, 'queued');
      } else if (event.type === 'task.assigned' && programmerIds.has(target)) {
        const task = e.task as TaskSpec;
        // An attempt is every start of the task id: the pool numbers its own re-dispatches, and a
        // task its job sends again (re-routed after an escalation, a job handed back by a failed
        // Manager) continues the count, so each start gets its own receipt.
        const attempt = Math.max(task.attempt ?? 1, (journal.getTask(task.id)?.attempt ?? 0) + 1);
        journal.upsertTask({ ...task, attempt }, 'running');
        journal.setTaskStatus(task.id, 'running', { programmerId: target, attempt });
      } else if (event.type === 'task.finished' && target.length > 0 && !managerIds.has(target)) {
        const result = e.result as TaskResult;
        if (journal.finishTask(result) && result.programmerId) countUsage(result);
        syncBudget();
      } else if (event.type === 'xstate.done.actor.mergeJob') {
        for (const taskId of (e.output as MergeOutcome).merged) journal.markMerged(taskId);
      } else if (event.type === 'job.finished' && target === architectId) {
        jobsAtManagers.delete(e.outcome.jobId);
        journal.finishJob(e.outcome);
        journal.deleteSnapshot(`plan:${e.outcome.jobId}`);
        settleWaiters(e.outcome.jobId);
      }
    } catch (err) {
      logger.error({ err, event: event.type, target }, 'journal projection failed');
    }
  });

  const planAndCount = async (input: PlanJobInput, signal: AbortSignal): Promise<JobPlan> => {
    const plan = await services.planJob(input, signal);
    countPlanUsage(input.managerId, input.job.id, plan);
    return plan;
  };
  const verifyJob =
    services.verifyJob?.bind(services) ??
    (async (input: VerifyJobInput): Promise<VerifyJobOutcome> => {
      throw new PasError('PAS_ERR_CMD_NOT_ALLOWED', `job ${input.job.id} has a verify command but these runtime services cannot run it on the merged branch`);
    });
  const withSignal = <I, O>(fn: (input: I, signal: AbortSignal) => Promise<O>) => fromPromise<O, I>(({ input, signal }) => fn(input, signal));
  const machine = pasSystemMachine.provide({
    actors: {
      programmer: programmerMachine.provide({ actors: { executeTask: withSignal(services.executeTask) } }),
      manager: managerMachine.provide({
        actors: { job: jobMachine.provide({ actors: { planJob: withSignal(planAndCount), mergeJob: withSignal(services.mergeJob), verifyJob: withSignal(verifyJob) } }) },
      }),
      architect: architectMachine.provide({ actors: { classifyLane: withSignal(services.classifyLane) } }),
    },
  });

  const system = createActor(machine, {
    input: topology.input,
    inspect: options.inspect
      ? (ev: InspectionEvent) => {
          bus.inspect(ev);
          options.inspect!(ev);
        }
      : bus.inspect,
    systemId: 'pas',
    ...(options.clock ? { clock: options.clock } : {}),
  });
  system.start();
  for (const breaker of topology.breakers) {
    const ref = system.system.get(breakerId(breaker.key)) as BreakerRef | undefined;
    if (ref) breakers.adopt(breaker.key, ref);
  }
  syncBudget();

  const get = (id: string) => system.system.get(id);
  /** Every model with a breaker in the system: the configured ones, then any chosen later. */
  const breakerKeys = topology.breakers.map((b) => b.key);
  /** A model chosen at run time gets its breaker inside the system, so the feed and tree show it. */
  const ensureBreaker = (ref: string) => {
    if (breakerKeys.includes(ref)) return;
    breakerKeys.push(ref);
    bus.watch(breakerId(ref), 'breaker', 'closed');
    system.send({ type: 'breaker.spawn', input: breakerInput(config, ref) });
    const actor = get(breakerId(ref)) as BreakerRef | undefined;
    if (actor) breakers.adopt(ref, actor);
  };
  let stopped = false;
  let halted = false;
  let chatSeq = 0;
  /** The config as last written from the HMI (the boot config stays the runtime's identity). */
  let liveConfig = config;
  const inboxes = new Map<string, ChatMessageRecord[]>();

  // The pool hears when a provider is saturated, so it stops dispatching work to its programmers.
  const llmGateway = (services as { llmGateway?: LlmGateway }).llmGateway;
  const stopSaturationFacts = llmGateway?.limiter.onSaturation((provider, saturated) => {
    get(POOL_ID)?.send({ type: saturated ? 'provider.saturated' : 'provider.available', provider });
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
    system,
    llmGateway,
    tree() {
      const nodes: TreeNode[] = topology.agents.map((a) => {
        const node: TreeNode = { agentId: a.agentId, role: a.role, parent: a.parent, state: bus.state(a.agentId) ?? 'IDLE', port: a.port };
        if (a.lane) node.lane = a.lane;
        if (a.role === 'programmer') {
          const llm = llmSettings.get(a.agentId);
          node.breakers = [llm?.primary, llm?.backup].filter((r): r is string => !!r).map(breakerId);
          const work = bus.workOf(a.agentId);
          if (work.jobId) node.jobId = work.jobId;
          if (work.taskId) node.taskId = work.taskId;
        }
        return node;
      });
      for (const key of breakerKeys) nodes.push({ agentId: breakerId(key), role: 'breaker', parent: null, state: bus.state(breakerId(key)) ?? 'closed' });
      return nodes;
    },
    submitJob(submission, via) {
      if (stopped) throw new PasError('PAS_ERR_SHUTTING_DOWN', 'the runtime is stopping and accepts no new jobs');
      const spec: JobSpec = { id: submission.id ?? idGen(), task: submission.task, submittedAt: now().toISOString() };
      if (submission.lane) {
        if (!config.pas.directors.some((d) => d.lane === submission.lane)) {
          throw new PasError('PAS_ERR_NO_LANE', `lane "${submission.lane}" has no Director`, { details: { field: 'lane' } });
        }
        spec.lane = submission.lane;
      }
      if (submission.files) spec.files = submission.files;
      if (submission.repo) spec.repo = submission.repo;
      if (submission.verify) spec.verify = submission.verify;
      if (submission.maxJobSpendUsd !== undefined) spec.maxJobSpendUsd = submission.maxJobSpendUsd;
      const target = via ?? architectId;
      if (!topology.agents.some((a) => a.agentId === target && a.role !== 'programmer')) {
        throw new PasError('PAS_ERR_AGENT_NOT_FOUND', `no Architect, Director or Manager "${target}"`);
      }
      if (via && !spec.lane) {
        const lane = topology.agents.find((a) => a.agentId === via)?.lane;
        if (lane) spec.lane = lane;
      }
      const { created, job } = journal.acceptJob(spec);
      if (created) get(target)?.send({ type: 'job.submitted', job: spec });
      return job;
    },
    submitTask(direct) {
      if (stopped) throw new PasError('PAS_ERR_SHUTTING_DOWN', 'the runtime is stopping and accepts no new tasks');
      if (!programmerIds.has(direct.programmerId)) throw new PasError('PAS_ERR_AGENT_NOT_FOUND', `no programmer "${direct.programmerId}"`);
      const id = direct.taskId ?? `task-${idGen()}`;
      if (journal.getTask(id)) throw new PasError('PAS_ERR_BAD_REQUEST', `task id "${id}" is already used`, { details: { field: 'task_id' } });
      const task: TaskSpec = {
        id,
        jobId: direct.jobId ?? `direct-${direct.programmerId}`,
        managerId: config.programmers.find((p) => p.id === direct.programmerId)!.parent,
        replyTo: DIRECT_REPLY_TO,
        instruction: direct.instruction,
        files: direct.files,
        pin: direct.programmerId,
      };
      if (direct.repo) task.repo = path.resolve(direct.repo);
      if (direct.timeoutMs) task.timeoutMs = direct.timeoutMs;
      if (direct.executor) task.executor = direct.executor;
      if (direct.verify) task.verify = direct.verify;
      journal.upsertTask(task, 'queued');
      get(POOL_ID)?.send({ type: 'task.submitted', task });
      return task;
    },
    receiveChat(message) {
      const record: ChatMessageRecord = { ...message, id: ++chatSeq, at: now().toISOString() };
      const box = inboxes.get(message.to) ?? [];
      box.push(record);
      if (box.length > 200) box.splice(0, box.length - 200);
      inboxes.set(message.to, box);
      logger.info({ agentId: message.to, from: message.from, kind: message.kind, jobId: message.jobId, taskId: message.taskId }, 'agent chat received');
      return record;
    },
    inbox: (agentId) => [...(inboxes.get(agentId) ?? [])],
    usageToday: (agentId) => money.usageToday(agentId),
    async updateLlmSetting(agentId, update) {
      const result = await writeLlmSetting(liveConfig, agentId, update);
      liveConfig = result.config;
      llmSettings.set(agentId, result.backup ? { primary: result.primary, backup: result.backup } : { primary: result.primary });
      for (const ref of [result.primary, result.backup]) if (ref) ensureBreaker(ref);
      if (programmerIds.has(agentId)) {
        get(POOL_ID)?.send({ type: 'programmer.updated', programmerId: agentId, free: modelIsFree(result.config.models, result.primary), provider: result.primary.slice(0, result.primary.indexOf('/')) });
      }
      logger.info({ agentId, primary: result.primary, backup: result.backup, file: result.file }, 'LLM settings changed');
      return result;
    },
    budget: () => money.budget(),
    getJob: (id) => journal.getJob(id),
    cancelJob(id) {
      const job = journal.getJob(id);
      if (!job || isTerminalJobStatus(job.status)) return false;
      // The Manager that holds the job cancels it (whoever it was submitted through); before a
      // Manager has it, the Architect routes the cancel down its lane.
      get(job.managerId ?? architectId)?.send({ type: 'job.cancel', jobId: id });
      return true;
    },
    waitForJob(id, timeoutMs = 60_000) {
      return new Promise<JobRecord>((resolve, reject) => {
        const record = journal.getJob(id);
        if (!record) return reject(new PasError('PAS_ERR_JOB_NOT_FOUND', `no job ${id}`));
        if (isTerminalJobStatus(record.status)) return resolve(record);
        const timer = setTimeout(() => {
          waiters.get(id)?.delete(done);
          reject(new PasError('PAS_ERR_TASK_TIMEOUT', `job ${id} did not finish within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (job: JobRecord) => {
          clearTimeout(timer);
          resolve(job);
        };
        if (!waiters.has(id)) waiters.set(id, new Set());
        waiters.get(id)!.add(done);
      });
    },
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
    closeIntake() {
      stopped = true;
    },
    unfinishedJobs: () => journal.countJobs(JOB_STATUSES.filter((s) => !isTerminalJobStatus(s))),
    async stop() {
      if (halted) return;
      halted = true;
      stopped = true;
      system.stop();
      stopSaturationFacts?.();
      llmGateway?.stop();
      breakers.stop();
      if (ownsJournal) journal.close();
    },
  };

  resumeUnfinished(runtime, config.pas.runtime.on_restart);
  return runtime;
}

/**
 * After a restart: running tasks are re-queued or marked interrupted (as configured), and every
 * accepted job that has not ended is handed to the Architect again with its journaled plan and
 * finished results, so finished work is not redone.
 */
/** Results a job answers by sending the task again, so they do not end it. */
const PROVISIONAL_CODES = new Set(['PAS_ERR_POOL_QUEUE_FULL', 'PAS_ERR_SUPERVISOR_ESCALATED']);
function provisional(result: TaskResult): boolean {
  return result.status === 'cancelled' || PROVISIONAL_CODES.has(result.error?.code ?? '');
}

function resumeUnfinished(runtime: Runtime, mode: 'requeue' | 'interrupt'): void {
  const { journal } = runtime;
  const report = journal.recover({ mode });
  const architect = runtime.system.system.get(runtime.config.pas.architect.agent_id);
  for (const job of report.unfinishedJobs) {
    const plan = journal.loadSnapshot<JobPlan>(`plan:${job.id}`);
    const tasks = journal.tasksForJob(job.id);
    // Every task that finished (completed or failed) keeps its result: finished work is not redone.
    // A refusal the job would have retried (queue full, a first escalation, a hand-back cancel) is not
    // a verdict: that subtask runs again.
    const results = tasks.filter((t) => t.result && !provisional(t.result)).map((t) => t.result!);
    if (mode === 'interrupt') {
      for (const t of tasks.filter((t) => t.status === 'interrupted' && !t.result)) {
        results.push({ taskId: t.id, jobId: job.id, programmerId: t.programmerId ?? '', status: 'failed', error: t.error ?? { code: 'PAS_ERR_TASK_INTERRUPTED', retryable: true, message: 'interrupted by a restart' } });
      }
    }
    const spec: JobSpec = job.lane && !job.spec.lane ? { ...job.spec, lane: job.lane } : job.spec;
    const event: { type: 'job.submitted'; job: JobSpec; resume?: JobResume } = { type: 'job.submitted', job: spec };
    if (plan) event.resume = { plan, results };
    runtime.logger.info({ jobId: job.id, resumed: !!plan, finishedTasks: results.length }, 'resuming job after restart');
    architect?.send(event);
  }
  // Tasks sent straight to a programmer (POST /execute) belong to no job: put them back in the pool.
  const pool = runtime.system.system.get(POOL_ID);
  for (const task of journal.queuedTasks()) {
    if (task.spec.replyTo !== DIRECT_REPLY_TO) continue;
    runtime.logger.info({ taskId: task.id, programmerId: task.spec.pin }, 'resuming direct task after restart');
    pool?.send({ type: 'task.submitted', task: task.spec });
  }
}
