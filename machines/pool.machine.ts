/**
 * The programmer pool: routes tasks to idle programmers, queues when all are busy, re-dispatches
 * failed tasks to a different programmer, and supervises programmers (OTP-style restart
 * intensity). Every task ends exactly once with a `task.finished` to its `replyTo`:
 * completed, failed (with a coded reason) or cancelled — never lost, never run twice at once.
 *
 * The logic is a pure reducer (`poolStep`) so every rule is testable without actors; the
 * machine applies its context changes and delivers its messages.
 */
import { enqueueActions, setup } from 'xstate';
import { failedResult, type ErrorData, type TaskResult, type TaskSpec } from './domain.ts';
import { codedError } from './error-codes.ts';
import { fact, type AttemptEndedFact, type TaskFinishedFact, type TaskQueuedFact, type TaskStartedFact } from './facts.ts';
import type { ToJob, ToManager, ToPoolTask } from './messages.ts';
import type { ProgrammerEvent, ProgrammerReport } from './programmer.machine.ts';
import { anyEligible, pickProgrammer, type PoolMember, type Strategy } from './pool-routing.ts';

export interface PoolInput {
  programmers: Array<{ id: string; capabilities: string[]; free: boolean; provider?: string }>;
  strategy: Strategy;
  preferFree: boolean;
  maxQueuePerProgrammer: number;
  /** Re-dispatches of a failed task to another programmer. */
  maxRetries: number;
  /** Restarts allowed per programmer within restartPeriodMs before escalation. */
  maxRestarts: number;
  restartPeriodMs: number;
  capabilityRouting?: Record<string, string[]>;
}

export interface PoolStats {
  submitted: number;
  completed: number;
  failed: number;
  cancelled: number;
  rejected: number;
  redispatched: number;
  restarts: number;
  escalated: number;
}

export interface PoolContext {
  members: PoolMember[];
  queue: TaskSpec[];
  running: Record<string, { task: TaskSpec; programmerId: string }>;
  /** Programmers a task already failed on. */
  tried: Record<string, string[]>;
  cursor: number;
  /** Restarts of each programmer still inside the supervision period. */
  restarts: Record<string, number>;
  strategy: Strategy;
  preferFree: boolean;
  capabilityRouting: Record<string, string[]>;
  budgetExhausted: boolean;
  /** Providers the LLM gateway reports saturated (calls waiting, or a retry-after pause). */
  saturated: string[];
  /** Programmers whose host cannot be reached now (a `pas worker` offline or not started): no new work. */
  unreachable: string[];
  maxQueuePerProgrammer: number;
  maxRetries: number;
  maxRestarts: number;
  restartPeriodMs: number;
  stats: PoolStats;
}

export type PoolEvent =
  | ToPoolTask
  | ProgrammerReport
  | { type: 'supervision.expire'; programmerId: string }
  /** A programmer's primary model changed (LLM settings): whether it is free now. */
  | { type: 'programmer.updated'; programmerId: string; free: boolean; provider?: string }
  /** The LLM gateway's fact: this provider cannot take more calls now / can again. */
  | { type: 'provider.saturated'; provider: string }
  | { type: 'provider.available'; provider: string }
  /** The programmers whose host cannot be reached now, all of them (replaces the last such list). */
  | { type: 'programmers.unreachable'; programmerIds: string[] }
  | { type: 'budget.exhausted' }
  | { type: 'budget.restored' };

/** A message the pool sends to another actor (by system id). */
export interface Delivery {
  to: string;
  /** A task's result to whoever submitted it, work and restarts to a programmer, an escalation to the Manager. */
  event: Extract<ToJob, { type: 'task.finished' }> | ProgrammerEvent | Extract<ToManager, { type: 'supervisor.escalated' }>;
}

/** What the pool states for the journal, in the order it happened (see facts.ts). */
export type PoolFact =
  | ({ type: 'recordTaskQueued' } & TaskQueuedFact)
  | ({ type: 'recordTaskStarted' } & TaskStartedFact)
  | ({ type: 'recordAttemptEnded' } & AttemptEndedFact)
  | ({ type: 'recordTaskFinished' } & TaskFinishedFact);

