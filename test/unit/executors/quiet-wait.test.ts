import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { QuietWait } from '../../../src/executors/quiet-wait.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('QuietWait', () => {
  it('answers true once the activity paused for quietMs, each note putting it off', async () => {
    const wait = new QuietWait(150, 60_000);
    const t0 = performance.now();
    wait.note();
    const done = wait.until();
    for (let i = 0; i < 5; i++) {
      await sleep(50);
      wait.note();
    }
    const lastNote = performance.now();
    expect(await done).toBe(true);
    expect(performance.now() - lastNote).toBeGreaterThanOrEqual(140);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(380);
  });

  it('answers true at once when nothing happened lately, and after maxMs however busy', async () => {
    const idle = new QuietWait(10_000, 60_000);
    expect(await idle.until()).toBe(true);
    const busy = new QuietWait(10_000, 200);
    busy.note();
    const ticker = setInterval(() => busy.note(), 10);
    try {
      const t0 = performance.now();
      expect(await busy.until()).toBe(true);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    } finally {
      clearInterval(ticker);
    }
  });

  it('joins a second ask to the wait under way, and answers false to both when cancelled', async () => {
    const wait = new QuietWait(10_000, 60_000);
    wait.note();
    const first = wait.until();
    const second = wait.until();
    expect(second).toBe(first);
    wait.cancel();
    expect(await first).toBe(false);
    // A new ask after the cancel waits anew.
    wait.quietMs = 0;
    expect(await wait.until()).toBe(true);
  });

  it('answers false to the wait under way and to every later ask once closed', async () => {
    const wait = new QuietWait(10_000, 60_000);
    wait.note();
    const pending = wait.until();
    wait.close();
    expect(await pending).toBe(false);
    wait.quietMs = 0;
    expect(await wait.until()).toBe(false);
  });

  it('ends a wait whose setting is not a number instead of looping', async () => {
    const wait = new QuietWait(Number.NaN, Number.NaN);
    wait.note();
    expect(await wait.until()).toBe(true);
  });
});
