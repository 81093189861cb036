/**
 * What the LLM gateway measured, per task and per job: every call PAS passed to a provider for a
 * per-task credential adds its usage (read from the provider's own answer) and its cost. The
 * task's receipt sums these, whatever the program that made the calls says it spent.
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import { addUsage } from '../../executors/executor.ts';
import { roundUsd } from '../prices.ts';

export interface CallRecord {
  jobId: string;
  taskId: string;
  programmerId: string;
  provider: string;
  model: string;
  usedBackup: boolean;
  usage: TokenUsage;
  costUsd: number;
}

export interface TaskSpend {
  calls: number;
  tokens: TokenUsage;
  costUsd: number;
  /** The model of the last call. */
  provider: string;
  model: string;
  /** Some call went to the backup model. */
  usedBackup: boolean;
}

export class CallLedger {
  private readonly tasks = new Map<string, TaskSpend>();
  private readonly jobs = new Map<string, number>();

  record(call: CallRecord): void {
    const prev = this.tasks.get(call.taskId);
    this.tasks.set(call.taskId, {
      calls: (prev?.calls ?? 0) + 1,
      tokens: prev ? addUsage(prev.tokens, call.usage) : { ...call.usage },
      costUsd: roundUsd((prev?.costUsd ?? 0) + call.costUsd),
      provider: call.provider,
      model: call.model,
      usedBackup: (prev?.usedBackup ?? false) || call.usedBackup,
    });
    if (call.costUsd > 0) this.jobs.set(call.jobId, roundUsd((this.jobs.get(call.jobId) ?? 0) + call.costUsd));
  }

  /** Adds a job's spend made outside the gateway (the native editor's in-process calls). */
  addJobSpend(jobId: string, usd: number): void {
    if (usd > 0) this.jobs.set(jobId, roundUsd((this.jobs.get(jobId) ?? 0) + usd));
  }

  task(taskId: string): TaskSpend | undefined {
    const t = this.tasks.get(taskId);
    return t ? { ...t, tokens: { ...t.tokens } } : undefined;
  }

  /** Forgets a task's calls once its receipt is written (the job's total stays). */
  forgetTask(taskId: string): void {
    this.tasks.delete(taskId);
  }

  jobSpent(jobId: string): number {
    return this.jobs.get(jobId) ?? 0;
  }
}
