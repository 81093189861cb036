/** Promises that resolve with a job once the journal holds it terminal (`Runtime.waitForJob`). */
import { isTerminalJobStatus } from '../../machines/statuses.ts';
import { PasError } from '../errors.ts';
import type { Journal, JobRecord } from '../journal/journal.ts';

export interface JobWaiters {
  wait(jobId: string, timeoutMs: number): Promise<JobRecord>;
  /** Resolves the waiters of a job that is now terminal. */
  settle(jobId: string): void;
}

export function createJobWaiters(journal: Journal): JobWaiters {
  const waiters = new Map<string, Set<(job: JobRecord) => void>>();
  return {
    wait(id, timeoutMs) {
      return new Promise<JobRecord>((resolve, reject) => {
        const record = journal.getJob(id);
        if (!record) return reject(new PasError('PAS_ERR_JOB_NOT_FOUND', `no job ${id}`));
        if (isTerminalJobStatus(record.status)) return resolve(record);
        const timer = setTimeout(() => {
          waiters.get(id)?.delete(done);
          reject(new PasError('PAS_ERR_WAIT_TIMEOUT', `job ${id} did not finish within ${timeoutMs} ms`, { details: { jobId: id, timeoutMs, status: journal.getJob(id)?.status } }));
        }, timeoutMs);
        const done = (job: JobRecord) => {
          clearTimeout(timer);
          resolve(job);
        };
        if (!waiters.has(id)) waiters.set(id, new Set());
        waiters.get(id)!.add(done);
      });
    },
    settle(jobId) {
      const record = journal.getJob(jobId);
      const set = waiters.get(jobId);
      if (!record || !set || !isTerminalJobStatus(record.status)) return;
      waiters.delete(jobId);
      for (const resolve of set) resolve(record);
    },
  };
}
