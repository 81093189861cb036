/**
 * The execute-task activity: one subtask on one programmer, end to end (repository, orphan sweep,
 * worktree → executor → commit → receipt; see runProgrammerTask). Runs of the same task id never
 * overlap: a run stopped mid-task (its programmer forced into FAILED, a timeout) keeps the task's
 * worktree and branch until its executor has stopped and its receipt is written, and a
 * re-dispatch waits for it instead of failing on (or later losing) the shared worktree.
 */
import type { Logger } from 'pino';
import type { TaskResult } from '../../../machines/domain.ts';
import type { ExecuteTaskInput } from '../../../machines/programmer.machine.ts';
import type { PasConfig, ResolvedProgrammer } from '../../config/load-config.ts';
import { PasError } from '../../errors.ts';
import { runProgrammerTask, type Executor, type ExecutorKindName } from '../../executors/index.ts';
import type { Journal } from '../../journal/journal.ts';
import type { LlmClient, Receipt } from '../../llm/types.ts';
import type { ReceiptWriter } from '../../llm/index.ts';
import { bookReceipt } from '../book-receipt.ts';
import type { ProgressBoard } from '../progress-board.ts';
import type { LlmSettings } from '../runtime-types.ts';
import type { OrphanSweep } from './orphan-sweep.ts';
import type { Repositories } from './repositories.ts';

export interface ExecuteTaskDeps {
  config: PasConfig;
  journal: Journal;
  llm: LlmClient;
  llmSettings: LlmSettings;
  /** The executor of a kind (native, aider, an agent CLI); throws for one this build lacks. */
  executorFor: (kind: ExecutorKindName) => Executor;
  receipts: ReceiptWriter;
  runId: string;
  workspacesDir: string;
  repositories: Repositories;
  sweep: OrphanSweep;
  logger: Logger;
  /** Where the executor's progress goes (the runtime's ProgressBoard). */
  progress?: ProgressBoard;
}

export type ExecuteTask = (input: ExecuteTaskInput, signal: AbortSignal) => Promise<TaskResult>;

export function createExecuteTask(deps: ExecuteTaskDeps): ExecuteTask {
  const { config, journal, llm, llmSettings, executorFor, receipts, runId, workspacesDir, repositories, sweep, logger, progress } = deps;
  /** The run of each task id still winding down. */
  const runs = new Map<string, Promise<unknown>>();

  /** The programmer as configured, with the LLM choice live from the settings. */
  const programmerOf = (id: string): ResolvedProgrammer => {
    const base = config.programmers.find((p) => p.id === id);
    if (!base) throw new PasError('PAS_ERR_AGENT_NOT_FOUND', `no programmer ${id}`);
    const live = llmSettings.get(id);
    const resolved: ResolvedProgrammer = { ...base, capabilities: [...base.capabilities] };
    if (live) {
      resolved.primary = live.primary;
      if (live.backup) resolved.backup = live.backup;
      else delete resolved.backup;
    }
    return resolved;
  };

  const runTask = async ({ task, programmerId }: ExecuteTaskInput, attempt: number, signal: AbortSignal): Promise<TaskResult> => {
    await sweep.afterCrash;
    const programmer = programmerOf(programmerId);
    const repo = await repositories.forTask(task);
    await sweep.before(repo);
    const sink = {
      append: async (receipt: Receipt, result: TaskResult) => {
        await bookReceipt(journal, receipts, { runId, taskId: receipt.task_id, attempt }, receipt, result);
      },
    };
    return runProgrammerTask({
      task,
      programmer,
      repo,
      workspacesDir,
      executor: executorFor(task.executor ?? programmer.executor),
      llm,
      receipts: sink,
      runId,
      signal,
      fsAllowlist: config.fsAllowlist,
      cmdAllowlist: config.cmdAllowlist,
      verifyRounds: config.pool.defaults.verify_rounds,
      log: logger.child({ agentId: programmerId, role: 'programmer', taskId: task.id }),
      ...(progress ? { onProgress: (p) => progress.report({ agentId: programmerId, jobId: task.jobId, taskId: task.id }, p) } : {}),
    });
  };

  return async (input, signal) => {
    const previous = runs.get(input.task.id);
    // The journal numbers every start of the task (the pool's task-started fact): read now, as this
    // run starts, not after waiting (by then a later start may have numbered the next attempt).
    const attempt = journal.taskAttempt(input.task.id) ?? input.task.attempt ?? 1;
    const run = (async () => {
      if (previous) await untilSettledOrAborted(previous, signal);
      return runTask(input, attempt, signal);
    })();
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    runs.set(input.task.id, settled);
    void settled.then(() => {
      if (runs.get(input.task.id) === settled) runs.delete(input.task.id);
    });
    return run;
  };
}

/** Resolves when `previous` settles, or as soon as `signal` aborts. */
function untilSettledOrAborted(previous: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void previous.then(done, done);
  });
}
