/** The central `pas up` SIGKILLed while workers run its tasks (CONTRACT §11): results applied, attempts adopted on restart. */
import { afterEach, describe, expect, it } from 'vitest';
import { gitOut } from '../../support/git-fixtures.ts';
import { kill9 } from '../../support/pas-process.ts';
import { expectMergedOnce, startCluster, type Cluster } from './cluster-harness.ts';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('the central process killed mid-job', () => {
  it('the central process killed with SIGKILL while workers run its tasks: on restart it applies their results and adopts what still runs, running nothing twice', async () => {
    cluster = await startCluster({ workers: ['w1', 'w2'], programmersPerWorker: 2, editDelayMs: 5_000 });
    const files = ['src/a.js', 'src/b.js', 'src/c.js', 'src/d.js'];
    const id = await cluster.submit(files);
    const running = await Promise.all(['w1', 'w2'].map((w) => cluster!.waitRunningOn(id, w)));
    await Promise.all(running.map((taskId, i) => cluster!.waitWorkerLog(i === 0 ? 'w1' : 'w2', (e) => e.msg === 'task received' && e.taskId === taskId)));
    await kill9(cluster.central.child);
    // What an import cut off by the kill leaves: a quarantine ref (the restart removes it).
    const repo = cluster.repo.repo;
    const fetched = await gitOut(repo, 'commit-tree', `${cluster.repo.base}^{tree}`, '-p', cluster.repo.base, '-m', 'fetched, never checked');
    await gitOut(repo, 'update-ref', `refs/pas/quarantine/${running[0]}.a1.0badf00d-1a2b3c4d`, fetched);
    // Some results arrive while the central process is down; the rest after it is back.
    await new Promise((r) => setTimeout(r, 2_000));
    await cluster.startCentral();
    const job = await cluster.waitJob(id, 90_000);
    expect(job.status).toBe('completed');
    expect(job.tasks.every((t) => t.status === 'completed')).toBe(true);
    await expectMergedOnce(cluster, job.merged_branch!, files);
    expect(await gitOut(repo, 'for-each-ref', '--format=%(refname)', 'refs/pas/quarantine')).toBe('');
    expect(await gitOut(repo, 'rev-parse', 'refs/heads/main')).toBe(cluster.repo.base);
    // Each task was received by a worker once: results were applied or adopted, never re-run.
    const taskRuns = new Map<string, number>();
    for (const w of cluster.workers.keys()) {
      for (const e of cluster.workerLog(w)) if (e.msg === 'task received' && typeof e.taskId === 'string') taskRuns.set(e.taskId, (taskRuns.get(e.taskId) ?? 0) + 1);
    }
    for (const taskId of running) expect(taskRuns.get(taskId)).toBe(1);
    expect(cluster.centralLog().some((e) => e.msg === 'remote attempt adopted' || e.msg === 'result of an earlier run applied on re-dispatch')).toBe(true);
  }, 150_000);
});
