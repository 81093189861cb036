/** An in-process attempt a kill cut off after paid model calls: its receipt is booked at the restart. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openJournal, type Journal } from '../../../src/journal/journal.ts';
import { bookInterruptedAttempts } from '../../../src/runtime/interrupted-receipts.ts';

let dir: string;
let journal: Journal;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pas-interrupted-'));
  journal = openJournal(path.join(dir, 'pas.db'));
  journal.acceptJob({ id: 'j1', task: 'x', lane: 'Code', files: ['a.js', 'b.js', 'c.js'], submittedAt: '2026-03-01T10:00:00.000Z' });
  for (const id of ['t1', 't2', 't3']) journal.startTask({ id, jobId: 'j1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: `edit for ${id}`, files: ['a.js'] }, `Prog-00${id.slice(1)}`, 1);
});
afterEach(() => {
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('bookInterruptedAttempts', () => {
  it('books for a running attempt that made paid calls a failed PAS_ERR_TASK_INTERRUPTED receipt with their cost, tokens and model, and its usage; none for one without paid calls, nor twice', () => {
    const spend = journal.spendStore();
    const day = new Date().toISOString().slice(0, 10);
    spend.addForTask!(day, 0.00615, { taskId: 't1', tokens: { input: 1200, output: 340 }, model: 'openai/gpt-4o' });
    spend.addForTask!(day, 0.001, { taskId: 't1', tokens: { input: 100, output: 40 }, model: 'openai/gpt-4o' });
    // t2's attempt already has its receipt (killed between it and the pool's end): nothing more.
    spend.addForTask!(day, 0.5, { taskId: 't2', tokens: { input: 1, output: 1 }, model: 'openai/gpt-4o' });
    journal.recordReceipt({ runId: 'run-old', taskId: 't2', attempt: 1 }, { result: { taskId: 't2', jobId: 'j1', programmerId: 'Prog-002', status: 'failed' }, line: '{"task_id":"t2"}' });

    expect(bookInterruptedAttempts(journal, 'run-new', new Date(`${day}T12:00:00.000Z`))).toEqual(['t1']);
    const lines = journal.bookedReceiptLines().filter((b) => b.runId === 'run-new');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!.line)).toMatchObject({
      run_id: 'run-new',
      job_id: 'j1',
      task_id: 't1',
      agent_id: 'Prog-001',
      provider: 'openai',
      model: 'gpt-4o',
      status: 'failed',
      error: { code: 'PAS_ERR_TASK_INTERRUPTED', details: { taskId: 't1', attempt: 1 } },
      tokens: { input: 1300, output: 380 },
      cost_usd: 0.00715,
      finished_at: `${day}T12:00:00.000Z`,
    });
    expect(journal.usageLedger().usage(day, 'Prog-001')).toEqual({ tasks: 1, input_tokens: 1300, output_tokens: 380, cost_usd: 0.00715 });
    expect(journal.usageLedger().usage(day, 'Prog-003').tasks).toBe(0);
    // Recovery takes its failed result: the task runs again as a new attempt.
    expect(journal.recover({ mode: 'requeue' }).tasks.map((t) => [t.id, t.status])).toEqual([
      ['t1', 'queued'],
      ['t2', 'queued'],
      ['t3', 'queued'],
    ]);
    expect(bookInterruptedAttempts(journal, 'run-newer', new Date())).toEqual([]);
  });
});
