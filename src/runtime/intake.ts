/**
 * Where work enters and is called off: a job is checked, journaled (durable before the 202) and
 * handed to the Architect (or to a named Director or Manager); a task pinned to one programmer is
 * journaled and put in the pool; a cancel goes to whoever holds the job. After close() nothing new
 * is accepted.
 */
import path from 'node:path';
import type { JobSpec, TaskSpec } from '../../machines/domain.ts';
import { isTerminalJobStatus } from '../../machines/statuses.ts';
import type { ToArchitect, ToManager, ToPoolTask } from '../../machines/messages.ts';
import type { PasConfig } from '../config/load-config.ts';
import { PasError } from '../errors.ts';
import type { Journal, JobRecord } from '../journal/journal.ts';
import { DIRECT_REPLY_TO, type DirectTask, type JobSubmission } from './runtime-types.ts';
import type { Topology } from './topology.ts';

export interface Intake {
  submitJob(submission: JobSubmission, via?: string): JobRecord;
  submitTask(task: DirectTask): TaskSpec;
  /** False when the job is unknown or already ended. */
  cancelJob(jobId: string): boolean;
  close(): void;
  readonly closed: boolean;
}

export interface IntakeOptions {
  config: PasConfig;
  topology: Topology;
  journal: Journal;
  idGen: () => string;
  now: () => Date;
  /** Delivers a job, or its cancel, to the agent that takes it (the Architect, a Director or a Manager). */
  send: (agentId: string, event: Extract<ToArchitect, { type: 'job.submitted' }> | Extract<ToManager, { type: 'job.cancel' }>) => void;
  sendPool: (event: ToPoolTask) => void;
}

export function createIntake({ config, topology, journal, idGen, now, send, sendPool }: IntakeOptions): Intake {
  const architectId = config.pas.architect.agent_id;
  const programmerIds = new Set(config.programmers.map((p) => p.id));
  let closed = false;
  return {
    get closed() {
      return closed;
    },
    close() {
      closed = true;
    },
    submitJob(submission, via) {
      if (closed) throw new PasError('PAS_ERR_SHUTTING_DOWN', 'the runtime is stopping and accepts no new jobs');
      const spec: JobSpec = { id: submission.id ?? idGen(), task: submission.task, submittedAt: now().toISOString() };
      if (submission.lane) {
        if (!config.pas.directors.some((d) => d.lane === submission.lane)) {
          throw new PasError('PAS_ERR_NO_LANE', `lane "${submission.lane}" has no Director`, { details: { field: 'lane' } });
        }
        spec.lane = submission.lane;
      }
      if (submission.files) spec.files = submission.files;
      if (submission.repo) spec.repo = submission.repo;
      if (submission.verify) spec.verify = submission.verify;
      if (submission.maxJobSpendUsd !== undefined) spec.maxJobSpendUsd = submission.maxJobSpendUsd;
      if (submission.executor) spec.executor = submission.executor;
      const target = via ?? architectId;
      if (!topology.agents.some((a) => a.agentId === target && a.role !== 'programmer')) {
        throw new PasError('PAS_ERR_AGENT_NOT_FOUND', `no Architect, Director or Manager "${target}"`);
      }
      if (via && !spec.lane) {
        const lane = topology.agents.find((a) => a.agentId === via)?.lane;
        if (lane) spec.lane = lane;
      }
      const { created, job } = journal.acceptJob(spec);
      if (created) send(target, { type: 'job.submitted', job: spec });
      return job;
    },
    cancelJob(id) {
      const job = journal.getJob(id);
      if (!job || isTerminalJobStatus(job.status)) return false;
      // The Manager that holds the job cancels it (whoever it was submitted through); before a
      // Manager has it, the Architect routes the cancel down its lane.
      send(job.managerId ?? architectId, { type: 'job.cancel', jobId: id });
      return true;
    },
    submitTask(direct) {
      if (closed) throw new PasError('PAS_ERR_SHUTTING_DOWN', 'the runtime is stopping and accepts no new tasks');
      if (!programmerIds.has(direct.programmerId)) throw new PasError('PAS_ERR_AGENT_NOT_FOUND', `no programmer "${direct.programmerId}"`);
      const id = direct.taskId ?? `task-${idGen()}`;
      if (journal.getTask(id)) throw new PasError('PAS_ERR_BAD_REQUEST', `task id "${id}" is already used`, { details: { field: 'task_id' } });
      const task: TaskSpec = {
        id,
        jobId: direct.jobId ?? `direct-${direct.programmerId}`,
        managerId: config.programmers.find((p) => p.id === direct.programmerId)!.parent,
        replyTo: DIRECT_REPLY_TO,
        instruction: direct.instruction,
        files: direct.files,
        pin: direct.programmerId,
      };
      if (direct.repo) task.repo = path.resolve(direct.repo);
      if (direct.timeoutMs) task.timeoutMs = direct.timeoutMs;
      if (direct.executor) task.executor = direct.executor;
      if (direct.verify) task.verify = direct.verify;
      journal.upsertTask(task, 'queued');
      sendPool({ type: 'task.submitted', task });
      return task;
    },
  };
}
