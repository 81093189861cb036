/**
 * Model-based test of the pool with two programmers (round_robin, queue of 1 per programmer,
 * no re-dispatch, one restart allowed per supervision period). The model is an abstract account
 * of the pool's rules: who is idle, busy or quarantined, how many tasks wait, where the
 * round-robin cursor stands, how many restarts are outstanding, and how the last task ended.
 * Its shortest and simple paths (bounded by event choice and target states) are walked against
 * the real pool machine with real programmers on a SimulatedClock, checking after every step.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import type { TaskResult, TaskSpec } from '../../machines/domain.ts';
import { poolMachine, type PoolContext, type PoolInput } from '../../machines/pool.machine.ts';
import { programmerMachine } from '../../machines/programmer.machine.ts';
import { controllableExecutor, settle, startHarness, type Harness } from '../support/machine-harness.ts';
import { namedPaths } from './model-paths.ts';

const PERIOD_MS = 60_000;
const IDS = ['P1', 'P2'] as const;
const QUEUE_LIMIT = 2; // max_queue_per_programmer 1 × 2 programmers

type Status = 'idle' | 'busy' | 'quarantined';
type Ending = 'none' | 'completed' | 'failed' | 'queueFull' | 'cancelled' | 'escalated' | 'noProgrammer';
interface ModelContext {
  status: [Status, Status];
  restarts: [number, number];
  queued: number;
  cursor: number;
  last: Ending;
}
type ModelEvent =
  | { type: 'task.submitted' }
  | { type: 'task.cancel.queued' }
  | { type: 'completed'; p: 0 | 1 }
  | { type: 'failed'; p: 0 | 1 }
  | { type: 'fault'; p: 0 | 1 }
  | { type: 'reset'; p: 0 | 1 }
  | { type: 'period.elapsed' };

type Ctx = ModelContext;
const copy = (c: Ctx): Ctx => ({ ...c, status: [...c.status], restarts: [...c.restarts] });

/** Round robin: the first idle programmer at or after the cursor. */
function drain(c: Ctx): Ctx {
  while (c.queued > 0) {
    const i = [c.cursor, 1 - c.cursor].find((j) => c.status[j] === 'idle');
    if (i === undefined) break;
    c.status[i] = 'busy';
    c.cursor = 1 - i;
    c.queued--;
  }
  if (c.status.every((s) => s === 'quarantined') && c.queued > 0) {
    c.queued = 0;
    c.last = 'noProgrammer';
  }
  return c;
}

function submitted(context: Ctx): Ctx {
  const c = copy(context);
  if (c.status.every((s) => s === 'quarantined')) return { ...c, last: 'noProgrammer' };
  const i = c.queued === 0 ? [c.cursor, 1 - c.cursor].find((j) => c.status[j] === 'idle') : undefined;
  if (i !== undefined) {
    c.status[i] = 'busy';
    c.cursor = 1 - i;
  } else if (c.queued >= QUEUE_LIMIT) c.last = 'queueFull';
  else c.queued++;
  return c;
}

function ended(context: Ctx, p: number, how: 'completed' | 'failed'): Ctx {
  const c = copy(context);
  c.status[p] = 'idle';
  c.last = how;
  return drain(c);
}

function faulted(context: Ctx, p: number): Ctx {
  const c = copy(context);
  const hadTask = c.status[p] === 'busy';
  if (c.restarts[p]! < 1) {
    c.restarts[p] = 1;
    c.status[p] = 'idle'; // restarted at once
    if (hadTask) c.last = 'failed';
  } else {
    c.status[p] = 'quarantined';
    if (hadTask) c.last = 'escalated';
  }
  return drain(c);
}

