/**
 * Prometheus metrics for `GET /metrics`, on a registry of their own (never prom-client's
 * global one, so several runtimes in one test process do not collide). Gauges that mirror
 * runtime state (agents, queue depth, daily spend) read it through functions at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TokenUsage } from '../../machines/domain.ts';
import {
  AGENT_ROLES,
  AGENT_STATES,
  BREAKER_STATES,
  JOB_STATUSES,
  TASK_RESULT_STATUSES,
  type BreakerState,
  type JobStatus,
  type TaskResultStatus,
} from '../../machines/statuses.ts';
import type { TransitionRecord } from '../runtime/transition-record.ts';

export type TaskCounterStatus = 'started' | TaskResultStatus;
export type TokenKind = 'input' | 'output' | 'thinking' | 'cache_read' | 'cache_write';

export interface AgentStateSample {
  role: string;
  state: string;
}

export interface MetricsOptions {
  /** Add prom-client's process and Node.js metrics. Default true. */
  defaultMetrics?: boolean;
  /** Buckets of `pas_http_request_duration_seconds`. */
  httpBuckets?: number[];
}

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** Follows breaker transitions (role `breaker`, agentId `breaker:provider/model`) into `pas_breaker_state`. */
  onTransition(record: Pick<TransitionRecord, 'agentId' | 'role' | 'to'>): void;
  taskStarted(): void;
  taskCompleted(): void;
  taskFailed(): void;
  taskCancelled(): void;
  /** `started` or a final task status. */
  countTask(status: TaskCounterStatus): void;
  /** Counts a job reaching `status` (`accepted` on submit, then its final status). */
  countJob(status: JobStatus): void;
  /** Counts reported tokens by kind (null counts are skipped, never 0) and adds the cost. */
  recordUsage(provider: string, model: string, usage: TokenUsage, costUsd: number): void;
  budgetRefused(): void;
  setQueueDepth(depth: number | (() => number)): void;
  setDailySpend(usd: number | (() => number)): void;
  /** Agents (non-breaker nodes) counted by role and state at each scrape. */
  setAgentStates(source: () => Iterable<AgentStateSample>): void;
  setBreakerState(model: string, state: BreakerState): void;
  httpObserve(method: string, route: string, status: number, seconds: number): void;
  /** The feed's clients and how many it closed: too slow (1013) or silent (heartbeat). */
  setFeedStats(source: () => { clients: number; droppedClients: number; deadClients: number }): void;
  /** Connections held across all PAS ports, and those closed at once past max_connections. */
  setConnectionStats(source: () => { open: number; refused: number }): void;
  render(): Promise<string>;
}

const TASK_COUNTER_STATUSES: readonly TaskCounterStatus[] = ['started', ...TASK_RESULT_STATUSES];
const TOKEN_KINDS: readonly TokenKind[] = ['input', 'output', 'thinking', 'cache_read', 'cache_write'];
/** Roles counted in `pas_agents` (breakers have their own gauge). */
const AGENT_GAUGE_ROLES = AGENT_ROLES.filter((role) => role !== 'breaker');

/** The tree shows breakers as agent states; either form maps to the breaker's own state. */
const BREAKER_STATE_OF: Record<string, BreakerState> = {
  closed: 'closed',
  open: 'open',
  halfOpen: 'halfOpen',
  IDLE: 'closed',
  FAILED: 'open',
  EXECUTING: 'halfOpen',
};

