/**
 * The runtime's public shapes: what createRuntime takes (options, services) and what it returns
 * (the Runtime the gateway and the CLI use).
 */
import type { Logger } from 'pino';
import type { Actor, AnyEventObject, InspectionEvent } from 'xstate';
import type { ClassifyLaneInput } from '../../machines/architect.machine.ts';
import type { JobPlan, JobSpec, MergeOutcome, TaskResult, TaskSpec } from '../../machines/domain.ts';
import type { MergeJobInput, PlanJobInput, VerifyJobInput, VerifyJobOutcome } from '../../machines/job.machine.ts';
import type { pasSystemMachine } from '../../machines/pas-system.machine.ts';
import type { poolStatus, PoolContext } from '../../machines/pool.machine.ts';
import type { ExecuteTaskInput, ProgrammerContext } from '../../machines/programmer.machine.ts';
import type { PasConfig } from '../config/load-config.ts';
import type { LlmChoiceUpdate, SettingsWriteResult } from '../config/settings-writer.ts';
import type { Journal, JobRecord } from '../journal/journal.ts';
import type { LlmGateway } from '../llm/gateway/llm-gateway.ts';
import type { AgentUsage, BudgetView, MoneyPolicy } from '../llm/money-policy.ts';
import type { BreakerRegistry, Clock } from './breaker-registry.ts';
import type { FactListener } from './fact-bus.ts';
import type { InspectionBus } from './inspection-bus.ts';
import type { MergeBoard } from './merge-board.ts';
import type { ProgressBoard } from './progress-board.ts';
import type { Topology } from './topology.ts';
import type { TransitionRecord, TreeNode } from './transition-record.ts';

/** The I/O behind the statecharts' named actors. */
export interface RuntimeServices {
  executeTask(input: ExecuteTaskInput, signal: AbortSignal): Promise<TaskResult>;
  planJob(input: PlanJobInput, signal: AbortSignal): Promise<JobPlan>;
  mergeJob(input: MergeJobInput, signal: AbortSignal): Promise<MergeOutcome>;
  /** Runs the job's verify command on its merged branch (and plans the fix-up); without it such a job fails. */
  verifyJob?(input: VerifyJobInput, signal: AbortSignal): Promise<VerifyJobOutcome>;
  classifyLane(input: ClassifyLaneInput, signal: AbortSignal): Promise<{ lane: string | null }>;
  /** Called once when the runtime stops: background work of the services (the checkout prewarm) ends. */
  stop?(): Promise<void>;
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

/** A job as the runtime takes it: the JobSpec without what the runtime assigns (its id may be given). */
export type JobSubmission = Omit<JobSpec, 'id' | 'submittedAt'> & { id?: string };

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

/**
 * The reply-to of direct tasks. No actor has this system id, so the pool's `task.finished` for one
 * goes nowhere (the journal records the result from the pool's task-finished fact); the root actor
 * once had it and took one ignored step per finished task.
 */
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
  /** Each running job's merge queue (feed `merge` messages, the latest state per branch). */
  readonly merges: MergeBoard;
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
  /** Every fact the statecharts state (machines/facts.ts), after the journal has it. */
  onFact(listener: FactListener): () => void;
  /** Refuse new jobs and tasks from now on (the first step of a drain). */
  closeIntake(): void;
  /** Jobs accepted or running. */
  unfinishedJobs(): number;
  stop(): Promise<void>;
}

