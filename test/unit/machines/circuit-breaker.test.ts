import { afterEach, describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, type Actor } from 'xstate';
import {
  breakerAdmission,
  breakerStateOf,
  circuitBreakerMachine,
  failuresInWindow,
} from '../../../machines/circuit-breaker.machine.ts';
import { BreakerRegistry } from '../../../src/runtime/breaker-registry.ts';

const MINUTE = 60_000;
const WINDOW = 5 * MINUTE;
const COOLDOWN = 2 * MINUTE;
const PROBE_TIMEOUT = 30_000;

let clock: SimulatedClock;
let breaker: Actor<typeof circuitBreakerMachine>;

function start(threshold = 3) {
  clock = new SimulatedClock();
  breaker = createActor(circuitBreakerMachine, {
    clock,
    input: { key: 'ollama/qwen2.5-coder:7b-instruct', threshold, windowMs: WINDOW, cooldownMs: COOLDOWN, probeTimeoutMs: PROBE_TIMEOUT },
  });
  breaker.start();
  return breaker;
}

const fail = (at = clock.now(), probe = false) => breaker.send({ type: 'call.failed', at, probe, error: { code: 'PAS_ERR_LLM_SERVER', retryable: true, message: 'down' } });
const succeed = (at = clock.now(), probe = false) => breaker.send({ type: 'call.succeeded', at, probe });
const state = () => breakerStateOf(breaker.getSnapshot().value);

function tripNow() {
  fail();
  fail();
  fail();
  expect(state()).toBe('open');
}

afterEach(() => breaker?.stop());

describe('circuit breaker window arithmetic', () => {
  it('stays closed while fewer than threshold failures lie in the window', () => {
    start();
    fail(0);
    fail(MINUTE);
    expect(breaker.getSnapshot().value).toBe('closed');
    expect(breaker.getSnapshot().context.failures).toEqual([0, MINUTE]);
  });

  it('opens on the threshold-th failure inside the window and counts the trip', () => {
    start();
    fail(0);
    fail(MINUTE);
    fail(4 * MINUTE);
    const snap = breaker.getSnapshot();
    expect(snap.value).toBe('open');
    expect(snap.context.trips).toBe(1);
    expect(snap.context.openedAt).toBe(4 * MINUTE);
    expect(snap.context.lastError?.code).toBe('PAS_ERR_LLM_SERVER');
  });

  it('forgets a failure exactly window_minutes old, so three failures spread over the window boundary do not open it', () => {
    start();
    fail(0);
    fail(MINUTE);
    fail(WINDOW); // the failure at 0 is now exactly one window old and no longer counts
    expect(breaker.getSnapshot().value).toBe('closed');
    expect(breaker.getSnapshot().context.failures).toEqual([MINUTE, WINDOW]);
    fail(WINDOW + 1);
    expect(breaker.getSnapshot().value).toBe('open');
  });

  it('counts a failure one millisecond short of the window', () => {
    start();
    fail(1);
    fail(2);
    fail(WINDOW);
    expect(breaker.getSnapshot().value).toBe('open');
  });

  it('ignores successes while closed: only failures in the window matter', () => {
    start();
    fail(0);
    succeed(1);
    fail(2);
    succeed(3);
    fail(4);
    expect(breaker.getSnapshot().value).toBe('open');
  });

  it('failuresInWindow keeps only failures in (at - window, at]', () => {
    expect(failuresInWindow({ failures: [0, 10, 20, 30], windowMs: 20 }, 30)).toEqual([20, 30]);
    expect(failuresInWindow({ failures: [0, 10, 40], windowMs: 20 }, 29)).toEqual([10]);
    expect(failuresInWindow({ failures: [0, 10, 40], windowMs: 20 }, 30)).toEqual([]);
  });

  it('opens on the first failure with a threshold of one', () => {
    start(1);
    fail(0);
    expect(breaker.getSnapshot().value).toBe('open');
  });
});

