/**
 * Books a task attempt's receipt: once per attempt (a restart replaying the same attempt, or a
 * result redelivered, adds none again). The index row joins this tick's journal group (one fsync
 * for a burst, off the event loop) and is on disk before the receipt line is written, so a line on
 * disk always has its row and a replay never writes the line twice.
 */
import type { Journal } from '../journal/journal.ts';
import type { Receipt } from '../llm/types.ts';

export interface ReceiptKey {
  runId: string;
  taskId: string;
  attempt: number;
}

/** Answers whether the receipt was written (false: this attempt's receipt is booked already). */
export async function bookReceipt(journal: Journal, receipts: { append(receipt: Receipt): Promise<void> | void }, key: ReceiptKey, receipt: Receipt): Promise<boolean> {
  journal.deferCommit();
  if (!journal.recordReceipt(key)) return false;
  await journal.synced();
  await receipts.append(receipt);
  return true;
}
