/**
 * In-process services for runtime tests that are about orchestration, not editing: tasks
 * "run" for a fixed time and succeed, plans are one subtask per file, merges take everything.
 * Real executors are tested against real git repositories elsewhere.
 */
import type { TaskResult } from '../../machines/domain.ts';
import type { RuntimeServices } from '../../src/runtime/create-runtime.ts';

export interface InProcessOptions {
  taskMs?: number;
  /** Decide a task's result (default: completed). */
  outcome?: (taskId: string, programmerId: string) => Partial<TaskResult> | 'hang';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

export function inProcessServices(options: InProcessOptions = {}): RuntimeServices & { started: Array<{ taskId: string; programmerId: string }> } {
  const started: Array<{ taskId: string; programmerId: string }> = [];
  return {
    started,
    async executeTask({ task, programmerId }, signal) {
      started.push({ taskId: task.id, programmerId });
      const decided = options.outcome?.(task.id, programmerId);
      if (decided === 'hang') await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
      await sleep(options.taskMs ?? 20, signal);
      return {
        taskId: task.id,
        jobId: task.jobId,
        programmerId,
        status: 'completed',
        provider: 'scripted',
        model: 'scripted',
        usedBackup: false,
        tokens: { input: 100, output: 20 },
        costUsd: 0,
        kpi: { files_changed: task.files.length, lines_added: 1, lines_removed: 0 },
        ...(decided && decided !== 'hang' ? decided : {}),
      };
    },
    async planJob({ job }) {
      const files = job.files && job.files.length > 0 ? job.files : ['README.md'];
      return { planner: 'fallback', subtasks: files.map((file, i) => ({ id: `${job.id}-t${i + 1}`, instruction: `${job.task} (${file})`, files: [file] })) };
    },
    async mergeJob({ job, results }) {
      return { mergedBranch: `pas/job-${job.id}`, merged: results.map((r) => r.taskId), conflicts: [] };
    },
    async classifyLane() {
      return { lane: 'Code' };
    },
  };
}