const BREAKER_PREFIX = 'breaker:';

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  let agentSource: (() => Iterable<AgentStateSample>) | undefined;
  let queueDepth: number | (() => number) = 0;
  let dailySpend: number | (() => number) = 0;
  let feedSource: (() => { clients: number; droppedClients: number; deadClients: number }) | undefined;
  let connectionSource: (() => { open: number; refused: number }) | undefined;

  new Gauge({
    name: 'pas_feed_clients',
    help: 'WebSocket feed (/ws) clients connected.',
    registers: [registry],
    collect() {
      this.set(feedSource?.().clients ?? 0);
    },
  });
  new Counter({
    name: 'pas_feed_clients_closed_total',
    help: 'Feed clients PAS closed: slow (backlog past gateway.ws.max_buffered_bytes, code 1013) or dead (missed a heartbeat).',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      const stats = feedSource?.();
      this.reset();
      this.inc({ reason: 'slow' }, stats?.droppedClients ?? 0);
      this.inc({ reason: 'dead' }, stats?.deadClients ?? 0);
    },
  });
  new Gauge({
    name: 'pas_connections',
    help: 'TCP connections open across the gateway and every agent port.',
    registers: [registry],
    collect() {
      this.set(connectionSource?.().open ?? 0);
    },
  });
  new Counter({
    name: 'pas_connections_refused_total',
    help: 'Connections closed as soon as accepted because gateway.limits.max_connections were open.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(connectionSource?.().refused ?? 0);
    },
  });

  new Gauge({
    name: 'pas_agents',
    help: 'Agents by role and top-level state.',
    labelNames: ['role', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const role of AGENT_GAUGE_ROLES) for (const state of AGENT_STATES) this.set({ role, state }, 0);
      if (!agentSource) return;
      for (const { role, state } of agentSource()) {
        if (role === 'breaker') continue;
        this.inc({ role, state });
      }
    },
  });

  const tasks = new Counter({
    name: 'pas_tasks_total',
    help: 'Programmer tasks started and finished, by status.',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  for (const status of TASK_COUNTER_STATUSES) tasks.inc({ status }, 0);

  new Gauge({
    name: 'pas_queue_depth',
    help: 'Tasks waiting in the programmer pool queue.',
    registers: [registry],
    collect() {
      this.set(read(queueDepth));
    },
  });

  const breakers = new Gauge({
    name: 'pas_breaker_state',
    help: 'Circuit breaker state per provider/model: 1 for the current state, 0 for the others.',
    labelNames: ['model', 'state'] as const,
    registers: [registry],
  });

  const tokens = new Counter({
    name: 'pas_llm_tokens_total',
    help: 'LLM tokens as the providers reported them, by kind.',
    labelNames: ['provider', 'model', 'kind'] as const,
    registers: [registry],
  });

  const cost = new Counter({
    name: 'pas_llm_cost_usd_total',
    help: 'LLM spend in USD.',
    labelNames: ['provider', 'model'] as const,
    registers: [registry],
  });

  const refusals = new Counter({
    name: 'pas_budget_refusals_total',
    help: 'Paid LLM calls refused because the daily budget was spent.',
    registers: [registry],
  });

  new Gauge({
    name: 'pas_daily_spend_usd',
    help: "Today's LLM spend in USD.",
    registers: [registry],
    collect() {
      this.set(read(dailySpend));
    },
  });

  const jobs = new Counter({
    name: 'pas_jobs_total',
    help: 'Jobs by the status they reached.',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  for (const status of JOB_STATUSES) jobs.inc({ status }, 0);

  const http = new Histogram({
    name: 'pas_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: options.httpBuckets ?? [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const setBreakerState = (model: string, state: BreakerState): void => {
    for (const s of BREAKER_STATES) breakers.set({ model, state: s }, s === state ? 1 : 0);
  };

  const countTask = (status: TaskCounterStatus): void => tasks.inc({ status });

  return {
    registry,
    contentType: registry.contentType,
    onTransition(record) {
      if (record.role !== 'breaker') return;
      const state = BREAKER_STATE_OF[record.to];
      if (!state) return;
      const model = record.agentId.startsWith(BREAKER_PREFIX) ? record.agentId.slice(BREAKER_PREFIX.length) : record.agentId;
      setBreakerState(model, state);
    },
    taskStarted: () => countTask('started'),
    taskCompleted: () => countTask('completed'),
    taskFailed: () => countTask('failed'),
    taskCancelled: () => countTask('cancelled'),
    countTask,
    countJob: (status) => jobs.inc({ status }),
    recordUsage(provider, model, usage, costUsd) {
      for (const kind of TOKEN_KINDS) {
        const count = usage[kind];
        if (typeof count === 'number' && Number.isFinite(count) && count > 0) tokens.inc({ provider, model, kind }, count);
      }
      if (Number.isFinite(costUsd) && costUsd >= 0) cost.inc({ provider, model }, costUsd);
    },
    budgetRefused: () => refusals.inc(),
    setQueueDepth(depth) {
      queueDepth = depth;
    },
    setDailySpend(usd) {
      dailySpend = usd;
    },
    setAgentStates(source) {
      agentSource = source;
    },
    setBreakerState,
    setFeedStats(source) {
      feedSource = source;
    },
    setConnectionStats(source) {
      connectionSource = source;
    },
    httpObserve(method, route, status, seconds) {
      http.observe({ method: method.toUpperCase(), route, status: String(status) }, Math.max(0, seconds));
    },
    render: () => registry.metrics(),
  };
}

function read(value: number | (() => number)): number {
  const n = typeof value === 'function' ? value() : value;
  return Number.isFinite(n) ? n : 0;
}