export interface PoolStepResult {
  context: PoolContext;
  deliveries: Delivery[];
  facts: PoolFact[];
  /** Events the pool sends itself later (supervision expiry). */
  later: Array<{ event: PoolEvent; delayMs: number }>;
}

export function maxQueueLength(context: Pick<PoolContext, 'members' | 'maxQueuePerProgrammer'>): number {
  return context.maxQueuePerProgrammer * context.members.length;
}

/**
 * A copy of a map keyed by task ids, as an object without a prototype. Such an object keeps its
 * keys in a hash table: a plain object literal copied with `{ ...map }` gets a new hidden class
 * for every new task id, which made one copy of 49 running tasks cost as much as the rest of the
 * step (and fed the garbage collector).
 */
export function copyRecord<T>(record: Readonly<Record<string, T>>): Record<string, T> {
  const copy = Object.create(null) as Record<string, T>;
  for (const key in record) copy[key] = record[key]!;
  return copy;
}

/** The pure transition function of the pool. Never mutates its input. */
export function poolStep(input: PoolContext, event: PoolEvent): PoolStepResult {
  // Copy-on-write of exactly what the step mutates (the members it changes, the queue, the maps,
  // the stats); task specs are never mutated, so they are shared. This runs on every pool event.
  const context: PoolContext = {
    ...input,
    members: [...input.members],
    queue: [...input.queue],
    stats: { ...input.stats },
    // A snapshot persisted before providers could saturate (or hosts be unreachable) has no list yet.
    saturated: input.saturated ?? [],
    unreachable: input.unreachable ?? [],
  };
  /** The maps by task or programmer id, copied on their first change in this step (reads use `context`). */
  const own = { running: false, tried: false, restarts: false };
  const writable = <K extends keyof typeof own>(key: K): PoolContext[K] => {
    if (!own[key]) {
      own[key] = true;
      (context as Pick<PoolContext, K>)[key] = copyRecord(context[key] as Record<string, unknown>) as PoolContext[K];
    }
    return context[key];
  };
  const deliveries: Delivery[] = [];
  const facts: PoolFact[] = [];
  const later: PoolStepResult['later'] = [];
  /** Members changed in this step: copied on first use (every change goes through `member`). */
  const copied: string[] = [];
  const member = (id: string): PoolMember | undefined => {
    const members = context.members;
    let at = 0;
    while (at < members.length && members[at]!.id !== id) at++;
    if (at === members.length) return undefined;
    if (!copied.includes(id)) {
      copied.push(id);
      members[at] = { ...members[at]! };
    }
    return members[at];
  };
  const policy = () => ({
    strategy: context.strategy,
    preferFree: context.preferFree,
    capabilityRouting: context.capabilityRouting,
    budgetExhausted: context.budgetExhausted,
    saturated: context.saturated,
    unreachable: context.unreachable,
  });

  const finish = (task: TaskSpec, result: TaskResult) => {
    delete writable('running')[task.id];
    if (context.tried[task.id]) delete writable('tried')[task.id];
    if (result.status === 'completed') context.stats.completed++;
    else if (result.status === 'cancelled') context.stats.cancelled++;
    else context.stats.failed++;
    facts.push({ type: 'recordTaskFinished', result });
    deliveries.push({ to: task.replyTo, event: { type: 'task.finished', result } });
  };

  const assign = (task: TaskSpec, programmerId: string) => {
    const m = member(programmerId)!;
    m.status = 'busy';
    m.taskId = task.id;
    m.assigned++;
    const started: TaskSpec = { ...task, attempt: (task.attempt ?? 0) + 1 };
    writable('running')[task.id] = { task: started, programmerId };
    facts.push({ type: 'recordTaskStarted', task: started, programmerId, attempt: started.attempt! });
    deliveries.push({ to: programmerId, event: { type: 'task.assigned', task: started } });
  };

  /** A task that no programmer can ever take now fails instead of waiting forever. */
  const unplaceable = (task: TaskSpec): ErrorData | null => {
    if (anyEligible(context.members, task, policy())) return null;
    if (context.budgetExhausted && anyEligible(context.members, task, { ...policy(), budgetExhausted: false })) {
      return codedError('PAS_ERR_BUDGET_EXHAUSTED', 'the daily budget is spent and only paid programmers can take this task');
    }
    return codedError('PAS_ERR_NO_PROGRAMMER', 'no programmer in the pool can take this task', {
      requires: task.requires ?? [],
      exclude: task.exclude ?? [],
    });
  };

  /**
   * Places the queued tasks on idle programmers and fails the ones no programmer can ever take.
   * With nobody idle and nothing changed about who could take what (`placeabilityChanged`
   * false: a submit, a finished task whose programmer is not idle again), there is nothing to
   * do: the scan of every queued task against every member is skipped.
   */
  const drain = (placeabilityChanged = false) => {
    if (context.queue.length === 0) return;
    let idle = 0;
    for (const m of context.members) if (m.status === 'idle') idle++;
    if (!placeabilityChanged && idle === 0) return;
    const waiting = context.queue;
    context.queue = [];
    for (let i = 0; i < waiting.length; i++) {
      // Once the last idle programmer has a task, the rest keep their places unscanned (unless
      // who could take what changed: then each is checked for a refusal).
      if (idle === 0 && !placeabilityChanged) {
        for (let j = i; j < waiting.length; j++) context.queue.push(waiting[j]!);
        break;
      }
      const task = waiting[i]!;
      const refusal = unplaceable(task);
      if (refusal) {
        finish(task, failedResult(task, '', refusal));
        continue;
      }
      const pick = pickProgrammer(context.members, task, policy(), context.cursor);
      if (pick) {
        context.cursor = pick.cursor;
        assign(task, pick.id);
        idle--;
      } else {
        context.queue.push(task);
      }
    }
  };

  /** Re-dispatch a failed task to a different programmer when the policy allows. */
  const retryElsewhere = (task: TaskSpec, programmerId: string, error: ErrorData): boolean => {
    const tried = [...(context.tried[task.id] ?? []), programmerId];
    const redispatches = (task.attempt ?? 1) - 1;
    if (!error.retryable || redispatches >= context.maxRetries) return false;
    const next: TaskSpec = { ...task, exclude: [...new Set([...(task.exclude ?? []), ...tried])] };
    if (unplaceable(next)) return false;
    delete writable('running')[task.id];
    writable('tried')[task.id] = tried;
    context.stats.redispatched++;
    context.queue.unshift(next);
    return true;
  };

  const release = (programmerId: string, taskId: string) => {
    const m = member(programmerId);
    if (m && m.taskId === taskId) {
      m.status = 'idle';
      m.taskId = null;
    }
  };

  switch (event.type) {
    case 'task.submitted': {
      const task = event.task;
      if (context.running[task.id] || context.queue.some((t) => t.id === task.id)) break; // already held: idempotent
      context.stats.submitted++;
      facts.push({ type: 'recordTaskQueued', task });
      const refusal = unplaceable(task);
      if (refusal) {
        context.stats.rejected++;
        finish(task, failedResult(task, '', refusal));
        break;
      }
      // With a full queue, a task an idle programmer can take now still starts (queued tasks
      // never fit an idle programmer: the queue is drained after every change).
      const full = context.queue.length >= maxQueueLength(context);
      const pick = context.queue.length === 0 || full ? pickProgrammer(context.members, task, policy(), context.cursor) : null;
      if (pick) {
        context.cursor = pick.cursor;
        assign(task, pick.id);
      } else if (full) {
        context.stats.rejected++;
        finish(
          task,
          failedResult(task, '', codedError('PAS_ERR_POOL_QUEUE_FULL', `every programmer is busy and the queue holds ${context.queue.length} tasks`, { limit: maxQueueLength(context) })),
        );
      } else {
        context.queue.push(task);
        drain();
      }
      break;
    }
    case 'task.cancel': {
      const queued = context.queue.find((t) => t.id === event.taskId);
      if (queued) {
        context.queue = context.queue.filter((t) => t.id !== event.taskId);
        finish(queued, failedResult(queued, '', codedError('PAS_ERR_TASK_CANCELLED', 'cancelled while queued'), 'cancelled'));
        break;
      }
      const running = context.running[event.taskId];
      if (running) deliveries.push({ to: running.programmerId, event: { type: 'task.cancel', taskId: event.taskId } });
      break;
    }
    case 'programmer.done': {
      const { programmerId, result } = event;
      const running = context.running[result.taskId];
      const m = member(programmerId);
      if (m && m.taskId === result.taskId) {
        if (result.status === 'completed') m.completed++;
        else m.failed++;
        if (running && running.programmerId === programmerId) facts.push({ type: 'recordAttemptEnded', programmerId, attempt: running.task.attempt ?? 1, result });
      }
      release(programmerId, result.taskId);
      if (running && running.programmerId === programmerId) {
        const retried = result.status === 'failed' && result.error !== undefined && retryElsewhere(running.task, programmerId, result.error);
        if (!retried) finish(running.task, result);
      }
      drain();
      break;
    }
    case 'programmer.failed': {
      const { programmerId, error, task } = event;
      const m = member(programmerId);
      if (!m) break;
      m.failed += task ? 1 : 0;
      m.taskId = null;
      const used = context.restarts[programmerId] ?? 0;
      let escalated = false;
      if (used < context.maxRestarts) {
        m.status = 'failed';
        writable('restarts')[programmerId] = used + 1;
        context.stats.restarts++;
        later.push({ event: { type: 'supervision.expire', programmerId }, delayMs: context.restartPeriodMs });
        deliveries.push({ to: programmerId, event: { type: 'programmer.reset' } });
      } else {
        m.status = 'quarantined';
        escalated = true;
        context.stats.escalated++;
      }
      const running = task ? context.running[task.id] : undefined;
      if (task && running && running.programmerId === programmerId) {
        if (escalated) {
          const reason = codedError('PAS_ERR_SUPERVISOR_ESCALATED', `${programmerId} failed ${used + 1} times within ${context.restartPeriodMs} ms (${error.code})`, {
            programmerId,
            cause: error,
          });
          deliveries.push({ to: running.task.managerId, event: { type: 'supervisor.escalated', programmerId, taskId: task.id, error: reason } });
          finish(running.task, { ...(event.result ?? failedResult(running.task, programmerId, reason)), status: 'failed', error: reason });
        } else if (!retryElsewhere(running.task, programmerId, error)) {
          finish(running.task, event.result ?? failedResult(running.task, programmerId, error));
        }
      }
      drain(escalated);
      break;
    }
    case 'programmer.ready': {
      const m = member(event.programmerId);
      if (!m) break;
      if (m.status === 'quarantined') writable('restarts')[m.id] = 0;
      if (m.status !== 'busy') {
        m.status = 'idle';
        m.taskId = null;
      }
      drain(true);
      break;
    }
    case 'supervision.expire': {
      const used = context.restarts[event.programmerId] ?? 0;
      writable('restarts')[event.programmerId] = Math.max(0, used - 1);
      break;
    }
    case 'programmer.updated': {
      const m = member(event.programmerId);
      if (m) {
        m.free = event.free;
        if (event.provider !== undefined) m.provider = event.provider;
      }
      drain(true);
      break;
    }
    case 'provider.saturated':
      if (!context.saturated.includes(event.provider)) context.saturated = [...context.saturated, event.provider];
      break;
    case 'provider.available':
      context.saturated = context.saturated.filter((p) => p !== event.provider);
      drain();
      break;
    case 'programmers.unreachable':
      context.unreachable = [...event.programmerIds];
      drain();
      break;
    case 'budget.exhausted':
      context.budgetExhausted = true;
      drain(true);
      break;
    case 'budget.restored':
      context.budgetExhausted = false;
      drain(true);
      break;
  }
  return { context, deliveries, facts, later };
}

