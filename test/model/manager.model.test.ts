/**
 * Model-based test of the Manager: an abstract model (IDLE / EXECUTING / FAILED, how many jobs
 * run and wait, with max_concurrent_tasks = 1 and at most two jobs waiting) is walked along its
 * shortest and simple paths. The real Manager runs its real job actors against a recording pool
 * and Director; after every step its state, its running and queued jobs, and what the Director
 * heard must match the model.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, fromPromise, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import type { JobSpec, TaskResult } from '../../machines/domain.ts';
import { jobMachine, type JobPlan, type MergeJobInput, type MergeOutcome, type PlanJobInput } from '../../machines/job.machine.ts';
import { managerMachine, type ManagerContext } from '../../machines/manager.machine.ts';
import { settle, startHarness, type Harness } from '../support/machine-harness.ts';
import { byTransition, namedPaths } from './model-paths.ts';

const MAX_WAITING = 2;

interface ModelContext {
  running: number;
  waiting: number;
  /** What the Director heard last from this Manager. */
  told: 'nothing' | 'completed' | 'cancelled' | 'bounced' | 'ready';
}
type ModelEvent =
  | { type: 'job.submitted' }
  | { type: 'job.completed' }
  | { type: 'job.cancel.running' }
  | { type: 'job.cancel.waiting' }
  | { type: 'manager.fault' }
  | { type: 'manager.reset' };

/** A job ends: the next waiting one starts. */
const ended = (told: ModelContext['told']) =>
  assign<ModelContext, ModelEvent, undefined, ModelEvent, never>(({ context }) => ({
    running: context.waiting > 0 ? 1 : 0,
    waiting: Math.max(0, context.waiting - 1),
    told,
  }));

const managerModel = setup({
  types: { context: {} as ModelContext, events: {} as ModelEvent },
  guards: {
    slotFree: ({ context }) => context.running === 0,
    roomToWait: ({ context }) => context.waiting < MAX_WAITING,
    hasRunning: ({ context }) => context.running > 0,
    hasWaiting: ({ context }) => context.waiting > 0,
    idleNow: ({ context }) => context.running === 0 && context.waiting === 0,
  },
}).createMachine({
  id: 'managerModel',
  context: { running: 0, waiting: 0, told: 'nothing' },
  initial: 'IDLE',
  states: {
    IDLE: {
      on: {
        'job.submitted': { target: 'EXECUTING', actions: assign({ running: 1 }) },
        'manager.fault': 'FAILED',
      },
    },
    EXECUTING: {
      always: { guard: 'idleNow', target: 'IDLE' },
      on: {
        'job.submitted': [
          { guard: 'slotFree', actions: assign({ running: 1 }) },
          { guard: 'roomToWait', actions: assign({ waiting: ({ context }) => context.waiting + 1 }) },
        ],
        'job.completed': { guard: 'hasRunning', actions: ended('completed') },
        'job.cancel.running': { guard: 'hasRunning', actions: ended('cancelled') },
        'job.cancel.waiting': { guard: 'hasWaiting', actions: assign({ waiting: ({ context }) => context.waiting - 1, told: 'cancelled' }) },
        'manager.fault': { target: 'FAILED', actions: assign({ running: 0, waiting: 0, told: 'bounced' }) },
      },
    },
    FAILED: {
      on: {
        'job.submitted': { actions: assign({ told: 'bounced' }) },
        'manager.reset': { target: 'IDLE', actions: assign({ told: 'ready' }) },
      },
    },
  },
});

const planJob = fromPromise<JobPlan, PlanJobInput>(async ({ input }) => ({ planner: 'fallback', subtasks: [{ id: `${input.job.id}-t1`, instruction: input.job.task, files: [] }] }));
const mergeJob = fromPromise<MergeOutcome, MergeJobInput>(async ({ input }) => ({ mergedBranch: `pas/job-${input.job.id}`, merged: input.results.map((r) => r.taskId), conflicts: [] }));
const manager = managerMachine.provide({ actors: { job: jobMachine.provide({ actors: { planJob, mergeJob } }) } });

