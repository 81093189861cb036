/** One worker id, one process (CONTRACT §11): a restart hands over at once, a second process is refused. */
import { afterEach, describe, expect, it } from 'vitest';
import { doubledInBranch } from '../../hardening/kill-support.ts';
import { kill9 } from '../../support/pas-process.ts';
import { expectMergedOnce, receiptTasks, startCluster, type Cluster } from './cluster-harness.ts';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('a worker id and its process', () => {
  it('SIGKILLed mid-task and started again with the same --id before it is declared offline: the new process is given its programmers once the old one has been silent for offline_after_ms, and runs the task the old one held, not after the broker redelivers it', async () => {
    // ack_wait far beyond the wait for the job: a task left to the broker's redelivery cannot finish
    // in time. Detection far enough out for the new process to start first on a loaded machine.
    cluster = await startCluster({ workers: ['w1', 'w2'], programmersPerWorker: 1, editDelayMs: 3_000, offlineAfterMs: 8_000, ackWaitMs: 120_000 });
    const c = cluster;
    const files = ['src/a.js', 'src/b.js'];
    const id = await c.submit(files);
    const taskId = await c.waitRunningOn(id, 'w1');
    await c.waitWorkerLog('w1', (e) => e.msg === 'task received' && e.taskId === taskId);
    await kill9(c.workers.get('w1')!.child);
    await c.startWorker('w1');
    await c.waitLog((e) => e.msg === 'worker restarted: its new process takes its programmers (and the tasks its old one held)' && e.worker === 'w1');
    const job = await c.waitJob(id, 60_000);
    expect(job.status).toBe('completed');
    expect(c.centralLog().some((e) => e.msg === 'worker offline' && e.worker === 'w1'), 'the restart was taken for a lost worker').toBe(false);
    // The same attempt, run by the new process (its consumer made anew gave it back at once).
    expect(job.tasks.find((t) => t.task_id === taskId)!.attempt).toBe(1);
    expect(c.workerLog('w1').filter((e) => e.msg === 'task received' && e.taskId === taskId)).toHaveLength(2);
    await expectMergedOnce(c, job.merged_branch!, files);
    expect(await doubledInBranch(c.repo.repo, job.merged_branch!)).toEqual([]);
    expect(new Set(receiptTasks(job.receipt_files))).toEqual(new Set(job.tasks.map((t) => t.task_id)));
  }, 150_000);

  it('a second pas worker started with the id of a live one is refused and exits, saying the id is in use; the first keeps its programmers and runs the job', async () => {
    cluster = await startCluster({ workers: ['w1'], programmersPerWorker: 2, editDelayMs: 200 });
    const c = cluster;
    const first = c.workers.get('w1')!;
    // Refused "for now" while the first one heartbeats; it gives up after twice offline_after_ms.
    await expect(c.startWorker('w1')).rejects.toThrow(/worker id w1 is in use by a live process/);
    expect(c.centralLog().some((e) => typeof e.msg === 'string' && e.msg.startsWith('worker restarted'))).toBe(false);
    expect(first.child.exitCode).toBeNull();
    const files = ['src/a.js', 'src/b.js'];
    const job = await c.waitJob(await c.submit(files), 60_000);
    expect(job.status).toBe('completed');
    await expectMergedOnce(c, job.merged_branch!, files);
    expect(c.workerLog('w1').filter((e) => e.msg === 'task received')).toHaveLength(2);
  }, 150_000);

  it('paused past offline_after_ms while a new process of its id took its programmers: the paused one, once it runs again, says another process took over and exits 1; the job then runs on the new one', async () => {
    await takeoverOfPaused(0);
  }, 150_000);

  it('paused longer than its pending pull request lives (35 s: the broker never tells it its consumer was deleted): it finds it did not run for that long, sees the takeover and exits 1', async () => {
    await takeoverOfPaused(35_000);
  }, 180_000);
});

/** SIGSTOPs w1's process; once it is declared offline and `pauseMs` have passed, starts a new w1 process, then SIGCONTs the old one. */
async function takeoverOfPaused(pauseMs: number): Promise<void> {
  cluster = await startCluster({ workers: ['w1'], programmersPerWorker: 2, editDelayMs: 200, offlineAfterMs: 2_000 });
  const c = cluster;
  const paused = c.workers.get('w1')!;
  paused.child.kill('SIGSTOP');
  const stoppedAt = Date.now();
  await c.waitLog((e) => e.msg === 'worker offline' && e.worker === 'w1');
  // The new process starts (and makes the consumers anew) only after the paused one's pull requests expired.
  await new Promise((r) => setTimeout(r, Math.max(0, stoppedAt + pauseMs - Date.now())));
  const fresh = await c.startWorker('w1');
  const exit = new Promise<number | null>((resolve) => paused.child.once('exit', (code) => resolve(code)));
  paused.child.kill('SIGCONT');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exit, new Promise<string>((r) => (timer = setTimeout(() => r('still running after 20 s'), 20_000)))]);
  clearTimeout(timer);
  expect(code, paused.output()).toBe(1);
  expect(paused.output()).toMatch(/another process of it \(pid \d+\) took over its programmers/);
  expect(fresh.child.exitCode).toBeNull();
  const files = ['src/a.js', 'src/b.js'];
  const job = await c.waitJob(await c.submit(files), 60_000);
  expect(job.status).toBe('completed');
  await expectMergedOnce(c, job.merged_branch!, files);
  const received = c.workerLog('w1').filter((e) => e.msg === 'task received');
  expect(received).toHaveLength(2);
  expect(received.every((e) => e.pid === fresh.child.pid)).toBe(true);
}
