/**
 * Books a task attempt's receipt: once per attempt (a restart replaying the same attempt, or a
 * result redelivered, adds none again). The index row joins this tick's journal group (one fsync
 * for a burst, off the event loop) and is on disk before the receipt line is written, so a line on
 * disk always has its row and a replay never writes the line twice.
 *
 * The row can be started before the receipt is known (`startBooking`, once the task's end is near:
 * its commit made, its branch next), so its fsync runs while the task's last step does; the line
 * follows with `bookReceipt(…, started)` whatever that step's outcome.
 */
import type { Journal } from '../journal/journal.ts';
import type { Receipt } from '../llm/types.ts';

export interface ReceiptKey {
  runId: string;
  taskId: string;
  attempt: number;
}

/** Records the attempt's index row; resolves once it is on disk: true, or false when it was booked already (nothing written). */
export function startBooking(journal: Journal, key: ReceiptKey): Promise<boolean> {
  journal.deferCommit();
  if (!journal.recordReceipt(key)) return Promise.resolve(false);
  return journal.synced().then(() => true);
}

/** Answers whether the receipt was written (false: this attempt's receipt is booked already). `started`: its row, from startBooking. */
export async function bookReceipt(journal: Journal, receipts: { append(receipt: Receipt): Promise<void> | void }, key: ReceiptKey, receipt: Receipt, started?: Promise<boolean>): Promise<boolean> {
  if (!(await (started ?? startBooking(journal, key)))) return false;
  await receipts.append(receipt);
  return true;
}
