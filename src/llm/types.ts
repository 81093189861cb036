/**
 * Contracts of the LLM layer: provider adapters speak one wire protocol each; the LLM client
 * adds retries, primary→backup failover, shared breakers, prices and the daily budget.
 */
import type { ErrorData, ModelRef, TokenUsage } from '../../machines/domain.ts';
import type { BreakerState, TaskResultStatus } from '../../machines/statuses.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  messages: ChatMessage[];
  temperature?: number;
  maxTokens?: number;
  /** Stream the reply with the provider's own framing (SSE; NDJSON for Ollama). */
  stream?: boolean;
  /** Called for every streamed text delta. */
  onToken?: (delta: string) => void;
  signal?: AbortSignal;
  /** Who is calling; used for the scripted cassette, logs and metrics, never sent to a provider. */
  meta?: { agentId?: string; role?: string; jobId?: string; taskId?: string; purpose?: string };
}

export interface ChatResponse {
  text: string;
  /** Exactly as the provider reported it; counts it did not send are null. */
  usage: TokenUsage;
  provider: string;
  model: string;
  finishReason?: string;
}

/** One provider wire protocol. Throws PasError with a PAS_ERR_LLM_* code on failure. */
export interface ProviderAdapter {
  readonly provider: string;
  chat(model: string, request: ChatRequest): Promise<ChatResponse>;
}

export interface LlmAttempt {
  ref: ModelRef;
  ok: boolean;
  error?: ErrorData;
  /** Set when the breaker refused the call without sending it. */
  skipped?: 'breaker_open' | 'budget';
}

export interface LlmCallResult extends ChatResponse {
  ref: ModelRef;
  usedBackup: boolean;
  costUsd: number;
  attempts: LlmAttempt[];
}

export interface LlmCallOptions {
  agentId: string;
  primary: ModelRef;
  backup?: ModelRef;
  request: ChatRequest;
}

export interface LlmClient {
  call(options: LlmCallOptions): Promise<LlmCallResult>;
}

/** What a caller tells an asynchronous gate about the call it asks to make. */
export interface CallIntent {
  agentId?: string;
  jobId?: string;
  taskId?: string;
  /** The caller's signal: an admission still being asked for ends when it aborts. */
  signal?: AbortSignal;
}

/** One model call an asynchronous gate admitted; it hears how the call ended. */
export interface CallTicket {
  /** `probe`: this call is the one half-open probe of the model's breaker. */
  readonly admission: 'allow' | 'probe';
  /**
   * The call ended: `success` (with what it cost and used), `failure` (a fault that counts
   * towards the breaker), or `abandoned` (the caller gave up before an answer). `costUsd` is
   * what the call used, whatever the outcome; the gate books it (once per ticket).
   */
  finish(outcome: 'success' | 'failure' | 'abandoned', detail?: { error?: ErrorData; usage?: TokenUsage; costUsd?: number }): void;
}

/** Admission and outcome reporting for the breaker of each provider/model. */
export interface BreakerGate {
  /**
   * Asynchronous admission (a gate that asks another process, e.g. a worker asking the central
   * process of a cluster for the shared breaker and budget). Rejects with a coded PasError
   * (PAS_ERR_LLM_BREAKER_OPEN, PAS_ERR_BUDGET_EXHAUSTED, …) when the call may not be made. A gate
   * without it is asked synchronously through `admit` and `record`.
   */
  admitCall?(ref: ModelRef, intent: CallIntent): Promise<CallTicket>;
  admit(ref: ModelRef): 'allow' | 'probe' | 'reject';
  record(ref: ModelRef, outcome: 'success' | 'failure', probe: boolean, error?: ErrorData): void;
  /** A probe call whose caller gave up before an answer: the next caller may probe. */
  abandonProbe(ref: ModelRef): void;
  state(ref: ModelRef): BreakerState;
  failures(ref: ModelRef): number;
  /** The failures that keep the breaker from closing, newest last (empty when closed). */
  recentFailures?(ref: ModelRef): Array<{ at: number; code: string; message: string }>;
}

/** Durable store of today's spend (survives restarts). */
export interface SpendStore {
  spent(day: string): number;
  add(day: string, usd: number): void;
  /**
   * Adds a call made for a task's running attempt, kept with that attempt until it ends (the
   * journal's): a process killed before the attempt's receipt has it booked at the restart.
   */
  addForTask?(day: string, usd: number, call: TaskCallSpend): void;
}

/** A paid call made for a task: what the receipt of an attempt cut off by a crash is made of. */
export interface TaskCallSpend {
  taskId: string;
  tokens?: TokenUsage;
  /** `provider/model`. */
  model?: string;
}

/** Tokens and cost of an agent's work on one UTC day. */
export interface AgentUsage {
  tasks: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** One line of the usage ledger: what an agent used for a task (or, without taskId, a plan). */
export interface UsageEntry {
  day: string;
  agentId: string;
  jobId?: string;
  taskId?: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Where per-agent usage is kept (the journal's SQLite in the runtime). */
export interface UsageLedger {
  add(entry: UsageEntry): void;
  usage(day: string, agentId: string): AgentUsage;
}

/** One edit–verify round of a task (a receipt's `rounds`). */
export interface ReceiptRound {
  round: number;
  /** Usage of every model call of the round (reads and corrections included). */
  tokens: TokenUsage;
  cost_usd: number;
  /** Files the model asked to read in this round. */
  reads: number;
  /** The verify command's exit code; null when a signal ended it, absent when none ran. */
  verify_exit_code?: number | null;
  verify_duration_ms?: number;
  duration_ms: number;
}

/** One line of `artifacts/receipts/{run_id}.jsonl` (CONTRACT §7). */
export interface Receipt {
  run_id: string;
  job_id: string;
  task_id: string;
  agent_id: string;
  provider: string | null;
  model: string | null;
  used_backup: boolean;
  status: TaskResultStatus;
  error?: ErrorData;
  tokens: TokenUsage;
  cost_usd: number;
  duration_ms: number;
  kpi: { files_changed: number; lines_added: number; lines_removed: number };
  started_at: string;
  finished_at: string;
  /** The edit–verify rounds of a task with a `verify` command: per-round usage, reads, verify exit code and durations. */
  rounds?: ReceiptRound[];
}
