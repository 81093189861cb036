/**
 * At a restart, before the journal is recovered: an in-process attempt that the killed process was
 * running, and that made paid model calls, gets its receipt now. Its calls are in the day's spend
 * (each was journaled with its attempt as it was charged, SpendStore.addForTask); without this
 * receipt they would be on none, since the attempt never ended. The receipt says the attempt was
 * cut off (failed, PAS_ERR_TASK_INTERRUPTED) and what its paid calls cost and used; its usage
 * counts for its programmer, as every receipt's does. Booked like any receipt (the index row with
 * its result and line, then the line, receipt-lines.ts): recovery then takes the failed result and
 * runs the task again, or reports it interrupted. A free model's calls are not kept: an attempt
 * that made only those gets no receipt, as before.
 */
import type { TaskResult } from '../../machines/domain.ts';
import { codedError } from '../../machines/error-codes.ts';
import { splitModelRef } from '../config/load-config.ts';
import { sumAttemptSpend } from '../distribution/attempt-spend.ts';
import type { Journal } from '../journal/journal.ts';
import type { Receipt } from '../llm/types.ts';
import { redactedJson } from '../redaction.ts';
import { usageOfReceipt } from './book-receipt.ts';

/** Books the receipts of the running attempts the last process was killed in; answers their task ids. */
export function bookInterruptedAttempts(journal: Journal, runId: string, now: Date): string[] {
  const booked: string[] = [];
  for (const task of journal.runningTasks()) {
    if (journal.hasReceipt(task.id, task.attempt)) continue;
    const spent = sumAttemptSpend(journal.localAttemptCalls(task.id, task.attempt));
    if (!spent) continue;
    const finishedAt = now.toISOString();
    const startedAt = task.startedAt ?? finishedAt;
    const ref = spent.model !== undefined ? splitModelRef(spent.model) : undefined;
    const agentId = task.programmerId ?? task.spec.pin ?? '';
    const error = codedError('PAS_ERR_TASK_INTERRUPTED', `task ${task.id} attempt ${task.attempt} was cut off: the process running it stopped (killed) before it ended; its paid model calls are on this receipt`, { taskId: task.id, attempt: task.attempt });
    const receipt: Receipt = {
      run_id: runId,
      job_id: task.jobId,
      task_id: task.id,
      agent_id: agentId,
      provider: ref?.provider ?? null,
      model: ref?.model ?? null,
      used_backup: false,
      status: 'failed',
      error,
      tokens: spent.tokens,
      cost_usd: spent.costUsd,
      duration_ms: Math.max(0, Date.parse(finishedAt) - Date.parse(startedAt)),
      kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 },
      started_at: startedAt,
      finished_at: finishedAt,
    };
    const result: TaskResult = { taskId: task.id, jobId: task.jobId, programmerId: agentId, status: 'failed', error, tokens: spent.tokens, costUsd: spent.costUsd, ...(ref ? { provider: ref.provider, model: ref.model } : {}) };
    if (journal.recordReceiptNow({ runId, taskId: task.id, attempt: task.attempt }, { result, line: redactedJson(receipt) }, usageOfReceipt(receipt))) booked.push(task.id);
  }
  return booked;
}
