/**
 * In-process services (test/support/in-process-services.ts) whose every attempt books its receipt
 * in the runtime's journal as the real execute-task does (book-receipt.ts: the index row, the
 * attempt's usage with it), the line kept in `lines` instead of a file: for tests of what the
 * runtime counts from receipts (usage_today) without running executors.
 */
import type { Receipt } from '../../src/llm/types.ts';
import { bookReceipt } from '../../src/runtime/book-receipt.ts';
import type { RuntimeServices, ServiceContext } from '../../src/runtime/runtime-types.ts';

export function receiptedServices<S extends RuntimeServices>(services: S): ((ctx: ServiceContext) => S) & { lines: Receipt[] } {
  const lines: Receipt[] = [];
  const factory = (ctx: ServiceContext): S => ({
    ...services,
    async executeTask(input, signal) {
      const attempt = ctx.journal.taskAttempt(input.task.id) ?? input.task.attempt ?? 1;
      const startedAt = ctx.now().toISOString();
      const result = await services.executeTask(input, signal);
      const receipt: Receipt = {
        run_id: ctx.runId,
        job_id: result.jobId,
        task_id: result.taskId,
        agent_id: result.programmerId || input.programmerId,
        provider: result.provider ?? null,
        model: result.model ?? null,
        used_backup: result.usedBackup ?? false,
        status: result.status,
        ...(result.error ? { error: result.error } : {}),
        tokens: result.tokens ?? { input: null, output: null },
        cost_usd: result.costUsd ?? 0,
        duration_ms: result.durationMs ?? 0,
        kpi: result.kpi ?? { files_changed: 0, lines_added: 0, lines_removed: 0 },
        started_at: startedAt,
        finished_at: ctx.now().toISOString(),
      };
      await bookReceipt(ctx.journal, { append: (r) => void lines.push(r) }, { runId: ctx.runId, taskId: input.task.id, attempt }, receipt, result);
      return result;
    },
  });
  return Object.assign(factory, { lines });
}
