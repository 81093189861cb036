/**
 * Live progress of running tasks (a coding agent's tool calls, file changes, commands, retries,
 * messages): executors report here; the feed publishes each one as a `progress` message
 * (CONTRACT §5 versioning: `{"v":1,"type":"progress","seq",…}`), and the newest few per task
 * are kept for `GET /api/jobs/{id}` and `pas status JOB`. Secret values are scrubbed on the way in.
 */
import type { TaskProgress } from '../executors/executor.ts';
import { redactValue } from '../redaction.ts';

/** One progress message as the feed sends it (the hub stamps `seq`). */
export interface ProgressRecord extends TaskProgress {
  v: 1;
  type: 'progress';
  seq: number;
  ts: string;
  agentId: string;
  role: 'programmer';
  jobId: string;
  taskId: string;
}

export type ProgressInput = Omit<ProgressRecord, 'v' | 'type' | 'seq'>;

export interface ProgressBoardOptions {
  /** Newest entries kept per task. */
  perTask?: number;
  /** Tasks remembered (oldest forgotten first). */
  maxTasks?: number;
  now?: () => Date;
  env?: NodeJS.ProcessEnv;
}

export class ProgressBoard {
  private readonly perTask: number;
  private readonly maxTasks: number;
  private readonly now: () => Date;
  private readonly env: NodeJS.ProcessEnv;
  private readonly byTask = new Map<string, ProgressInput[]>();
  private readonly listeners = new Set<(entry: ProgressInput) => void>();

  constructor(options: ProgressBoardOptions = {}) {
    this.perTask = Math.max(1, options.perTask ?? 20);
    this.maxTasks = Math.max(1, options.maxTasks ?? 2_000);
    this.now = options.now ?? (() => new Date());
    this.env = options.env ?? process.env;
  }

  report(where: { agentId: string; jobId: string; taskId: string }, progress: TaskProgress): ProgressInput {
    const entry = redactValue({ ...progress, ts: this.now().toISOString(), agentId: where.agentId, role: 'programmer' as const, jobId: where.jobId, taskId: where.taskId }, this.env);
    let list = this.byTask.get(where.taskId);
    if (!list) {
      list = [];
      this.byTask.set(where.taskId, list);
      if (this.byTask.size > this.maxTasks) this.byTask.delete(this.byTask.keys().next().value!);
    }
    list.push(entry);
    if (list.length > this.perTask) list.splice(0, list.length - this.perTask);
    for (const listener of this.listeners) listener(entry);
    return entry;
  }

  /** The newest entries of a task, oldest first. */
  recent(taskId: string, limit = this.perTask): ProgressInput[] {
    return (this.byTask.get(taskId) ?? []).slice(-limit);
  }

  onProgress(listener: (entry: ProgressInput) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
