/**
 * Books a task attempt's receipt: once per attempt (a restart replaying the same attempt, or a
 * result redelivered, adds none again). The index row joins this tick's journal group (one fsync
 * for a burst, off the event loop) and is on disk before the receipt line is written, so a line on
 * disk always has its row and a replay never writes the line twice. The row keeps the attempt's
 * result: a process killed after the line but before the task's finish was journaled finishes the
 * task with it at its restart (Journal.recover) instead of running it, and paying for it, again.
 */
import type { TaskResult } from '../../machines/domain.ts';
import type { Journal } from '../journal/journal.ts';
import type { Receipt } from '../llm/types.ts';

export interface ReceiptKey {
  runId: string;
  taskId: string;
  attempt: number;
}

/** Answers whether the receipt was written (false: this attempt's receipt is booked already). */
export async function bookReceipt(journal: Journal, receipts: { append(receipt: Receipt): Promise<void> | void }, key: ReceiptKey, receipt: Receipt, result?: TaskResult): Promise<boolean> {
  journal.deferCommit();
  if (!journal.recordReceipt(key, result)) return false;
  await journal.synced();
  await receipts.append(receipt);
  return true;
}
