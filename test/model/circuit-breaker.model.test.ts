/**
 * Model-based test of the circuit breaker: an abstract model of CONTRACT §6 (threshold failures
 * in the window open it; after the cooldown one probe; success closes, failure or silence
 * reopens) is walked along its shortest and simple paths, and after every step the real breaker,
 * driven through BreakerRegistry on a SimulatedClock, must be in the state the model says.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, setup, SimulatedClock } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { breakerAdmission } from '../../machines/circuit-breaker.machine.ts';
import { BreakerRegistry } from '../../src/runtime/breaker-registry.ts';
import { byTransition, namedPaths, stateName } from './model-paths.ts';

const THRESHOLD = 3;
const WINDOW_MS = 5 * 60_000;
const COOLDOWN_MS = 2 * 60_000;
const PROBE_TIMEOUT_MS = 60_000; // the breaker machine's default
const REF = 'ollama/qwen2.5-coder:7b-instruct';

type ModelEvent =
  | { type: 'call.failed' }
  | { type: 'window.elapsed' }
  | { type: 'cooldown.elapsed' }
  | { type: 'probe.admitted' }
  | { type: 'probe.succeeded' }
  | { type: 'probe.failed' }
  | { type: 'probe.silent' }
  | { type: 'breaker.reset' };

/** What the contract says, with nothing of the implementation. */
const breakerModel = setup({
  types: { context: {} as { failures: number }, events: {} as ModelEvent },
  guards: { willTrip: ({ context }) => context.failures + 1 >= THRESHOLD },
}).createMachine({
  id: 'breakerModel',
  context: { failures: 0 },
  initial: 'closed',
  on: { 'breaker.reset': { target: '.closed', actions: assign({ failures: 0 }) } },
  states: {
    closed: {
      on: {
        'call.failed': [{ guard: 'willTrip', target: 'open', actions: assign({ failures: 0 }) }, { actions: assign({ failures: ({ context }) => context.failures + 1 }) }],
        'window.elapsed': { actions: assign({ failures: 0 }) },
      },
    },
    open: { on: { 'cooldown.elapsed': 'halfOpen' } },
    halfOpen: {
      initial: 'ready',
      states: {
        ready: { on: { 'probe.admitted': 'probing' } },
        probing: {
          on: {
            'probe.succeeded': '#breakerModel.closed',
            'probe.failed': '#breakerModel.open',
            'probe.silent': '#breakerModel.open',
          },
        },
      },
    },
  },
});

const model = createTestModel(breakerModel, { serializeTransition: byTransition });
const describeState = (s: { value: unknown; context: { failures: number } }) => (s.value === 'closed' ? `closed with ${s.context.failures} recent failures` : stateName(s.value));

let registry: BreakerRegistry | undefined;
afterEach(() => registry?.stop());

async function walk(path: (typeof shortest)[number]['path']) {
  const clock = new SimulatedClock();
  const r = new BreakerRegistry({ enabled: true, failureThreshold: THRESHOLD, windowMs: WINDOW_MS, cooldownMs: COOLDOWN_MS }, () => clock.now(), clock);
  registry = r;
  const actor = r.get(REF);
  await path.test({
    events: {
      'call.failed': () => {
        clock.increment(1);
        r.record(REF, 'failure', false);
      },
      'window.elapsed': () => clock.increment(WINDOW_MS),
      'cooldown.elapsed': () => clock.increment(COOLDOWN_MS),
      'probe.admitted': () => {
        expect(r.admit(REF)).toBe('probe');
      },
      'probe.succeeded': () => r.record(REF, 'success', true),
      'probe.failed': () => r.record(REF, 'failure', true),
      'probe.silent': () => clock.increment(PROBE_TIMEOUT_MS),
      'breaker.reset': () => actor.send({ type: 'breaker.reset' }),
    },
    states: {
      '*': (expected) => {
        const real = actor.getSnapshot();
        expect(real.value).toEqual(expected.value);
        if (expected.value === 'closed') expect(r.failures(REF)).toBe(expected.context.failures);
        const admission = breakerAdmission(expected.value);
        expect(breakerAdmission(real.value)).toBe(admission);
        // the registry's view agrees with the actor's
        expect(r.state(REF)).toBe(typeof expected.value === 'string' ? expected.value : 'halfOpen');
      },
    },
  });
}

const shortest = namedPaths(model.getShortestPaths(), describeState);
const simple = namedPaths(model.getSimplePaths(), describeState);

describe('circuit breaker model: shortest paths', () => {
  it('covers every state of the model', () => {
    const reached = new Set(model.getShortestPaths({ allowDuplicatePaths: true }).map((p) => JSON.stringify(p.state.value)));
    expect(reached).toEqual(new Set(['"closed"', '"open"', '{"halfOpen":"ready"}', '{"halfOpen":"probing"}']));
  });
  for (const { name, path } of shortest) it(name, () => walk(path));
});

describe('circuit breaker model: simple paths', () => {
  for (const { name, path } of simple) it(name, () => walk(path));
});
