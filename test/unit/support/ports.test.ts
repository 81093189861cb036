/**
 * The test trees' port offsets: one this process was given is never given again, so a tree never
 * opens the ports of one closed just before (its clients may still hold kept-alive sockets there).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePortOffset } from '../../support/ports.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('freePortOffset', () => {
  it('never gives the same offset twice in one process, even when the ports are free again', async () => {
    // The same draw twice, then another: the second call must skip the offset the first one got.
    vi.spyOn(Math, 'random').mockReturnValueOnce(0.5).mockReturnValueOnce(0.5).mockReturnValueOnce(0.75);
    const first = await freePortOffset([1]);
    const second = await freePortOffset([1]);
    expect(first).toBe(100 * (100 + 250));
    expect(second).toBe(100 * (100 + 375));
  });
});
