/** Programmers of a worker that is offline or not started get no work (CONTRACT §11): the pool routes around them. */
import { afterEach, describe, expect, it } from 'vitest';
import { kill9 } from '../../support/pas-process.ts';
import { expectMergedOnce, receiptTasks, startCluster, type Cluster } from './cluster-harness.ts';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('a worker that is offline', () => {
  it('gets no task: a job of more files than the live worker has programmers waits for them, with no attempt failed on the dead one, and the pool says which are unreachable', async () => {
    cluster = await startCluster({ workers: ['w1', 'w2'], programmersPerWorker: 2, editDelayMs: 1_000 });
    const c = cluster;
    await kill9(c.workers.get('w1')!.child);
    await c.waitLog((e) => e.msg === 'worker offline' && e.worker === 'w1');
    const dead = [...c.hostOf].filter(([, w]) => w === 'w1').map(([id]) => id);
    const status = (await (await fetch(`${c.central.url}/agents/Mgr-Code-01/programmer_pool/status`)).json()) as { unreachable_programmers: string[] };
    expect(status.unreachable_programmers).toEqual(dead);
    const { agents } = (await (await fetch(`${c.central.url}/api/agents`)).json()) as { agents: Array<{ agent: string; host?: string; reachable?: boolean }> };
    const programmers = agents.filter((a) => a.agent.startsWith('Prog-'));
    expect(programmers.filter((a) => a.reachable === false).map((a) => [a.agent, a.host])).toEqual(dead.map((id) => [id, 'w1']));

    const files = ['src/a.js', 'src/b.js', 'src/c.js', 'src/d.js'];
    const job = await c.waitJob(await c.submit(files), 90_000);
    expect(job.status).toBe('completed');
    for (const t of job.tasks) {
      expect(c.hostOf.get(t.programmer_id!), `${t.task_id} ran on ${t.programmer_id}`).toBe('w2');
      expect(t.attempt, `${t.task_id} failed on a programmer of the dead worker first`).toBe(1);
    }
    await expectMergedOnce(c, job.merged_branch!, files);
    expect(receiptTasks(job.receipt_files).sort()).toEqual(job.tasks.map((t) => t.task_id).sort());
  }, 150_000);
});
