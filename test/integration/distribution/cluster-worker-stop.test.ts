/** A `pas worker` paused past the detection time, then resumed (CONTRACT §11): its late result is fenced by attempt id. */
import { afterEach, describe, expect, it } from 'vitest';
import { doubledInBranch } from '../../hardening/kill-support.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { receiptLines, startCluster, type Cluster } from './cluster-harness.ts';

let cluster: Cluster | undefined;
afterEach(async () => {
  for (const w of cluster?.workers.values() ?? []) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGCONT');
  await cluster?.close();
  cluster = undefined;
});

describe('a worker paused mid-task', () => {
  it('SIGSTOPped past the detection time then SIGCONTed: its late result is fenced, never merged, and the job keeps the re-run', async () => {
    cluster = await startCluster({ workers: ['w1', 'w2'], programmersPerWorker: 2, editDelayMs: 4_000 });
    const w1 = cluster.workers.get('w1')!;
    const id = await cluster.submit(['src/a.js', 'src/b.js']);
    const taskId = await cluster.waitRunningOn(id, 'w1');
    // Stopped while it works on the task: past its check that the attempt is current (a worker
    // stopped before that check finds the re-run's attempt when it resumes, and rightly runs nothing).
    await cluster.waitWorkerLog('w1', (e) => e.msg === 'task started' && e.taskId === taskId);
    w1.child.kill('SIGSTOP');
    await cluster.waitLog((e) => e.msg === 'worker offline' && e.worker === 'w1');
    const job = await cluster.waitJob(id, 90_000);
    expect(job.status).toBe('completed');
    const rerun = job.tasks.find((t) => t.task_id === taskId)!;
    expect(cluster.hostOf.get(rerun.programmer_id!)).toBe('w2');
    const headBefore = await gitOut(cluster.repo.repo, 'rev-parse', job.merged_branch!);
    w1.child.kill('SIGCONT');
    const fenced = await cluster.waitLog((e) => e.code === 'PAS_ERR_DIST_STALE_RESULT' && e.taskId === taskId, 60_000);
    expect(fenced.worker).toBe('w1');
    // Nothing moved: the job branch, the task's result and its receipts are the re-run's.
    expect(await gitOut(cluster.repo.repo, 'rev-parse', job.merged_branch!)).toBe(headBefore);
    expect(await doubledInBranch(cluster.repo.repo, job.merged_branch!)).toEqual([]);
    const after = await cluster.job(id);
    expect(after.tasks.find((t) => t.task_id === taskId)!.programmer_id).toBe(rerun.programmer_id);
    // One line per attempt: the one ended when w1 went offline, and the re-run's; the late result adds none.
    expect(receiptLines(after.receipt_files).filter((r) => r.task_id === taskId).map((r) => [r.status, r.error?.code ?? null])).toEqual([
      ['failed', 'PAS_ERR_DIST_WORKER_OFFLINE'],
      ['completed', null],
    ]);
  }, 150_000);
});
