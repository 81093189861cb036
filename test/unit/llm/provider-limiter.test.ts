import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProviderLimiter } from '../../../src/llm/gateway/provider-limiter.ts';

describe('ProviderLimiter (AIMD per provider)', () => {
  let now = 0;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 0;
  });
  afterEach(() => vi.useRealTimers());
  const clock = () => now;
  const advance = async (ms: number) => {
    now += ms;
    await vi.advanceTimersByTimeAsync(ms);
  };

  it('lets calls in up to the limit, holds the next one until a slot frees, and reports saturation while it waits', async () => {
    const limiter = new ProviderLimiter({ initial: 2, staggerMs: 0 }, clock);
    const facts: string[] = [];
    limiter.onSaturation((p, s) => facts.push(`${p}:${s ? 'saturated' : 'available'}`));
    const a = await limiter.acquire('anthropic');
    await limiter.acquire('anthropic');
    let third = false;
    const pending = limiter.acquire('anthropic').then((slot) => {
      third = true;
      return slot;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    expect(limiter.viewOf('anthropic')).toMatchObject({ limit: 2, in_flight: 2, waiting: 1, saturated: true });
    a.release('ok');
    await pending;
    expect(third).toBe(true);
    expect(facts).toEqual(['anthropic:saturated', 'anthropic:available']);
    // Other providers are not affected.
    expect(limiter.isSaturated('openai')).toBe(false);
  });

  it('halves the limit on a throttle and adds back about one per limit-many answered calls', async () => {
    const limiter = new ProviderLimiter({ initial: 8, staggerMs: 0 }, clock);
    (await limiter.acquire('p')).release('throttled');
    expect(limiter.viewOf('p').limit).toBe(4);
    (await limiter.acquire('p')).release('throttled');
    expect(limiter.viewOf('p').limit).toBe(2);
    for (let i = 0; i < 4; i++) (await limiter.acquire('p')).release('ok');
    expect(limiter.viewOf('p').limit).toBe(3);
    (await limiter.acquire('p')).release('failed');
    expect(limiter.viewOf('p').limit).toBe(3);
    for (let i = 0; i < 20; i++) (await limiter.acquire('p')).release('throttled');
    expect(limiter.viewOf('p').limit).toBe(1);
  });

  it('pauses a provider until retry-after passes, then staggers the waiting calls instead of starting them together', async () => {
    const limiter = new ProviderLimiter({ initial: 8, staggerMs: 100 }, clock);
    const facts: boolean[] = [];
    limiter.onSaturation((_p, s) => facts.push(s));
    (await limiter.acquire('p')).release('throttled', 1000);
    expect(limiter.viewOf('p')).toMatchObject({ limit: 4, saturated: true });
    expect(limiter.viewOf('p').paused_until).not.toBeNull();
    const started: number[] = [];
    const waiters = [0, 1, 2].map(() => limiter.acquire('p').then((slot) => {
      started.push(now);
      return slot;
    }));
    await advance(999);
    expect(started).toEqual([]);
    await advance(1);
    expect(started).toEqual([1000]);
    await advance(100);
    await advance(100);
    expect(started).toEqual([1000, 1100, 1200]);
    for (const w of waiters) (await w).release('ok');
    expect(facts).toEqual([true, false]);
  });

  it('ends the saturation of a pause even when nobody is waiting', async () => {
    const limiter = new ProviderLimiter({ initial: 4, staggerMs: 0 }, clock);
    (await limiter.acquire('p')).release('throttled', 500);
    expect(limiter.isSaturated('p')).toBe(true);
    await advance(500);
    expect(limiter.isSaturated('p')).toBe(false);
  });

  it('drops a waiting call whose caller gave up', async () => {
    const limiter = new ProviderLimiter({ initial: 1, staggerMs: 0 }, clock);
    const held = await limiter.acquire('p');
    const controller = new AbortController();
    const waiting = limiter.acquire('p', controller.signal);
    controller.abort(new Error('caller left'));
    await expect(waiting).rejects.toThrow('caller left');
    expect(limiter.viewOf('p')).toMatchObject({ waiting: 0, saturated: false });
    held.release('ok');
    expect(limiter.viewOf('p').in_flight).toBe(0);
  });

  it('hands a free slot over at once and refuses one (for acquire to wait) at the limit, in a pause, while staggering or with calls waiting', async () => {
    const limiter = new ProviderLimiter({ initial: 2, staggerMs: 100 }, clock);
    const a = limiter.tryAcquire('p')!;
    const b = limiter.tryAcquire('p')!;
    expect(limiter.viewOf('p')).toMatchObject({ in_flight: 2, waiting: 0, saturated: false });
    expect(limiter.tryAcquire('p')).toBeUndefined();
    const waiting = limiter.acquire('p');
    a.release('ok');
    // The waiting call goes first: a free slot is not taken past it.
    expect(limiter.tryAcquire('p')).toBeUndefined();
    (await waiting).release('ok');
    b.release('throttled', 1000);
    expect(limiter.tryAcquire('p')).toBeUndefined();
    await advance(1000);
    const c = limiter.tryAcquire('p');
    expect(c).toBeDefined();
    // Recovering from the throttle: the next start is staggered.
    expect(limiter.tryAcquire('p')).toBeUndefined();
    await advance(100);
    expect(limiter.viewOf('p').in_flight).toBe(1);
    c!.release('ok');
    expect(limiter.tryAcquire('p')).toBeDefined();
  });
});
