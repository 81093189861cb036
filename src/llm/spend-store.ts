/**
 * The daily budget ledger. The durable SQLite store lives in src/journal; this in-memory one
 * serves tests and scripts.
 */
import type { SpendStore } from './types.ts';
import { roundUsd } from './prices.ts';

/** `YYYY-MM-DD` of a time in UTC: the key of the daily budget. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export interface MemorySpendStore extends SpendStore {
  /** Every day's total, for assertions. */
  days(): Record<string, number>;
}

export function createMemorySpendStore(initial: Record<string, number> = {}): MemorySpendStore {
  const totals = new Map<string, number>(Object.entries(initial));
  return {
    spent: (day) => totals.get(day) ?? 0,
    add: (day, usd) => {
      if (!Number.isFinite(usd) || usd < 0) throw new RangeError(`spend must be a non-negative number, got ${usd}`);
      totals.set(day, roundUsd((totals.get(day) ?? 0) + usd));
    },
    days: () => Object.fromEntries(totals),
  };
}
