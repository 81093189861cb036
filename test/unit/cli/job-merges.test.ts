/** `pas status JOB` prints a job's merge queue: each branch in the order it finished, with how its merge ended. */
import { describe, expect, it } from 'vitest';
import { describeJob, mergeLine, type JobViewJson, type MergeViewJson } from '../../../src/cli/job-view.ts';

const merge = (taskId: string, state: string, extra: Partial<MergeViewJson> = {}): MergeViewJson => ({
  task_id: taskId,
  state,
  queued_at: '2026-11-30T09:00:01.000Z',
  merging_at: '2026-11-30T09:00:02.000Z',
  merged_at: '2026-11-30T09:00:03.000Z',
  head: null,
  files: [],
  ts: '2026-11-30T09:00:03.000Z',
  ...extra,
});

const JOB: JobViewJson = {
  job_id: 'J1',
  status: 'running',
  task: 'release',
  lane: 'Code',
  files: [],
  repo: null,
  manager_id: 'Mgr-Code-01',
  accepted_at: '2026-11-30T09:00:00.000Z',
  started_at: '2026-11-30T09:00:00.000Z',
  finished_at: null,
  duration_ms: null,
  progress: { total: 3, done: 2 },
  merged_branch: null,
  conflicts: [],
  tokens: null,
  cost_usd: null,
  error: null,
  receipts: null,
};

describe('pas status JOB: the merge queue', () => {
  it('says how each merge ended: conflicting files, the verify exit code, the head', () => {
    expect(mergeLine(merge('J1-t2', 'conflict', { files: ['src/version.js'] }))).toBe('J1-t2  conflict  src/version.js  09:00:03');
    expect(mergeLine(merge('J1-t1', 'verify_failed', { head: '0123456789abcdef', verify_exit_code: 1 }))).toBe('J1-t1  merged, verify failed (exit 1)  head 0123456789  09:00:03');
    expect(mergeLine(merge('J1-t3', 'verified', { verify_exit_code: null }))).toBe('J1-t3  merged, verify passed (exit by signal)  09:00:03');
  });

  it('lists the queue under MERGE QUEUE in the order the branches finished, and leaves it out when there is none', () => {
    const text = describeJob({ ...JOB, merges: [merge('J1-t2', 'merged'), merge('J1-t1', 'merging', { merged_at: null })] });
    expect(text).toContain('MERGE QUEUE (in the order branches finished)\n  J1-t2  merged  09:00:03\n  J1-t1  merging  09:00:03\n');
    expect(describeJob(JOB)).not.toContain('MERGE QUEUE');
  });
});
