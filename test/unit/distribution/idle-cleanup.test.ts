import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IdleCleanup } from '../../../src/distribution/idle-cleanup.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('clean-ups deferred until the central process is idle', () => {
  it('wait while work keeps arriving and run once none came for idleMs', async () => {
    const cleanup = new IdleCleanup(200, 100);
    const ran: string[] = [];
    cleanup.later(async () => void ran.push('a'));
    await vi.advanceTimersByTimeAsync(150);
    cleanup.busy();
    cleanup.later(async () => void ran.push('b'));
    await vi.advanceTimersByTimeAsync(150);
    expect(ran).toEqual([]);
    await vi.advanceTimersByTimeAsync(60);
    expect(ran).toEqual(['a', 'b']);
  });

  it('run at once when too many wait, and stop runs the rest', async () => {
    const cleanup = new IdleCleanup(200, 3);
    const ran: number[] = [];
    for (const n of [1, 2]) cleanup.later(async () => void ran.push(n));
    expect(ran).toEqual([]);
    cleanup.later(async () => void ran.push(3));
    await vi.advanceTimersByTimeAsync(0);
    expect(ran).toEqual([1, 2, 3]);
    cleanup.later(async () => void ran.push(4));
    await cleanup.stop(1_000);
    expect(ran).toEqual([1, 2, 3, 4]);
  });

  it('a clean-up that fails or never ends holds back neither the others nor a stop past its time', async () => {
    const cleanup = new IdleCleanup(200, 100);
    const ran: string[] = [];
    cleanup.later(() => Promise.reject(new Error('broker away')));
    cleanup.later(() => new Promise(() => undefined));
    cleanup.later(async () => void ran.push('after'));
    const stopped = cleanup.stop(500);
    await vi.advanceTimersByTimeAsync(500);
    await stopped;
    expect(ran).toEqual(['after']);
  });
});
