import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HeartbeatClock } from '../../../src/distribution/heartbeat-clock.ts';

const HEARTBEAT = 100;
const OFFLINE_AFTER = 1_000;

/** A link to the broker whose round trips the test answers (or never does). */
function fakeLink() {
  const waiting: Array<{ resolve(): void; reject(e: Error): void }> = [];
  let mode: 'answer' | 'hang' | 'fail' = 'answer';
  return {
    set(m: typeof mode) {
      mode = m;
    },
    probes: () => waiting.length,
    probeBroker: vi.fn(
      () =>
        new Promise<void>((resolve, reject) => {
          if (mode === 'answer') resolve();
          else if (mode === 'fail') reject(new Error('connection disconnected'));
          else waiting.push({ resolve, reject });
        }),
    ),
    /** The broker answers every round trip still waiting. */
    answerAll() {
      for (const w of waiting.splice(0)) w.resolve();
    },
  };
}

function clockOn(link: ReturnType<typeof fakeLink>) {
  const offline: Array<[string, number]> = [];
  const cutOffs: Array<[boolean, string]> = [];
  const clock = new HeartbeatClock({
    heartbeatMs: HEARTBEAT,
    offlineAfterMs: OFFLINE_AFTER,
    probeBroker: link.probeBroker,
    probeTimeoutMs: OFFLINE_AFTER,
    now: () => Date.now(),
    onOffline: (worker, silentMs) => offline.push([worker, silentMs]),
    onCutOff: (cutOff, why) => cutOffs.push([cutOff, why]),
  });
  /** Runs the clock's checks, as its timer does, for `ms`; `beating` workers heartbeat meanwhile. */
  const run = async (ms: number, beating: string[] = []) => {
    for (let t = 0; t < ms; t += clock.checkEveryMs) {
      await vi.advanceTimersByTimeAsync(clock.checkEveryMs);
      for (const w of beating) clock.beat(w, 1);
      void clock.check();
    }
    await vi.advanceTimersByTimeAsync(0);
  };
  return { clock, offline, cutOffs, run };
}

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe('the heartbeat clock (when the central process may call a worker offline)', () => {
  it('declares a worker silent past offline_after_ms offline once the broker answers a round trip, and only that worker', async () => {
    const link = fakeLink();
    const { clock, offline, cutOffs, run } = clockOn(link);
    clock.beat('w1', 1);
    clock.beat('w2', 2);
    await run(OFFLINE_AFTER + 3 * HEARTBEAT, ['w2']);
    expect(offline.map(([w]) => w)).toEqual(['w1']);
    expect(offline[0]![1]).toBeGreaterThan(OFFLINE_AFTER);
    expect(link.probeBroker).toHaveBeenCalled();
    expect(clock.isOnline('w1')).toBe(false);
    expect(clock.onlineWorkers()).toEqual(['w2']);
    expect(cutOffs).toEqual([]);
    // Declared once, not on every later check.
    await run(OFFLINE_AFTER, ['w2']);
    expect(offline).toHaveLength(1);
  });

  it('declares nobody while the round trip to the broker hangs, however long every worker stays silent', async () => {
    const link = fakeLink();
    const { clock, offline, cutOffs, run } = clockOn(link);
    clock.beat('w1', 1);
    clock.beat('w2', 2);
    link.set('hang');
    await run(OFFLINE_AFTER * 10);
    expect(offline).toEqual([]);
    expect(clock.onlineWorkers()).toEqual(['w1', 'w2']);
    expect(cutOffs).toEqual([[true, `no answer from the broker within ${OFFLINE_AFTER} ms`]]);
    // It keeps asking now and then, not on every check.
    expect(link.probeBroker.mock.calls.length).toBeGreaterThan(1);
    expect(link.probeBroker.mock.calls.length).toBeLessThan(20);
  });

  it('starts every worker\'s clock again when the broker answers late: a worker is declared only after a full offline_after_ms of silence after that', async () => {
    const link = fakeLink();
    const { clock, offline, cutOffs, run } = clockOn(link);
    clock.beat('w1', 1);
    clock.beat('w2', 2);
    link.set('hang');
    await run(OFFLINE_AFTER * 4);
    link.set('answer');
    link.answerAll();
    await vi.advanceTimersByTimeAsync(0);
    expect(cutOffs.map(([c]) => c)).toEqual([true, false]);
    // w2 heartbeats again over the healed link; w1 stays silent.
    await run(OFFLINE_AFTER - 3 * HEARTBEAT, ['w2']);
    expect(offline).toEqual([]);
    await run(6 * HEARTBEAT, ['w2']);
    expect(offline.map(([w]) => w)).toEqual(['w1']);
    expect(offline[0]![1]).toBeLessThan(2 * OFFLINE_AFTER);
  });

  it('counts a round trip that fails (its connection dropped) as no answer, and judges nobody until the client reconnects', async () => {
    const link = fakeLink();
    const { clock, offline, cutOffs, run } = clockOn(link);
    clock.beat('w1', 1);
    link.set('fail');
    await run(OFFLINE_AFTER + 3 * HEARTBEAT);
    expect(offline).toEqual([]);
    expect(cutOffs[0]).toEqual([true, 'the round trip to the broker failed']);
    clock.disconnected();
    link.set('answer');
    await run(OFFLINE_AFTER * 3);
    expect(offline).toEqual([]);
    clock.reconnected();
    expect(cutOffs.at(-1)).toEqual([false, 'the NATS client reconnected']);
    await run(OFFLINE_AFTER - 3 * HEARTBEAT);
    expect(offline).toEqual([]);
    await run(6 * HEARTBEAT);
    expect(offline.map(([w]) => w)).toEqual(['w1']);
  });

  it('judges nobody on the check after this process stalled, so heartbeats queued behind the stall are read first', async () => {
    const link = fakeLink();
    const { clock, offline } = clockOn(link);
    clock.beat('w1', 1);
    // The event loop was blocked past offline_after_ms: the first check afterwards only notes it.
    vi.setSystemTime(Date.now() + OFFLINE_AFTER * 3);
    await clock.check();
    expect(offline).toEqual([]);
    expect(link.probeBroker).not.toHaveBeenCalled();
    clock.beat('w1', 1);
    await vi.advanceTimersByTimeAsync(clock.checkEveryMs);
    await clock.check();
    expect(offline).toEqual([]);
  });
  it('keeps when each process of a worker id was last heard, so a restart (the old one silent) is told from a second process (both beating), also when both have pid 1', async () => {
    const { clock } = clockOn(fakeLink());
    clock.beat('w1', 1, '1/a');
    const first = clock.lastBeatOf('w1', '1/a')!;
    await vi.advanceTimersByTimeAsync(HEARTBEAT);
    clock.beat('w1', 1, '1/b');
    expect(clock.lastBeatOf('w1', '1/a')).toBe(first);
    expect(clock.lastBeatOf('w1', '1/b')).toBe(first + HEARTBEAT);
    await vi.advanceTimersByTimeAsync(HEARTBEAT);
    clock.beat('w1', 1, '1/a');
    expect(clock.lastBeatOf('w1', '1/a')).toBe(first + 2 * HEARTBEAT);
    expect(clock.lastBeatOf('w1', '1/c')).toBeUndefined();
    expect(clock.lastBeatOf('w2', '1/a')).toBeUndefined();
    // Without an identity of its own (an older worker), a process is its pid.
    clock.beat('w3', 7);
    expect(clock.lastBeatOf('w3', '7')).toBe(first + 2 * HEARTBEAT);
  });
});
