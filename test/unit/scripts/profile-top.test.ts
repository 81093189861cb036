/**
 * scripts/profile-top.ts: where a V8 CPU profile's samples went, by function, in a window of it.
 * A sample lasts until the next one; a function on the stack twice counts once in its total.
 */
import { describe, expect, it } from 'vitest';
import { profileTop, type CpuProfile } from '../../../scripts/profile-top.ts';

const frame = (functionName: string, line = 0) => ({ functionName, url: functionName.startsWith('(') ? '' : 'file:///repo/src/a.ts', lineNumber: line });
// root → main → { work → work (recursion), (idle) }
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5] },
    { id: 2, callFrame: frame('main', 9), children: [3] },
    { id: 3, callFrame: frame('work', 19), children: [4] },
    { id: 4, callFrame: frame('work', 19) },
    { id: 5, callFrame: frame('(idle)') },
  ],
  // Samples at 0, 1, 3, 6, 10 ms (the last one has no duration).
  samples: [3, 4, 5, 2, 5],
  timeDeltas: [0, 1_000, 2_000, 3_000, 4_000],
};

describe('profileTop', () => {
  it('gives each function its self and total time, counting a recursive one once per sample', () => {
    const top = profileTop(PROFILE, { root: '/repo' });
    expect(top.sampledUs).toBe(10_000);
    expect(Object.fromEntries(top.self)).toEqual({ 'work src/a.ts:20': 3_000, '(idle)': 3_000, 'main src/a.ts:10': 4_000 });
    expect(top.total.get('work src/a.ts:20')).toBe(3_000);
    expect(top.total.get('main src/a.ts:10')).toBe(7_000);
    expect(top.total.get('(root)')).toBe(10_000);
  });

  it('keeps only the samples that start inside the window, and slices the busy time over the whole profile', () => {
    const top = profileTop(PROFILE, { root: '/repo', fromMs: 2, toMs: 7, bucketMs: 5 });
    // Kept: the idle sample at 3 ms (3 ms long) and main's at 6 ms (4 ms long).
    expect(top.sampledUs).toBe(7_000);
    expect(Object.fromEntries(top.self)).toEqual({ '(idle)': 3_000, 'main src/a.ts:10': 4_000 });
    // Busy (not idle): work at 0 and 1 ms in slice 0, main at 6 ms in slice 1.
    expect(Object.fromEntries(top.busy)).toEqual({ 0: 3_000, 1: 4_000 });
  });

  it('names node\'s own functions by their node: address, and gives a sample recorded out of order no time', () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2] },
        { id: 2, callFrame: { functionName: 'processTimers', url: 'node:internal/timers', lineNumber: 503 } },
      ],
      samples: [2, 2, 2],
      timeDeltas: [0, 2_000, -500],
    };
    const top = profileTop(profile, { root: '/repo' });
    expect(Object.fromEntries(top.self)).toEqual({ 'processTimers node:internal/timers:504': 2_000 });
  });
});
