/**
 * Partitions between network namespaces (CONTRACT §11): the link between two sides is taken down
 * (packets dropped, no connection reset), so neither NATS client learns of it at once. Skipped,
 * with the reason printed, where `ip netns` is not permitted (a container without CAP_NET_ADMIN).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { gitOut } from '../../support/git-fixtures.ts';
import { startNatsServer } from '../../support/nats-server.ts';
import { createNetns, netnsUnavailable, type Netns } from '../../support/netns.ts';
import { expectMergedOnce, receiptLines, receiptTasks, startCluster, type Cluster, type ClusterOptions } from './cluster-harness.ts';

const unavailable = netnsUnavailable();
if (unavailable) process.stdout.write(`cluster-partition.test.ts skipped: ${unavailable}\n`);

let cluster: Cluster | undefined;
const namespaces: Netns[] = [];
afterEach(async () => {
  for (const ns of namespaces) ns.heal();
  await cluster?.close();
  cluster = undefined;
  for (const ns of namespaces.splice(0)) ns.remove();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OFFLINE_AFTER_MS = 2_000;

/** Waits until every one of the job's tasks runs and its worker has its base and started it. */
async function allStarted(c: Cluster, jobId: string, count: number): Promise<string[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const view = await c.job(jobId).catch(() => undefined);
    const running = view?.tasks.filter((t) => t.status === 'running') ?? [];
    const received = new Set(['w1', 'w2'].flatMap((w) => c.workerLog(w).filter((e) => e.msg === 'task started').map((e) => e.taskId as string)));
    if (running.length === count && running.every((t) => received.has(t.task_id))) return running.map((t) => t.task_id);
    if (Date.now() > deadline) throw new Error(`not every task of ${jobId} started in time: ${JSON.stringify(view?.tasks)}`);
    await sleep(50);
  }
}

/** Two workers of two programmers each, the broker and the workers where `place` puts them. */
const twoWorkers = (place: Pick<ClusterOptions, 'startNats' | 'workerWrap'>) => startCluster({ workers: ['w1', 'w2'], programmersPerWorker: 2, editDelayMs: 3_000, offlineAfterMs: OFFLINE_AFTER_MS, ...place });

const dispatches = (c: Cluster, taskId: string) => c.centralLog().filter((e) => e.msg === 'task dispatched to a remote programmer' && e.taskId === taskId);