describe('circuit breaker cooldown and probe', () => {
  it('stays open for the whole cooldown and ignores outcomes of calls started before it opened', () => {
    start();
    tripNow();
    clock.increment(COOLDOWN - 1);
    succeed();
    fail();
    expect(breaker.getSnapshot().value).toBe('open');
    expect(breaker.getSnapshot().context.trips).toBe(1);
  });

  it('becomes halfOpen and ready for one probe once cooldown_minutes have passed', () => {
    start();
    tripNow();
    clock.increment(COOLDOWN);
    expect(breaker.getSnapshot().value).toEqual({ halfOpen: 'ready' });
    expect(breakerAdmission(breaker.getSnapshot().value)).toBe('probe');
  });

  it('closes and forgets its failures when the probe succeeds', () => {
    start();
    tripNow();
    clock.increment(COOLDOWN);
    breaker.send({ type: 'probe.started', at: clock.now() });
    expect(breaker.getSnapshot().value).toEqual({ halfOpen: 'probing' });
    succeed(clock.now(), true);
    const snap = breaker.getSnapshot();
    expect(snap.value).toBe('closed');
    expect(snap.context.failures).toEqual([]);
    expect(snap.context.openedAt).toBeNull();
  });

  it('reopens for another cooldown when the probe fails', () => {
    start();
    tripNow();
    clock.increment(COOLDOWN);
    breaker.send({ type: 'probe.started', at: clock.now() });
    fail(clock.now(), true);
    expect(breaker.getSnapshot().value).toBe('open');
    expect(breaker.getSnapshot().context.trips).toBe(2);
    clock.increment(COOLDOWN - 1);
    expect(breaker.getSnapshot().value).toBe('open');
    clock.increment(1);
    expect(breaker.getSnapshot().value).toEqual({ halfOpen: 'ready' });
  });

  it('ignores outcomes of non-probe calls while the probe is in flight', () => {
    start();
    tripNow();
    clock.increment(COOLDOWN);
    breaker.send({ type: 'probe.started', at: clock.now() });
    succeed();
    fail();
    expect(breaker.getSnapshot().value).toEqual({ halfOpen: 'probing' });
  });

  it('treats a probe that never reports within probeTimeoutMs as a failure', () => {
    start();
    tripNow();
    clock.increment(COOLDOWN);
    breaker.send({ type: 'probe.started', at: clock.now() });
    clock.increment(PROBE_TIMEOUT - 1);
    expect(breaker.getSnapshot().value).toEqual({ halfOpen: 'probing' });
    clock.increment(1);
    expect(breaker.getSnapshot().value).toBe('open');
    expect(breaker.getSnapshot().context.trips).toBe(2);
  });

  it('reopens at the moment a probe timed out, so a whole cooldown passes before the next probe', () => {
    start();
    clock.increment(MINUTE);
    tripNow();
    expect(breaker.getSnapshot().context.openedAt).toBe(MINUTE);
    clock.increment(COOLDOWN);
    const probeAt = clock.now();
    breaker.send({ type: 'probe.started', at: probeAt });
    clock.increment(PROBE_TIMEOUT);
    expect(breaker.getSnapshot().value).toBe('open');
    expect(breaker.getSnapshot().context.openedAt).toBe(probeAt + PROBE_TIMEOUT);
    clock.increment(COOLDOWN - 1);
    expect(state()).toBe('open');
    clock.increment(1);
    expect(breaker.getSnapshot().value).toEqual({ halfOpen: 'ready' });
  });

  it('waits in halfOpen.ready for as long as no caller comes', () => {
    start();
    tripNow();
    clock.increment(COOLDOWN + 10 * MINUTE);
    expect(breaker.getSnapshot().value).toEqual({ halfOpen: 'ready' });
  });

  it('closes from any state on breaker.reset', () => {
    start();
    tripNow();
    breaker.send({ type: 'breaker.reset' });
    expect(breaker.getSnapshot().value).toBe('closed');
    expect(breaker.getSnapshot().context.failures).toEqual([]);
    // and the old cooldown timer no longer fires
    clock.increment(COOLDOWN);
    expect(breaker.getSnapshot().value).toBe('closed');
  });
});

describe('breaker state helpers', () => {
  it('maps every state value to closed, open or halfOpen and to an admission', () => {
    expect(breakerStateOf('closed')).toBe('closed');
    expect(breakerStateOf('open')).toBe('open');
    expect(breakerStateOf({ halfOpen: 'ready' })).toBe('halfOpen');
    expect(breakerStateOf({ halfOpen: 'probing' })).toBe('halfOpen');
    expect(breakerAdmission('closed')).toBe('allow');
    expect(breakerAdmission('open')).toBe('reject');
    expect(breakerAdmission({ halfOpen: 'ready' })).toBe('probe');
    expect(breakerAdmission({ halfOpen: 'probing' })).toBe('reject');
  });
});

