import { describe, expect, it } from 'vitest';
import { billableTokens, callCost } from '../../../src/llm/prices.ts';
import { createMemorySpendStore, utcDay } from '../../../src/llm/spend-store.ts';

const price = { input_per_mtok: 3, output_per_mtok: 15, cache_read_per_mtok: 0.3, cache_write_per_mtok: 3.75 };

describe('callCost', () => {
  it('bills OpenAI cached input at the cache price and does not bill reasoning twice', () => {
    expect(billableTokens('openai', { input: 1000, output: 300, thinking: 200, cache_read: 400 })).toEqual({ input: 600, cacheRead: 400, cacheWrite: 0, output: 300 });
  });

  it('bills Gemini thoughts as output', () => {
    expect(billableTokens('google', { input: 1000, output: 300, thinking: 200, cache_read: 400 })).toEqual({ input: 600, cacheRead: 400, cacheWrite: 0, output: 500 });
  });

  it('bills Anthropic input, cache read and cache write separately', () => {
    // 1000·3 + 2000·0.3 + 100·3.75 + 500·15 = 11475 µ$
    expect(callCost('anthropic', price, { input: 1000, output: 500, cache_read: 2000, cache_write: 100 })).toBe(0.011475);
  });

  it('bills cache reads at the input price when no cache price is set', () => {
    expect(callCost('openai', { input_per_mtok: 2, output_per_mtok: 8 }, { input: 1_000_000, output: 0, cache_read: 500_000 })).toBe(2);
  });

  it('rounds to 6 decimals and costs nothing for null counts', () => {
    expect(callCost('openai', { input_per_mtok: 0.15, output_per_mtok: 0.6 }, { input: 7, output: 3 })).toBe(0.000003);
    expect(callCost('anthropic', price, { input: null, output: null })).toBe(0);
  });
});

describe('createMemorySpendStore', () => {
  it('keeps a total per UTC day', () => {
    const store = createMemorySpendStore();
    store.add(utcDay(Date.parse('2025-03-01T23:59:59Z')), 0.1);
    store.add(utcDay(Date.parse('2025-03-01T00:00:00Z')), 0.2);
    store.add(utcDay(Date.parse('2025-03-02T00:00:00Z')), 0.4);
    expect(store.days()).toEqual({ '2025-03-01': 0.3, '2025-03-02': 0.4 });
    expect(() => store.add('2025-03-01', -1)).toThrow(RangeError);
  });
});

describe('utcDay', () => {
  it('names the UTC day of every instant, across day boundaries in any order', () => {
    const instants = ['2025-03-01T00:00:00.000Z', '2025-02-28T23:59:59.999Z', '2025-03-01T23:59:59.999Z', '2025-03-02T00:00:00.000Z', '2024-02-29T12:00:00.000Z', '1969-12-31T23:59:59.999Z', '1970-01-01T00:00:00.000Z', '2025-03-01T12:00:00.000Z'];
    for (const round of [0, 1]) {
      for (const iso of round === 0 ? instants : [...instants].reverse()) expect(utcDay(Date.parse(iso)), iso).toBe(iso.slice(0, 10));
    }
  });
});