type PoolFactAction =
  | { type: 'recordTaskQueued'; params: TaskQueuedFact }
  | { type: 'recordTaskStarted'; params: TaskStartedFact }
  | { type: 'recordAttemptEnded'; params: AttemptEndedFact }
  | { type: 'recordTaskFinished'; params: TaskFinishedFact };

function factAction(f: PoolFact): PoolFactAction {
  switch (f.type) {
    case 'recordTaskQueued':
      return { type: f.type, params: { task: f.task } };
    case 'recordTaskStarted':
      return { type: f.type, params: { task: f.task, programmerId: f.programmerId, attempt: f.attempt } };
    case 'recordAttemptEnded':
      return { type: f.type, params: { programmerId: f.programmerId, attempt: f.attempt, result: f.result } };
    case 'recordTaskFinished':
      return { type: f.type, params: { result: f.result } };
  }
}

export function initialPoolContext(input: PoolInput): PoolContext {
  return {
    members: input.programmers.map((p) => ({
      id: p.id,
      capabilities: [...p.capabilities],
      free: p.free,
      ...(p.provider !== undefined ? { provider: p.provider } : {}),
      status: 'idle',
      taskId: null,
      assigned: 0,
      completed: 0,
      failed: 0,
    })),
    queue: [],
    running: copyRecord({}),
    tried: copyRecord({}),
    cursor: 0,
    restarts: copyRecord({}),
    strategy: input.strategy,
    preferFree: input.preferFree,
    capabilityRouting: input.capabilityRouting ?? {},
    budgetExhausted: false,
    saturated: [],
    unreachable: [],
    maxQueuePerProgrammer: input.maxQueuePerProgrammer,
    maxRetries: input.maxRetries,
    maxRestarts: input.maxRestarts,
    restartPeriodMs: input.restartPeriodMs,
    stats: { submitted: 0, completed: 0, failed: 0, cancelled: 0, rejected: 0, redispatched: 0, restarts: 0, escalated: 0 },
  };
}

