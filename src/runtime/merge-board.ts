/**
 * The merge queue of each running job as the statecharts state it (`recordMergeStep`, see
 * machines/job.machine.ts): every step goes to the feed as a `merge` message (CONTRACT §5
 * versioning: `{"v":1,"type":"merge","seq",…}`), and the latest state of each branch is kept for
 * `GET /api/jobs/{id}`, `pas status JOB` and the HMI's job timeline.
 */
import type { MergeStepFact, MergeStepState } from '../../machines/facts.ts';
import type { FactListener } from './fact-bus.ts';

/** One merge-queue step as the feed sends it (the hub stamps `seq`); `agentId` is the job's Manager. */
export type MergeRecord = Omit<MergeStepFact, 'managerId'> & { v: 1; type: 'merge'; seq: number; ts: string; agentId: string; role: 'manager' };

export type MergeInput = Omit<MergeRecord, 'v' | 'type' | 'seq'>;

/** A branch's place in its job's merge queue, for the job view: its latest state and when each began. */
export interface MergeEntry {
  taskId: string;
  state: MergeStepState;
  queuedAt: string;
  mergingAt?: string;
  mergedAt?: string;
  head?: string;
  files?: string[];
  exitCode?: number | null;
  /** The latest step's time. */
  ts: string;
}

export interface MergeBoardOptions {
  now?: () => Date;
  /** Jobs remembered (oldest forgotten first). */
  maxJobs?: number;
}

export class MergeBoard {
  private readonly now: () => Date;
  private readonly maxJobs: number;
  private readonly byJob = new Map<string, Map<string, MergeEntry>>();
  private readonly listeners = new Set<(record: MergeInput) => void>();

  constructor(options: MergeBoardOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.maxJobs = Math.max(1, options.maxJobs ?? 2_000);
  }

  /** Listens to the statecharts' facts for merge-queue steps. */
  readonly onFact: FactListener = (stated) => {
    if (stated.name === 'recordMergeStep') this.record(stated.fact);
  };

  record(step: MergeStepFact): MergeInput {
    const ts = this.now().toISOString();
    const entry: MergeInput = { ts, agentId: step.managerId, role: 'manager', jobId: step.jobId, taskId: step.taskId, state: step.state, queue: [...step.queue] };
    if (step.head) entry.head = step.head;
    if (step.files) entry.files = [...step.files];
    if (step.exitCode !== undefined) entry.exitCode = step.exitCode;
    let branches = this.byJob.get(step.jobId);
    if (!branches) {
      branches = new Map();
      this.byJob.set(step.jobId, branches);
      if (this.byJob.size > this.maxJobs) this.byJob.delete(this.byJob.keys().next().value!);
    }
    const previous = branches.get(step.taskId);
    const next: MergeEntry = { ...previous, taskId: step.taskId, state: step.state, queuedAt: previous?.queuedAt ?? ts, ts };
    if (step.state === 'merging') next.mergingAt = ts;
    if (step.state === 'merged' || step.state === 'conflict' || step.state === 'failed') next.mergedAt = ts;
    if (step.head) next.head = step.head;
    if (step.files) next.files = [...step.files];
    if (step.exitCode !== undefined) next.exitCode = step.exitCode;
    branches.set(step.taskId, next);
    for (const listener of this.listeners) listener(entry);
    return entry;
  }

  /** A job's branches in the order they joined its merge queue. */
  ofJob(jobId: string): MergeEntry[] {
    return [...(this.byJob.get(jobId)?.values() ?? [])];
  }

  onMerge(listener: (record: MergeInput) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
