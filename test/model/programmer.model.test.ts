/**
 * Model-based test of the Programmer: an abstract model of its lifecycle (IDLE / EXECUTING /
 * FAILED, what it last reported to its pool) is walked along its shortest and simple paths; the
 * real programmer runs inside a host registered as `pool`, with an executor the test resolves by
 * hand and a SimulatedClock for the timeout, and must agree with the model after every step.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import type { TaskSpec } from '../../machines/domain.ts';
import { programmerMachine, type ProgrammerContext } from '../../machines/programmer.machine.ts';
import { controllableExecutor, settle, startHarness, type Harness } from '../support/machine-harness.ts';
import { byTransition, namedPaths } from './model-paths.ts';

const TIMEOUT_MS = 30_000;

type Report = 'none' | 'done:completed' | 'done:failed' | 'done:cancelled' | 'failed:timeout' | 'failed:fault' | 'ready';
interface ModelContext {
  lastReport: Report;
}
type ModelEvent =
  | { type: 'task.assigned' }
  | { type: 'executor.succeeded' }
  | { type: 'executor.crashed' }
  | { type: 'task.cancel' }
  | { type: 'timeout.elapsed' }
  | { type: 'programmer.fault' }
  | { type: 'programmer.reset' };

const report = (lastReport: Report) => assign<ModelContext, ModelEvent, undefined, ModelEvent, never>({ lastReport });

const programmerModel = setup({ types: { context: {} as ModelContext, events: {} as ModelEvent } }).createMachine({
  id: 'programmerModel',
  context: { lastReport: 'none' },
  initial: 'IDLE',
  states: {
    IDLE: {
      on: {
        'task.assigned': 'EXECUTING',
        'programmer.fault': { target: 'FAILED', actions: report('failed:fault') },
      },
    },
    EXECUTING: {
      on: {
        'executor.succeeded': { target: 'IDLE', actions: report('done:completed') },
        'executor.crashed': { target: 'IDLE', actions: report('done:failed') },
        'task.cancel': { target: 'IDLE', actions: report('done:cancelled') },
        'timeout.elapsed': { target: 'FAILED', actions: report('failed:timeout') },
        'programmer.fault': { target: 'FAILED', actions: report('failed:fault') },
      },
    },
    FAILED: {
      on: { 'programmer.reset': { target: 'IDLE', actions: report('ready') } },
    },
  },
});

const model = createTestModel(programmerModel, { serializeTransition: byTransition });
const describeState = (s: { value: unknown; context: ModelContext }) => `${String(s.value)} (last report ${s.context.lastReport})`;

let h: Harness | undefined;
afterEach(() => h?.stop());

function lastReportOf(harness: Harness): Report {
  const last = harness.received('pool').at(-1);
  if (!last) return 'none';
  if (last.type === 'programmer.ready') return 'ready';
  if (last.type === 'programmer.failed') return (last.error as { code: string }).code === 'PAS_ERR_TASK_TIMEOUT' ? 'failed:timeout' : 'failed:fault';
  return `done:${(last.result as { status: string }).status}` as Report;
}

async function walk(path: (typeof shortest)[number]['path']) {
  const exec = controllableExecutor();
  const harness = startHarness({
    hostId: 'pool',
    children: [{ id: 'Prog-001', logic: programmerMachine.provide({ actors: { executeTask: exec.logic } }), input: { id: 'Prog-001', timeoutMs: TIMEOUT_MS } }],
  });
  h = harness;
  let n = 0;
  const current = () => exec.runs.at(-1)!;
  /** The executor run the programmer should be running now. */
  let active: (typeof exec.runs)[number] | null = null;
  const snap = () => harness.get('Prog-001').getSnapshot() as { value: string; context: ProgrammerContext };
  await path.test({
    events: {
      'task.assigned': () => {
        const task: TaskSpec = { id: `T${++n}`, jobId: 'J1', managerId: 'Mgr-1', replyTo: 'job:J1', instruction: 'x', files: [] };
        harness.send('Prog-001', { type: 'task.assigned', task });
        active = exec.runs.at(-1) ?? null;
      },
      'executor.succeeded': async () => {
        const run = current();
        run.resolve({ taskId: run.input.task.id, jobId: 'J1', programmerId: 'Prog-001', status: 'completed' });
        active = null;
        await settle();
      },
      'executor.crashed': async () => {
        current().reject(new Error('executor crashed'));
        active = null;
        await settle();
      },
      'task.cancel': () => harness.send('Prog-001', { type: 'task.cancel', taskId: current().input.task.id }),
      'timeout.elapsed': () => harness.advance(TIMEOUT_MS),
      'programmer.fault': () => harness.send('Prog-001', { type: 'programmer.fault' }),
      'programmer.reset': () => harness.send('Prog-001', { type: 'programmer.reset' }),
    },
    states: {
      '*': (expected) => {
        const real = snap();
        expect(real.value).toBe(expected.value);
        expect(lastReportOf(harness)).toBe(expected.context.lastReport);
        // what the machine holds agrees with where it is
        expect(real.context.task === null).toBe(expected.value !== 'EXECUTING');
        // the executor runs exactly while EXECUTING: leaving by cancel, timeout or fault aborts it
        if (expected.value === 'EXECUTING') expect(active?.signal.aborted).toBe(false);
        else if (active) {
          expect(active.signal.aborted).toBe(true);
          active = null;
        }
        expect(exec.runs.length).toBe(n);
        if (expected.value === 'FAILED') expect(real.context.failure?.code).toBe(expected.context.lastReport === 'failed:timeout' ? 'PAS_ERR_TASK_TIMEOUT' : 'PAS_ERR_PROGRAMMER_FAILED');
        else expect(real.context.failure).toBeNull();
      },
    },
  });
}

const shortest = namedPaths(model.getShortestPaths(), describeState);
// Simple paths over states alone (value and last report): every loop-free way to reach each one.
const simple = namedPaths(createTestModel(programmerModel, { serializeTransition: () => '' }).getSimplePaths(), describeState);

describe('programmer model: shortest paths', () => {
  for (const { name, path } of shortest) it(name, () => walk(path));
});

describe('programmer model: simple paths', () => {
  for (const { name, path } of simple) it(name, () => walk(path));
});