export const poolMachine = setup({
  types: {
    context: {} as PoolContext,
    input: {} as PoolInput,
    events: {} as PoolEvent,
  },
  actions: {
    recordTaskQueued: fact('recordTaskQueued'),
    recordTaskStarted: fact('recordTaskStarted'),
    recordAttemptEnded: fact('recordAttemptEnded'),
    recordTaskFinished: fact('recordTaskFinished'),
  },
}).createMachine({
  id: 'pool',
  context: ({ input }) => initialPoolContext(input),
  initial: 'routing',
  states: {
    routing: {
      on: {
        '*': {
          actions: enqueueActions(({ context, event, enqueue, system }) => {
            const step = poolStep(context, event as PoolEvent);
            enqueue.assign(step.context);
            for (const f of step.facts) enqueue(factAction(f));
            for (const { to, event: message } of step.deliveries) {
              const target = system.get(to);
              if (target) enqueue.sendTo(target, message);
            }
            for (const { event: message, delayMs } of step.later) enqueue.raise(message, { delay: delayMs });
          }),
        },
      },
    },
  },
});

/** The view of the pool that `/programmer_pool/status` and the HMI show. */
export function poolStatus(context: PoolContext) {
  // A programmer whose host cannot be reached takes no work: it is not available, whatever its state.
  const unreachable = context.unreachable ?? [];
  const available = context.members.filter((m) => m.status === 'idle' && !unreachable.includes(m.id)).length;
  return {
    pool_size: context.members.length,
    available,
    unavailable: context.members.length - available,
    total_queue_depth: context.queue.length,
    running: Object.keys(context.running).length,
    budget_exhausted: context.budgetExhausted,
    saturated_providers: context.saturated,
    unreachable_programmers: unreachable,
    strategy: context.strategy,
    stats: context.stats,
  };
}
