/** The LLM gateway's write-behind spend: pending amounts count at once, and each task's call is booked with its task. */
import { describe, expect, it } from 'vitest';
import { BatchedSpend } from '../../../src/llm/gateway/batched-spend.ts';
import type { SpendStore, TaskCallSpend } from '../../../src/llm/types.ts';

function store(withTasks: boolean) {
  const days = new Map<string, number>();
  const calls: Array<{ day: string; usd: number; call: TaskCallSpend }> = [];
  const s: SpendStore = {
    spent: (day) => days.get(day) ?? 0,
    add: (day, usd) => void days.set(day, (days.get(day) ?? 0) + usd),
    ...(withTasks
      ? {
          addForTask: (day: string, usd: number, call: TaskCallSpend) => {
            calls.push({ day, usd, call });
            days.set(day, (days.get(day) ?? 0) + usd);
          },
        }
      : {}),
  };
  return { s, days, calls };
}

describe('BatchedSpend', () => {
  it("counts a task's pending call in the day's spend at once and books it with its task when it writes", () => {
    const target = store(true);
    const spend = new BatchedSpend(target.s, 60_000);
    spend.add('2026-03-01', 0.5);
    spend.addForTask('2026-03-01', 0.25, { taskId: 't1', tokens: { input: 10, output: 2 }, model: 'openai/gpt-4o' });
    spend.addForTask('2026-03-02', 1, { taskId: 't2' });
    expect(spend.spent('2026-03-01')).toBe(0.75);
    expect(target.calls).toEqual([]);
    spend.flush();
    expect(target.calls).toEqual([
      { day: '2026-03-01', usd: 0.25, call: { taskId: 't1', tokens: { input: 10, output: 2 }, model: 'openai/gpt-4o' } },
      { day: '2026-03-02', usd: 1, call: { taskId: 't2' } },
    ]);
    expect(spend.spent('2026-03-01')).toBe(0.75);
    expect(spend.spent('2026-03-02')).toBe(1);
  });

  it("books a task's call as plain spend where the store keeps no calls (a worker's cluster gate)", () => {
    const target = store(false);
    const spend = new BatchedSpend(target.s, 60_000);
    spend.addForTask('2026-03-01', 0.25, { taskId: 't1' });
    spend.flush();
    expect(target.days.get('2026-03-01')).toBe(0.25);
  });
});