describe.skipIf(unavailable !== undefined)('a partition between network namespaces', () => {
  it('the central process cut off from the broker past the detection time declares no worker offline and re-dispatches nothing', async () => {
    // The broker and both workers on one side, the central process alone on the other.
    const ns = createNetns('brk');
    namespaces.push(ns);
    cluster = await twoWorkers({ startNats: () => startNatsServer({ host: ns.nsAddress, wrap: ns.exec }), workerWrap: () => ns.exec });
    const files = ['src/a.js', 'src/b.js', 'src/c.js', 'src/d.js'];
    const id = await cluster.submit(files);
    const tasks = await allStarted(cluster, id, files.length);
    const cutAt = Date.now();
    ns.partition();
    // Down until the central process's NATS client gives the dead link up (two pings unanswered,
    // each offline_after_ms apart): well past the detection time.
    const lost = await cluster.waitLog((e) => e.msg === 'lost the NATS broker: no worker is declared offline until it is back' && (e.time as number) >= cutAt);
    expect((lost.time as number) - cutAt).toBeGreaterThan(OFFLINE_AFTER_MS);
    ns.heal();
    const job = await cluster.waitJob(id, 60_000);
    expect(cluster.centralLog().filter((e) => e.msg === 'worker offline')).toEqual([]);
    await cluster.waitLog((e) => e.msg === 'NATS broker reachable again' && (e.time as number) >= cutAt);
    expect(job.status).toBe('completed');
    for (const t of tasks) expect(dispatches(cluster, t)).toHaveLength(1);
    expect(job.tasks.map((t) => t.attempt)).toEqual(tasks.map(() => 1));
    await expectMergedOnce(cluster, job.merged_branch!, files);
    expect(receiptTasks(job.receipt_files).sort()).toEqual([...tasks].sort());
  }, 90_000);

  it('one worker cut off from the broker goes offline alone, its task runs on the other worker, and its late result is fenced after the link returns', async () => {
    // The broker, the central process and w2 on one side; w1 alone in its namespace.
    const ns = createNetns('w1');
    namespaces.push(ns);
    cluster = await twoWorkers({ startNats: () => startNatsServer({ host: ns.hostAddress }), workerWrap: (worker) => (worker === 'w1' ? ns.exec : []) });
    const id = await cluster.submit(['src/a.js', 'src/b.js']);
    const taskId = await cluster.waitRunningOn(id, 'w1');
    await cluster.waitWorkerLog('w1', (e) => e.msg === 'task started' && e.taskId === taskId);
    const cutAt = Date.now();
    ns.partition();
    const offline = await cluster.waitLog((e) => e.msg === 'worker offline' && e.worker === 'w1');
    const job = await cluster.waitJob(id, 60_000);
    expect(job.status).toBe('completed');
    const rerun = job.tasks.find((t) => t.task_id === taskId)!;
    expect(cluster.hostOf.get(rerun.programmer_id!)).toBe('w2');
    const [, second] = dispatches(cluster, taskId);
    expect(second?.worker).toBe('w2');
    process.stdout.write(`partition of w1: declared offline ${(offline.time as number) - cutAt} ms and its task re-dispatched ${(second!.time as number) - cutAt} ms after the link went down (offline_after_ms ${OFFLINE_AFTER_MS})\n`);
    const headBefore = await gitOut(cluster.repo.repo, 'rev-parse', job.merged_branch!);
    // w1 finished its task meanwhile and holds the result until its client gives the dead link up.
    await cluster.waitWorkerLog('w1', (e) => typeof e.msg === 'string' && e.msg.startsWith('lost the NATS broker'));
    const healedAt = Date.now();
    ns.heal();
    // The same w1 process (no restart) reconnects, registers again, sends its late result: fenced.
    await cluster.waitWorkerLog('w1', (e) => e.msg === 'broker reachable again: registered again');
    const fenced = await cluster.waitLog((e) => e.code === 'PAS_ERR_DIST_STALE_RESULT' && e.taskId === taskId, 60_000);
    expect(fenced.worker).toBe('w1');
    await cluster.waitLog((e) => e.msg === 'worker online' && e.worker === 'w1' && (e.time as number) >= healedAt, 30_000);
    expect(cluster.workers.get('w1')!.child.exitCode).toBeNull();
    const late = await cluster.waitWorkerLog('w1', (e) => e.msg === 'result sent' && e.taskId === taskId);
    // Its work was done during the cut, or (a slow run) its next model call was asked for once the
    // link was back: refused, the central process having given the attempt up, which w1 then stopped.
    if (late.status !== 'ok') expect(cluster.workerLog('w1').some((e) => e.msg === 'attempt given up by the central process: stopped' && e.taskId === taskId), JSON.stringify(late)).toBe(true);
    expect(cluster.centralLog().filter((e) => e.msg === 'worker offline').map((e) => e.worker)).toEqual(['w1']);
    expect(await gitOut(cluster.repo.repo, 'rev-parse', job.merged_branch!)).toBe(headBefore);
    await expectMergedOnce(cluster, job.merged_branch!, ['src/a.js', 'src/b.js']);
    const after = await cluster.job(id);
    expect(after.tasks.find((t) => t.task_id === taskId)!.programmer_id).toBe(rerun.programmer_id);
    // One line per attempt: the one ended when w1 went offline, and the re-run's; the late result adds none.
    expect(receiptLines(after.receipt_files).filter((r) => r.task_id === taskId).map((r) => [r.status, r.error?.code ?? null])).toEqual([
      ['failed', 'PAS_ERR_DIST_WORKER_OFFLINE'],
      ['completed', null],
    ]);
  }, 90_000);
});
