/**
 * Orchestration under load over HTTP: Directors spread jobs over their Managers by load, a Manager
 * runs max_concurrent_tasks jobs and queues the rest, and 20 jobs on 10 programmers all complete
 * with every programmer busy while work waits. Tasks run in-process (these tests are about the
 * tree, not editing; real git is covered by the other job tests).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RuntimeServices } from '../../../src/runtime/create-runtime.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { executingIntervals, getJson, largestOverlap, postJson, until, untilTerminal } from './jobs-support.ts';
import type { TransitionRecord } from '../../../src/runtime/transition-record.ts';

/** In-process tasks that wait at a gate until the test opens it. */
function gatedServices(): RuntimeServices & { open(): void; waiting: Array<{ taskId: string; programmerId: string }> } {
  const base = inProcessServices({ taskMs: 5 });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const waiting: Array<{ taskId: string; programmerId: string }> = [];
  return {
    ...base,
    waiting,
    open: () => release(),
    async executeTask(input, signal) {
      waiting.push({ taskId: input.task.id, programmerId: input.programmerId });
      await Promise.race([gate, new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))]);
      return base.executeTask(input, signal);
    },
  };
}

describe('jobs under load', () => {
  let tree: TestTree | undefined;

  afterEach(async () => {
    await tree?.close();
    tree = undefined;
  });

  it('spreads a Director\'s jobs over its Managers by load, round-robin among equals', async () => {
    const services = gatedServices();
    tree = await startTestTree({ services });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await postJson(`${tree.url}/agents/Dir-Code/submit`, { task: `spread ${i}`, files: [`f${i}.js`] });
      expect(res.status).toBe(202);
      ids.push(res.body.job_id);
      // Each job reaches its Manager before the next is sent, so the order is the routing order.
      await until(() => tree!.runtime.getJob(res.body.job_id)?.managerId != null);
    }
    const managers = ids.map((id) => tree!.runtime.getJob(id)!.managerId);
    expect(managers).toEqual(['Mgr-Code-01', 'Mgr-Code-02', 'Mgr-Code-03', 'Mgr-Code-01', 'Mgr-Code-02', 'Mgr-Code-03']);
    const director = await getJson(`${tree.url}/agents/Dir-Code/health`);
    expect(director.body.load).toEqual({ 'Mgr-Code-01': 2, 'Mgr-Code-02': 2, 'Mgr-Code-03': 2 });

    services.open();
    for (const id of ids) expect((await untilTerminal(`${tree.url}/api/jobs/${id}`)).status).toBe('completed');
    const after = await getJson(`${tree.url}/agents/Dir-Code/health`);
    expect(Object.values(after.body.load).every((n) => n === 0)).toBe(true);
  });

  it('runs max_concurrent_tasks jobs on a Manager at once and queues the rest until a slot frees', async () => {
    const services = gatedServices();
    tree = await startTestTree({ services });
    const max = tree.runtime.config.pas.managers.find((m) => m.agent_id === 'Mgr-Code-01')!.resources.max_concurrent_tasks;
    const ids: string[] = [];
    for (let i = 0; i < max + 3; i++) {
      const res = await postJson(`${tree.url}/agents/Mgr-Code-01/submit`, { task: `queue ${i}`, files: [`q${i}.js`] });
      expect(res.status).toBe(202);
      ids.push(res.body.job_id);
    }
    await until(async () => (await getJson(`${tree!.url}/agents/Mgr-Code-01/health`)).body.queue_depth === 3);
    const health = (await getJson(`${tree.url}/agents/Mgr-Code-01/health`)).body;
    expect(health.active_jobs).toEqual(ids.slice(0, max));
    expect(health.state).toBe('EXECUTING');
    // Only the running jobs' subtasks reached the programmers.
    await until(() => services.waiting.length === max);
    expect(new Set(services.waiting.map((s) => s.taskId.replace(/-t\d+$/, '')))).toEqual(new Set(ids.slice(0, max)));
    expect(ids.slice(max).map((id) => tree!.runtime.journal.tasksForJob(id).length)).toEqual([0, 0, 0]);
    // Queued jobs are journaled as accepted by their Manager; only started ones are running.
    expect(ids.map((id) => [tree!.runtime.journal.getJob(id)!.status, tree!.runtime.journal.getJob(id)!.managerId])).toEqual(
      ids.map((_, i) => [i < max ? 'running' : 'accepted', 'Mgr-Code-01']),
    );

    services.open();
    const done = [];
    for (const id of ids) done.push(await untilTerminal(`${tree.url}/api/jobs/${id}`));
    expect(done.map((j) => [j.status, j.manager_id])).toEqual(ids.map(() => ['completed', 'Mgr-Code-01']));
    const finished = (await getJson(`${tree.url}/agents/Mgr-Code-01/health`)).body;
    expect([finished.state, finished.queue_depth, finished.finished_jobs]).toEqual(['IDLE', 0, max + 3]);
  });

  it('completes 20 jobs on 10 programmers, every programmer busy while work waits', async () => {
    const services = inProcessServices({ taskMs: 150 });
    tree = await startTestTree({ services });
    const records: TransitionRecord[] = [];
    tree.runtime.onTransition((r) => records.push(r));
    const programmers = tree.runtime.config.programmers.length;
    expect(programmers).toBe(10);

    const posted = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        postJson(`${tree!.url}/api/jobs`, { task: `load job ${i}`, lane: 'Code', files: Array.from({ length: 1 + (i % 3) }, (_, k) => `src/m${i}-${k}.js`) }),
      ),
    );
    expect(posted.map((p) => p.status)).toEqual(Array(20).fill(202));
    const jobs = [];
    for (const p of posted) jobs.push(await untilTerminal(`${tree.url}/api/jobs/${p.body.job_id}`));

    expect(jobs.map((j) => j.status)).toEqual(Array(20).fill('completed'));
    const subtasks = jobs.reduce((n, j) => n + j.tasks.length, 0);
    expect(subtasks).toBe(posted.reduce((n, _, i) => n + 1 + (i % 3), 0));
    expect(services.started).toHaveLength(subtasks);
    // 6 jobs run at once (3 Managers × 2) with up to 18 subtasks: all 10 programmers at once.
    const together = largestOverlap(executingIntervals(records));
    expect(together).toHaveLength(programmers);
    expect(new Set(services.started.map((s) => s.programmerId)).size).toBe(programmers);
    const list = await getJson(`${tree.url}/api/jobs?limit=100`);
    expect(list.body.total).toBe(20);
    expect(tree.runtime.poolStatus().available).toBe(programmers);
  });
});
