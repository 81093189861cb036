/** A `pas worker` SIGKILLed mid-task (CONTRACT §11): its programmers go offline and its task runs again elsewhere. */
import { afterEach, describe, expect, it } from 'vitest';
import { doubledInBranch } from '../../hardening/kill-support.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { kill9 } from '../../support/pas-process.ts';
import { receiptLines, startCluster, type Cluster } from './cluster-harness.ts';

let cluster: Cluster | undefined;
afterEach(async () => {
  for (const w of cluster?.workers.values() ?? []) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGCONT');
  await cluster?.close();
  cluster = undefined;
});

describe('a worker lost mid-task', () => {
  it('SIGKILLed: its task is re-dispatched to the other worker and the job completes with every file merged once', async () => {
    cluster = await startCluster({ workers: ['w1', 'w2'], programmersPerWorker: 2, editDelayMs: 4_000 });
    const id = await cluster.submit(['src/a.js', 'src/b.js']);
    const taskId = await cluster.waitRunningOn(id, 'w1');
    await cluster.waitWorkerLog('w1', (e) => e.msg === 'task received' && e.taskId === taskId);
    await kill9(cluster.workers.get('w1')!.child);
    await cluster.waitLog((e) => e.msg === 'worker offline' && e.worker === 'w1');
    const job = await cluster.waitJob(id, 90_000);
    expect(job.status).toBe('completed');
    const task = job.tasks.find((t) => t.task_id === taskId)!;
    expect(task.status).toBe('completed');
    expect(cluster.hostOf.get(task.programmer_id!)).toBe('w2');
    for (const f of ['a', 'b']) expect(await gitOut(cluster.repo.repo, 'show', `${job.merged_branch}:src/${f}.js`)).toContain('PAS offline note');
    expect(await doubledInBranch(cluster.repo.repo, job.merged_branch!)).toEqual([]);
    // One line per attempt: each task's completed one, and the killed attempt's.
    const lines = receiptLines(job.receipt_files);
    expect(lines.filter((r) => r.status === 'completed').map((r) => r.task_id).sort()).toEqual(job.tasks.map((t) => t.task_id).sort());
    expect(lines.filter((r) => r.status !== 'completed').map((r) => [r.task_id, r.error?.code])).toEqual([[taskId, 'PAS_ERR_DIST_WORKER_OFFLINE']]);
  }, 150_000);
});
