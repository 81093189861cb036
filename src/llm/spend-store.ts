/**
 * The daily budget ledger. The durable SQLite store lives in src/journal; this in-memory one
 * serves tests and scripts.
 */
import type { SpendStore } from './types.ts';
import { roundUsd } from './prices.ts';

const DAY_MS = 86_400_000;
/** The last day asked for (every LLM call asks; a UTC day is exactly DAY_MS in JavaScript time). */
let lastDay = { from: 1, to: 0, day: '' };

/** `YYYY-MM-DD` of a time in UTC: the key of the daily budget. */
export function utcDay(ms: number): string {
  if (ms >= lastDay.from && ms < lastDay.to) return lastDay.day;
  const from = Math.floor(ms / DAY_MS) * DAY_MS;
  const day = new Date(ms).toISOString().slice(0, 10);
  if (Number.isFinite(from)) lastDay = { from, to: from + DAY_MS, day };
  return day;
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
