/**
 * Books a task attempt's receipt: once per attempt (a restart replaying the same attempt, or a
 * result redelivered, adds none again). The index row joins this tick's journal group (one fsync
 * for a burst, off the event loop) and is on disk before the receipt line is written, so a line on
 * disk always has its row and a replay never writes the line twice. The attempt's usage (its
 * agent's `usage_today`) is booked with the row, so it counts once however often the attempt's
 * result is applied. The row keeps the attempt's
 * result and line until the pool has journaled the attempt's end: a process killed in between
 * (after the line, or before it) has the line appended at its restart if it is missing
 * (receipt-lines.ts), and a completed task finished with that result (Journal.recover) instead of
 * run, and paid for, again.
 */
import type { TaskResult } from '../../machines/domain.ts';
import type { Journal } from '../journal/journal.ts';
import type { Receipt, UsageEntry } from '../llm/types.ts';
import { redactedJson } from '../redaction.ts';

export interface ReceiptKey {
  runId: string;
  taskId: string;
  attempt: number;
}

/** The usage a receipt books for its agent, on the day it finished. */
export function usageOfReceipt(receipt: Receipt): UsageEntry {
  return {
    day: receipt.finished_at.slice(0, 10),
    agentId: receipt.agent_id,
    jobId: receipt.job_id,
    taskId: receipt.task_id,
    inputTokens: receipt.tokens.input ?? 0,
    outputTokens: receipt.tokens.output ?? 0,
    costUsd: receipt.cost_usd,
  };
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
  // The attempt's usage is its agent's, booked once with its row (a result delivered again, a
  // restart that recovers the attempt, add none): usage_today is what the receipts say.
  journal.usageLedger().add(usageOfReceipt(receipt));
  await journal.synced();
  if (receipts.appendLine) await receipts.appendLine(line);
  else await receipts.append(receipt);
  return true;
}