const poolModel = setup({
  types: { context: {} as ModelContext, events: {} as ModelEvent },
  guards: {
    busy: ({ context, event }) => 'p' in event && context.status[event.p] === 'busy',
    notQuarantined: ({ context, event }) => 'p' in event && context.status[event.p] !== 'quarantined',
    quarantined: ({ context, event }) => 'p' in event && context.status[event.p] === 'quarantined',
    hasQueued: ({ context }) => context.queued > 0,
    restartsOutstanding: ({ context }) => context.restarts.some((r) => r > 0),
  },
}).createMachine({
  id: 'poolModel',
  context: { status: ['idle', 'idle'], restarts: [0, 0], queued: 0, cursor: 0, last: 'none' },
  initial: 'routing',
  states: {
    routing: {
      on: {
        'task.submitted': { actions: assign(({ context }) => submitted(context)) },
        'task.cancel.queued': { guard: 'hasQueued', actions: assign(({ context }) => ({ queued: context.queued - 1, last: 'cancelled' as const })) },
        completed: { guard: 'busy', actions: assign(({ context, event }) => ended(context, event.p, 'completed')) },
        failed: { guard: 'busy', actions: assign(({ context, event }) => ended(context, event.p, 'failed')) },
        fault: { guard: 'notQuarantined', actions: assign(({ context, event }) => faulted(context, event.p)) },
        reset: {
          guard: 'quarantined',
          actions: assign(({ context, event }) => {
            const c = copy(context);
            c.status[event.p] = 'idle';
            c.restarts[event.p] = 0;
            return drain(c);
          }),
        },
        'period.elapsed': { guard: 'restartsOutstanding', actions: assign({ restarts: () => [0, 0] as [number, number] }) },
      },
    },
  },
});

const ALL_EVENTS: ModelEvent[] = [
  { type: 'task.submitted' },
  { type: 'task.cancel.queued' },
  { type: 'period.elapsed' },
  ...([0, 1] as const).flatMap((p): ModelEvent[] => [
    { type: 'completed', p },
    { type: 'failed', p },
    { type: 'fault', p },
    { type: 'reset', p },
  ]),
];
const enabled = (state: { can(event: ModelEvent): boolean }, event: ModelEvent) => state.can(event);
const describeState = (s: { context: ModelContext }) => {
  const c = s.context;
  return `P1 ${c.status[0]}, P2 ${c.status[1]}, ${c.queued} queued, cursor ${c.cursor}, restarts ${c.restarts.join('/')}, last task ${c.last}`;
};

let h: Harness | undefined;
afterEach(() => h?.stop());

function endingOf(harness: Harness): Ending {
  const last = harness.received('job:J1', 'task.finished').at(-1)?.result as TaskResult | undefined;
  if (!last) return 'none';
  if (last.status === 'completed' || last.status === 'cancelled') return last.status;
  switch (last.error?.code) {
    case 'PAS_ERR_POOL_QUEUE_FULL':
      return 'queueFull';
    case 'PAS_ERR_SUPERVISOR_ESCALATED':
      return 'escalated';
    case 'PAS_ERR_NO_PROGRAMMER':
      return 'noProgrammer';
    default:
      return 'failed';
  }
}

/** The model event's programmer index (the executor types only promise `type`). */
const programmerOf = (event: { type: string }): 0 | 1 => (event as unknown as { p: 0 | 1 }).p;