describe('BreakerRegistry admission of calls', () => {
  const REF = 'openai/gpt-4o';
  let registry: BreakerRegistry | undefined;
  afterEach(() => registry?.stop());

  function registry3(enabled = true) {
    const c = new SimulatedClock();
    registry = new BreakerRegistry({ enabled, failureThreshold: 3, windowMs: WINDOW, cooldownMs: COOLDOWN }, () => c.now(), c);
    return { clock: c, registry };
  }

  it('changes nothing on a non-probe success in any state, so the registry does not send it', () => {
    // BreakerRegistry.record skips a non-probe success (one event less on every answered call):
    // that holds only while no state of the machine reacts to it.
    const states: Array<[string, () => void]> = [
      ['closed', () => start()],
      ['closed with failures', () => (start(), fail())],
      ['open', () => (start(), tripNow())],
      ['halfOpen.ready', () => (start(), tripNow(), clock.increment(COOLDOWN))],
      ['halfOpen.probing', () => (start(), tripNow(), clock.increment(COOLDOWN), breaker.send({ type: 'probe.started', at: clock.now() }))],
    ];
    for (const [name, reach] of states) {
      reach();
      const before = breaker.getSnapshot();
      expect(before.can({ type: 'call.succeeded', at: clock.now(), probe: false }), name).toBe(false);
      succeed();
      expect(breaker.getSnapshot().value, name).toEqual(before.value);
      expect(breaker.getSnapshot().context, name).toEqual(before.context);
      breaker.stop();
    }
    const { registry: r } = registry3();
    r.record(REF, 'failure', false);
    const sent: string[] = [];
    r.get(REF).subscribe({ next: (snap) => sent.push(JSON.stringify(snap.context.failures)) });
    r.record(REF, 'success', false);
    expect(sent).toEqual([]);
    expect(r.failures(REF)).toBe(1);
  });

  it('allows calls while closed and rejects every call while open', () => {
    const { registry: r } = registry3();
    expect(r.admit(REF)).toBe('allow');
    for (let i = 0; i < 3; i++) r.record(REF, 'failure', false);
    expect(r.state(REF)).toBe('open');
    expect(r.failures(REF)).toBe(3);
    expect([r.admit(REF), r.admit(REF), r.admit(REF)]).toEqual(['reject', 'reject', 'reject']);
  });

  it('admits exactly one probe in halfOpen and rejects every other call while it is in flight', () => {
    const { clock: c, registry: r } = registry3();
    for (let i = 0; i < 3; i++) r.record(REF, 'failure', false);
    c.increment(COOLDOWN);
    expect(r.state(REF)).toBe('halfOpen');
    const admissions = [r.admit(REF), r.admit(REF), r.admit(REF), r.admit(REF)];
    expect(admissions).toEqual(['probe', 'reject', 'reject', 'reject']);
    expect(r.get(REF).getSnapshot().value).toEqual({ halfOpen: 'probing' });
  });

  it('frees the probe slot when the probing caller gives up, so the next caller probes instead', () => {
    const { clock: c, registry: r } = registry3();
    for (let i = 0; i < 3; i++) r.record(REF, 'failure', false);
    c.increment(COOLDOWN);
    expect(r.admit(REF)).toBe('probe');
    expect(r.admit(REF)).toBe('reject');
    r.abandonProbe(REF);
    expect(r.get(REF).getSnapshot().value).toEqual({ halfOpen: 'ready' });
    expect(r.admit(REF)).toBe('probe');
    r.record(REF, 'success', true);
    expect(r.state(REF)).toBe('closed');
  });

  it('gives a probe as long as the provider itself allows a call before counting it as failed', () => {
    const c = new SimulatedClock();
    registry = new BreakerRegistry({ enabled: true, failureThreshold: 1, windowMs: WINDOW, cooldownMs: COOLDOWN, probeTimeoutMs: () => 305_000 }, () => c.now(), c);
    registry.record(REF, 'failure', false);
    c.increment(COOLDOWN);
    expect(registry.admit(REF)).toBe('probe');
    c.increment(90_000); // a slow but healthy local model: 90 s is within its 300 s timeout
    expect(registry.get(REF).getSnapshot().value).toEqual({ halfOpen: 'probing' });
    registry.record(REF, 'success', true);
    expect(registry.state(REF)).toBe('closed');
  });

  it('closes after a successful probe and allows calls again', () => {
    const { clock: c, registry: r } = registry3();
    for (let i = 0; i < 3; i++) r.record(REF, 'failure', false);
    c.increment(COOLDOWN);
    expect(r.admit(REF)).toBe('probe');
    r.record(REF, 'success', false); // an ordinary call's success does not end the probe
    expect(r.admit(REF)).toBe('reject');
    r.record(REF, 'success', true);
    expect(r.state(REF)).toBe('closed');
    expect(r.failures(REF)).toBe(0);
    expect(r.admit(REF)).toBe('allow');
  });

  it('reopens after a failed probe and admits the next probe only after another cooldown', () => {
    const { clock: c, registry: r } = registry3();
    for (let i = 0; i < 3; i++) r.record(REF, 'failure', false);
    c.increment(COOLDOWN);
    expect(r.admit(REF)).toBe('probe');
    r.record(REF, 'failure', true);
    expect(r.state(REF)).toBe('open');
    expect(r.admit(REF)).toBe('reject');
    c.increment(COOLDOWN);
    expect(r.admit(REF)).toBe('probe');
  });

  it('keeps one breaker per provider/model, shared by every caller of that model', () => {
    const { registry: r } = registry3();
    for (let i = 0; i < 3; i++) r.record(REF, 'failure', false);
    expect(r.admit(REF)).toBe('reject');
    expect(r.admit('openai/gpt-4o-mini')).toBe('allow');
    expect(r.get(REF)).toBe(r.get(REF));
  });

  it('always allows when the breaker is disabled in config', () => {
    const { registry: r } = registry3(false);
    for (let i = 0; i < 10; i++) r.record(REF, 'failure', false);
    expect(r.admit(REF)).toBe('allow');
    expect(r.state(REF)).toBe('closed');
  });
});
