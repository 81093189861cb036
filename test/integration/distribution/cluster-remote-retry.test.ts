/** A remote task that fails on its worker runs again as a new attempt (CONTRACT §11), never waiting on the attempt that failed. */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { expectMergedOnce, startCluster, type Cluster } from './cluster-harness.ts';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('a remote task that fails on its worker', () => {
  it('is dispatched again as a new attempt and completes: the retry never adopts the attempt whose failure was applied', async () => {
    cluster = await startCluster({ workers: ['w1'], programmersPerWorker: 2, editDelayMs: 0 });
    const first = await cluster.waitJob(await cluster.submit(['src/a.js']));
    expect(first.status).toBe('completed');
    // The worker's repository cache is wiped: the central process still thinks the host has the
    // base, so the next task's first attempt fails with PAS_ERR_DIST_BUNDLE_MISSING (retryable).
    rmSync(path.join(cluster.workers.get('w1')!.dataDir, 'repos'), { recursive: true, force: true });
    const id = await cluster.submit(['src/b.js']);
    const job = await cluster.waitJob(id, 60_000);
    expect(job.status).toBe('completed');
    const [task] = job.tasks;
    const attempts = cluster.centralLog().filter((e) => e.msg === 'task dispatched to a remote programmer' && e.taskId === task!.task_id);
    expect(attempts).toHaveLength(2);
    expect(new Set(attempts.map((e) => e.attemptId)).size).toBe(2);
    const failed = cluster.centralLog().find((e) => e.msg === 'remote result applied' && e.attemptId === attempts[0]!.attemptId);
    expect(failed?.status).toBe('failed');
    expect(cluster.centralLog().filter((e) => e.msg === 'remote attempt adopted')).toEqual([]);
    await expectMergedOnce(cluster, job.merged_branch!, ['src/b.js']);
  }, 120_000);
});