/** Only events that do something in the model (a guarded-off event would just be a no-op loop). */
const enabled = (state: { can(event: ModelEvent): boolean }, event: ModelEvent) => state.can(event);
const model = createTestModel(managerModel, { serializeTransition: byTransition, filterEvents: enabled });
const describeState = (s: { value: unknown; context: ModelContext }) =>
  `${String(s.value)} with ${s.context.running} running, ${s.context.waiting} waiting, Director last told ${s.context.told}`;

let h: Harness | undefined;
afterEach(() => h?.stop());

function toldOf(harness: Harness): ModelContext['told'] {
  const last = harness.received('Dir-Code').filter((e) => e.type !== 'manager.failed').at(-1);
  if (!last) return 'nothing';
  if (last.type === 'job.bounced') return 'bounced';
  if (last.type === 'manager.ready') return 'ready';
  return (last.outcome as { status: string }).status === 'cancelled' ? 'cancelled' : 'completed';
}

/** `checkTold` is off for paths whose vertices ignore what the Director was told. */
async function walk(path: (typeof shortest)[number]['path'], checkTold = true) {
  const harness = startHarness({
    recorders: ['pool', 'Dir-Code'],
    children: [{ id: 'Mgr-Code-01', logic: manager, input: { id: 'Mgr-Code-01', directorId: 'Dir-Code', maxConcurrent: 1, maxProgrammers: 2, timeoutMs: 3_600_000 } }],
  });
  h = harness;
  let n = 0;
  const snap = () => harness.get('Mgr-Code-01').getSnapshot() as { value: string; context: ManagerContext };
  await path.test({
    events: {
      'job.submitted': async () => {
        const job: JobSpec = { id: `J${++n}`, task: 'work', submittedAt: '2025-01-01T00:00:00.000Z' };
        harness.send('Mgr-Code-01', { type: 'job.submitted', job });
        await settle();
      },
      'job.completed': async () => {
        const jobId = snap().context.active[0]!;
        const result: TaskResult = { taskId: `${jobId}-t1`, jobId, programmerId: 'P1', status: 'completed' };
        harness.send(`job:${jobId}`, { type: 'task.finished', result });
        await settle();
      },
      'job.cancel.running': async () => {
        harness.send('Mgr-Code-01', { type: 'job.cancel', jobId: snap().context.active[0]! });
        await settle();
      },
      'job.cancel.waiting': async () => {
        harness.send('Mgr-Code-01', { type: 'job.cancel', jobId: snap().context.queue.at(-1)!.job.id });
        await settle();
      },
      'manager.fault': async () => {
        harness.send('Mgr-Code-01', { type: 'manager.fault' });
        await settle();
      },
      'manager.reset': () => harness.send('Mgr-Code-01', { type: 'manager.reset' }),
    },
    states: {
      '*': (expected) => {
        const real = snap();
        expect(real.value).toBe(expected.value);
        expect(real.context.active).toHaveLength(expected.context.running);
        expect(real.context.queue).toHaveLength(expected.context.waiting);
        if (checkTold) expect(toldOf(harness)).toBe(expected.context.told);
        // a running job is a live child actor with its task on the pool; nothing else is
        for (const jobId of real.context.active) expect(harness.host.system.get(`job:${jobId}`)).toBeDefined();
      },
    },
  });
}

const shortest = namedPaths(model.getShortestPaths(), describeState);
// Simple paths over the Manager's load alone (state, running, waiting): every loop-free way
// through IDLE, the three EXECUTING loads and FAILED.
const loadModel = createTestModel(managerModel, {
  filterEvents: enabled,
  serializeState: (s) => JSON.stringify([s.value, s.context.running, s.context.waiting]),
});
const simple = namedPaths(loadModel.getSimplePaths(), describeState);

describe('manager model: shortest paths', () => {
  for (const { name, path } of shortest) it(name, () => walk(path));
});

describe('manager model: simple paths', () => {
  for (const { name, path } of simple) it(name.replace(/, Director last told \w+/, ''), () => walk(path, false));
});
