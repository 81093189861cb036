/**
 * Programmers on other hosts, end to end on one machine: a real nats-server, the central
 * `pas up` and two `pas worker` processes with their own data dirs (CONTRACT §11).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { gitOut } from '../../support/git-fixtures.ts';
import { startCluster, type Cluster } from './cluster-harness.ts';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function receiptLines(files: string[]): Array<{ task_id: string; agent_id: string; status: string }> {
  return files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
}

describe('pas worker over NATS JetStream', () => {
  it('merges a multi-file job whose subtasks ran on both workers, with one receipt per task and the remote programmers live in /ws', async () => {
    cluster = await startCluster({ workers: ['w1', 'w2'], programmersPerWorker: 2, editDelayMs: 300 });
    const ws = new WebSocket(`${cluster.central.url.replace('http', 'ws')}/ws`);
    const transitions: Array<{ agentId: string; to: string }> = [];
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string; agentId?: string; to?: string };
      if (m.type === 'transition' && m.agentId) transitions.push({ agentId: m.agentId, to: m.to! });
    });
    await new Promise((r) => ws.once('open', r));

    const id = await cluster.submit(['src/a.js', 'src/b.js', 'src/c.js', 'src/d.js']);
    const job = await cluster.waitJob(id);
    ws.close();
    expect(job.status).toBe('completed');
    expect(job.tasks).toHaveLength(4);
    const hosts = new Set(job.tasks.map((t) => cluster!.hostOf.get(t.programmer_id!)));
    expect(hosts).toEqual(new Set(['w1', 'w2']));
    // The merged branch holds every file's edit; the user's checkout is untouched.
    const branch = job.merged_branch!;
    for (const f of ['a', 'b', 'c', 'd']) expect(await gitOut(cluster.repo.repo, 'show', `${branch}:src/${f}.js`)).toContain('PAS offline note');
    expect(await gitOut(cluster.repo.repo, 'status', '--porcelain')).toBe('');
    const receipts = receiptLines(job.receipt_files);
    expect(receipts.map((r) => r.task_id).sort()).toEqual(job.tasks.map((t) => t.task_id).sort());
    // The proxy programmers ran in the central tree: the feed saw them work.
    const remoteBusy = transitions.filter((t) => cluster!.hostOf.has(t.agentId) && t.to === 'EXECUTING');
    expect(remoteBusy.length).toBeGreaterThanOrEqual(4);
  }, 150_000);
});