async function walk(path: (typeof shortest)[number]['path']) {
  const exec = controllableExecutor();
  const programmer = programmerMachine.provide({ actors: { executeTask: exec.logic } });
  const input: PoolInput = {
    programmers: IDS.map((id) => ({ id, capabilities: [], free: true })),
    strategy: 'round_robin',
    preferFree: false,
    maxQueuePerProgrammer: 1,
    maxRetries: 0,
    maxRestarts: 1,
    restartPeriodMs: PERIOD_MS,
  };
  const harness = startHarness({
    recorders: ['job:J1', 'Mgr-1'],
    children: [{ id: 'pool', logic: poolMachine, input }, ...IDS.map((id) => ({ id, logic: programmer, input: { id, timeoutMs: 1e9, poolId: 'pool' } }))],
  });
  h = harness;
  let n = 0;
  const pool = () => (harness.get('pool').getSnapshot() as { context: PoolContext }).context;
  const runningOn = (p: 0 | 1) => {
    const taskId = pool().members[p]!.taskId!;
    return exec.find(taskId, IDS[p]);
  };
  await path.test({
    events: {
      'task.submitted': () => {
        const task: TaskSpec = { id: `T${++n}`, jobId: 'J1', managerId: 'Mgr-1', replyTo: 'job:J1', instruction: 'x', files: [] };
        harness.send('pool', { type: 'task.submitted', task });
      },
      'task.cancel.queued': () => harness.send('pool', { type: 'task.cancel', taskId: pool().queue.at(-1)!.id }),
      completed: async ({ event }) => {
        const run = runningOn(programmerOf(event));
        run.resolve({ taskId: run.input.task.id, jobId: 'J1', programmerId: run.input.programmerId, status: 'completed' });
        await settle();
      },
      failed: async ({ event }) => {
        const run = runningOn(programmerOf(event));
        run.resolve({ taskId: run.input.task.id, jobId: 'J1', programmerId: run.input.programmerId, status: 'failed', error: { code: 'PAS_ERR_LLM_SERVER', retryable: true, message: 'down' } });
        await settle();
      },
      fault: ({ event }) => harness.send(IDS[programmerOf(event)], { type: 'programmer.fault' }),
      reset: ({ event }) => harness.send(IDS[programmerOf(event)], { type: 'programmer.reset' }),
      'period.elapsed': () => harness.advance(PERIOD_MS),
    },
    states: {
      '*': (expected) => {
        const real = pool();
        const c = expected.context;
        expect(real.members.map((m) => m.status)).toEqual(c.status);
        expect(IDS.map((id) => real.restarts[id] ?? 0)).toEqual(c.restarts);
        expect(real.queue).toHaveLength(c.queued);
        expect(real.cursor).toBe(c.cursor);
        expect(endingOf(harness)).toBe(c.last);
        // the programmers agree with the pool: busy ones execute the task the pool gave them
        IDS.forEach((id, i) => {
          const snap = harness.get(id).getSnapshot() as { value: string; context: { task: TaskSpec | null } };
          const expectedValue = c.status[i] === 'busy' ? 'EXECUTING' : c.status[i] === 'quarantined' ? 'FAILED' : 'IDLE';
          expect(snap.value).toBe(expectedValue);
          if (c.status[i] === 'busy') expect(snap.context.task?.id).toBe(real.members[i]!.taskId);
        });
        // never one task on two programmers
        const taskIds = real.members.map((m) => m.taskId).filter(Boolean);
        expect(new Set(taskIds).size).toBe(taskIds.length);
        // every task submitted so far has either ended once or is still held
        const finished = harness.received('job:J1', 'task.finished').map((e) => (e.result as TaskResult).taskId);
        expect(new Set(finished).size).toBe(finished.length);
        expect(finished.length + Object.keys(real.running).length + real.queue.length).toBe(n);
      },
    },
  });
}

const model = createTestModel(poolModel, { events: ALL_EVENTS, filterEvents: enabled, serializeTransition: () => '' });
const shortest = namedPaths(model.getShortestPaths(), describeState);
// Simple paths through the traffic part of the pool (submit, finish, cancel) up to a full queue…
const traffic = model.getSimplePaths({
  filterEvents: (s, e) => enabled(s, e) && (e.type === 'task.submitted' || e.type === 'completed'),
  toState: (s) => s.context.queued === QUEUE_LIMIT && s.context.last === 'queueFull',
});
// …and through supervision with one programmer's faults, restarts and quarantine, from a busy pool.
const supervision = model.getSimplePaths({
  filterEvents: (s, e) =>
    enabled(s, e) &&
    s.context.queued === 0 &&
    ((e.type === 'task.submitted' && !s.context.status.includes('busy')) || e.type === 'period.elapsed' || e.type === 'completed' || (e.type === 'fault' && e.p === 0)),
  toState: (s) => s.context.status[0] === 'quarantined' && s.context.last === 'escalated',
});
const simple = namedPaths([...traffic, ...supervision], describeState);

describe('pool model: shortest paths', () => {
  it('reaches every combination of idle, busy and quarantined programmers', () => {
    const seen = new Set(model.getShortestPaths({ allowDuplicatePaths: true }).map((p) => p.state.context.status.join('/')));
    expect(seen.size).toBe(9);
  });
  for (const { name, path } of shortest) it(name, () => walk(path));
});

describe('pool model: simple paths', () => {
  it('has traffic and supervision paths to walk', () => {
    expect(traffic.length).toBeGreaterThan(0);
    expect(supervision.length).toBeGreaterThan(0);
  });
  for (const { name, path } of simple) it(name, () => walk(path));
});
