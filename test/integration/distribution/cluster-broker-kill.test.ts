/** The NATS broker SIGKILLed and restarted while remote tasks run (CONTRACT §11): nothing accepted is lost. */
import { afterEach, describe, expect, it } from 'vitest';
import { expectMergedOnce, receiptTasks, startCluster, type Cluster } from './cluster-harness.ts';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('the broker killed mid-job', () => {
  it('the broker killed with SIGKILL and restarted mid-job: the job completes with every task merged once', async () => {
    cluster = await startCluster({ workers: ['w1', 'w2'], programmersPerWorker: 2, editDelayMs: 3_000 });
    const files = ['src/a.js', 'src/b.js', 'src/c.js', 'src/d.js'];
    const id = await cluster.submit(files);
    const taskId = await cluster.waitRunningOn(id, 'w1');
    await cluster.waitWorkerLog('w1', (e) => e.msg === 'task received' && e.taskId === taskId);
    await cluster.nats.kill9();
    await new Promise((r) => setTimeout(r, 1_000));
    await cluster.nats.restart();
    const job = await cluster.waitJob(id, 90_000);
    expect(job.status).toBe('completed');
    expect(job.tasks.every((t) => t.status === 'completed')).toBe(true);
    await expectMergedOnce(cluster, job.merged_branch!, files);
    expect(new Set(receiptTasks(job.receipt_files))).toEqual(new Set(job.tasks.map((t) => t.task_id)));
  }, 150_000);
  it('the broker down when tasks are dispatched, for longer than a request may wait: the dispatches wait for it and the job completes with every task on its first attempt', async () => {
    cluster = await startCluster({ workers: ['w1', 'w2'], programmersPerWorker: 2, editDelayMs: 500 });
    const files = ['src/a.js', 'src/b.js', 'src/c.js', 'src/d.js'];
    await cluster.nats.kill9();
    const id = await cluster.submit(files);
    // Longer than request_timeout_ms (5 s): a dispatch that gave up after one request would be a retry.
    await cluster.waitLog((e) => e.msg === 'transition' && e.event === 'task.assigned' && typeof e.agentId === 'string' && e.agentId.startsWith('Prog-'), 20_000);
    await new Promise((r) => setTimeout(r, 7_000));
    await cluster.nats.restart();
    const job = await cluster.waitJob(id, 90_000);
    expect(job.status).toBe('completed');
    for (const t of job.tasks) expect(t.attempt, `${t.task_id} was dispatched more than once`).toBe(1);
    await expectMergedOnce(cluster, job.merged_branch!, files);
    expect(receiptTasks(job.receipt_files).sort()).toEqual(job.tasks.map((t) => t.task_id).sort());
  }, 150_000);
});
