/**
 * Books a task attempt's receipt: once per attempt (a restart replaying the same attempt, or a
 * result redelivered, adds none again). The index row joins this tick's journal group (one fsync
 * for a burst, off the event loop) and is on disk before the receipt line is written, so a line on
 * disk always has its row and a replay never writes the line twice. The row keeps the attempt's
 * result and line until the pool has journaled the attempt's end: a process killed in between
 * (after the line, or before it) has the line appended at its restart if it is missing
 * (receipt-lines.ts), and a completed task finished with that result (Journal.recover) instead of
 * run, and paid for, again.
 */
import type { TaskResult } from '../../machines/domain.ts';
import type { Journal } from '../journal/journal.ts';
import type { Receipt } from '../llm/types.ts';
import { redactedJson } from '../redaction.ts';

export interface ReceiptKey {
  runId: string;
  taskId: string;
  attempt: number;
}

/** Answers whether the receipt was written (false: this attempt's receipt is booked already). */
export async function bookReceipt(
  journal: Journal,
  receipts: { append(receipt: Receipt): Promise<void> | void; appendLine?(json: string): Promise<void> | void },
  key: ReceiptKey,
  receipt: Receipt,
  result?: TaskResult,
): Promise<boolean> {
  journal.deferCommit();
  // Serialized once: the row keeps exactly the line the file gets.
  const line = redactedJson(receipt);
  if (!journal.recordReceipt(key, result ? { result, line } : undefined)) return false;
  await journal.synced();
  if (receipts.appendLine) await receipts.appendLine(line);
  else await receipts.append(receipt);
  return true;
}
