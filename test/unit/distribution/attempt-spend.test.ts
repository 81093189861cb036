import { describe, expect, it } from 'vitest';
import { plusSpend, sumAttemptSpend, unnamedCalls } from '../../../src/distribution/attempt-spend.ts';

describe("a remote attempt's spend, summed from its calls", () => {
  it('is nothing when no call was booked', () => {
    expect(sumAttemptSpend([])).toBeUndefined();
  });

  it('adds cost and tokens, and takes the model of the last call that named one', () => {
    expect(
      sumAttemptSpend([
        { callId: 'c1', costUsd: 0.1, tokens: { input: 100, output: 20, cache_read: 5 }, model: 'openai/gpt-4o' },
        { callId: 'c2', costUsd: 0.2, tokens: { input: 50, output: 10 } },
      ]),
    ).toEqual({ costUsd: 0.3, tokens: { input: 150, output: 30, cache_read: 5 }, model: 'openai/gpt-4o' });
  });

  it('makes a count unknown (null, never a made-up sum) when any call did not report it, or reported no tokens at all', () => {
    expect(sumAttemptSpend([{ callId: 'c1', costUsd: 0.1, tokens: { input: 100, output: null } }, { callId: 'c2', costUsd: 0.1, tokens: { input: 5, output: 7 } }])?.tokens).toEqual({ input: 105, output: null });
    expect(sumAttemptSpend([{ callId: 'c1', costUsd: 0.1, tokens: { input: 100, output: 3 } }, { callId: 'c2', costUsd: 0.1 }])?.tokens).toEqual({ input: null, output: null });
  });

  it("sums only the calls a result does not name (an earlier run's), and adds them to a receipt in whole micro-dollars", () => {
    const calls = [
      { callId: 'c1', costUsd: 0.1, tokens: { input: 100, output: 20 } },
      { callId: 'c2', costUsd: 0.2, tokens: { input: 50, output: 10 } },
      { callId: 'c3', costUsd: 0.000001, tokens: { input: 1, output: 1 } },
    ];
    expect(unnamedCalls(calls, ['c1', 'c2', 'c3'])).toBeUndefined();
    const earlier = unnamedCalls(calls, ['c2']);
    expect(earlier).toEqual({ costUsd: 0.100001, tokens: { input: 101, output: 21 } });
    expect(plusSpend({ costUsd: 0.2, tokens: { input: 50, output: 10 } }, earlier!)).toEqual({ costUsd: 0.300001, tokens: { input: 151, output: 31 } });
    expect(plusSpend({ costUsd: 0.2, tokens: { input: null, output: 10 } }, earlier!).tokens).toEqual({ input: null, output: 31 });
  });
});
