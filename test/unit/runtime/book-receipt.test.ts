import { describe, expect, it } from 'vitest';
import type { Journal } from '../../../src/journal/journal.ts';
import type { Receipt } from '../../../src/llm/types.ts';
import { bookReceipt } from '../../../src/runtime/book-receipt.ts';

/** A journal whose group fsync the test finishes by hand. */
function journalWithManualSync() {
  const steps: string[] = [];
  const rows = new Set<string>();
  let finish!: () => void;
  const journal = {
    deferCommit: () => steps.push('group'),
    recordReceipt: (k: { runId: string; taskId: string; attempt: number }) => {
      const key = `${k.runId} ${k.taskId} ${k.attempt}`;
      if (rows.has(key)) return false;
      rows.add(key);
      steps.push('row');
      return true;
    },
    usageLedger: () => ({ add: (e: { agentId: string; costUsd: number }) => steps.push(`usage ${e.agentId} ${e.costUsd}`) }),
    synced: () => new Promise<void>((resolve) => (finish = () => (steps.push('on disk'), resolve()))),
  } as unknown as Journal;
  return { journal, steps, finish: () => finish() };
}

describe('bookReceipt', () => {
  it('writes the receipt line only once its index row and the attempt\'s usage are on disk, and each once per attempt (a result delivered again books neither)', async () => {
    const { journal, steps, finish } = journalWithManualSync();
    const lines: Receipt[] = [];
    const receipts = { append: (r: Receipt) => void (steps.push('line'), lines.push(r)) };
    const receipt = { task_id: 't1', job_id: 'j1', agent_id: 'Prog-004', status: 'failed', tokens: { input: 690, output: 43 }, cost_usd: 0.002156, finished_at: '2026-03-01T12:00:00.000Z' } as unknown as Receipt;
    const first = bookReceipt(journal, receipts, { runId: 'r', taskId: 't1', attempt: 1 }, receipt);
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual([]);
    finish();
    expect(await first).toBe(true);
    expect(steps).toEqual(['group', 'row', 'usage Prog-004 0.002156', 'on disk', 'line']);
    expect(await bookReceipt(journal, receipts, { runId: 'r', taskId: 't1', attempt: 1 }, receipt)).toBe(false);
    expect(lines).toHaveLength(1);
    expect(steps.filter((s) => s.startsWith('usage'))).toHaveLength(1);
  });
});
