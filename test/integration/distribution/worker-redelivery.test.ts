/**
 * A task message delivered to `pas worker` again (an ack lost in a broker restart) while the
 * central process is down: the result the central process applies later is the first one, whole.
 * A real worker (startWorker, offline model), a real nats-server, journal and git; the central side
 * is remote-programmers.ts (central-harness.ts).
 */
import { describe, expect, it } from 'vitest';
import { decodeMessage } from '../../../src/distribution/messages.ts';
import { gitOut, waitFor } from '../../support/git-fixtures.ts';
import { settled } from './central-harness.ts';
import { workerSuite, type WorkerSetup } from './worker-harness.ts';

const PROG = 'Prog-001';
const setup = workerSuite(PROG, 'worker-redelivery', 300);
type Setup = WorkerSetup;

/** Runs a task on the worker while the central process is down, then delivers the task message again. */
async function runThenRedeliver(s: Setup, taskId: string, between?: () => Promise<void>) {
  const { b, logs } = s;
  const published: Uint8Array[] = [];
  b.link.nats.nc.subscribe(b.link.names.subjects.task(PROG), {
    callback: (err, msg) => {
      if (!err) published.push(msg.data);
    },
  });
  const task = b.addTask(taskId);
  void b.execute(task, undefined, PROG);
  expect(await waitFor(() => logs.some((l) => l.msg === 'task received' && l.taskId === taskId), 15_000)).toBe(true);
  await b.remote.stop(); // the central process is down from here
  expect(await waitFor(() => logs.some((l) => l.msg === 'result sent' && l.taskId === taskId), 15_000)).toBe(true);
  await between?.();
  // The broker brings the task message back (its ack was lost in a restart).
  const data = published[0]!;
  const attempt = decodeMessage('pas.v1.task', data).attempt_id;
  await b.link.nats.js.publish(b.link.names.subjects.task(PROG), data, { msgID: `${attempt}-again` });
  const answered = () => logs.filter((l) => l.taskId === taskId && (l.msg === 'result sent' || l.msg === 'task delivered again: its result is sent again, not run twice')).length >= 2;
  expect(await waitFor(answered, 15_000)).toBe(true);
  return task;
}

describe('pas worker, a task whose attempt the broker lost', () => {
  it('a task whose attempt record the broker lost (a kill -9 right after the write) is answered with a retryable failure, so the central process re-dispatches it instead of waiting forever', async () => {
    const s = await setup();
    await s.start();
    const task = s.b.addTask('k1');
    // The central process's write of the attempt is acknowledged, then lost with the broker.
    const attempts = s.b.link.attempts as { put: (...args: unknown[]) => Promise<number> };
    const put = attempts.put.bind(attempts);
    attempts.put = async () => 0;
    const result = s.b.execute(task, undefined, PROG);
    const done = await settled(result, 'execute', 20_000);
    attempts.put = put;
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'PAS_ERR_DIST_BROKER', retryable: true });
    expect(s.logs.some((l) => l.taskId === 'k1' && l.msg === 'result sent')).toBe(false);
  });
});

describe('pas worker, a task delivered again', () => {
  it('a task message delivered twice to the same worker is run once: the second delivery gets the first result again', async () => {
    const s = await setup();
    await s.start();
    const task = await runThenRedeliver(s, 'r1');
    expect(s.logs.filter((l) => l.msg === 'result sent' && l.taskId === 'r1')).toHaveLength(1);
    await s.b.restart();
    const done = await settled(s.b.execute(task, undefined, PROG), 're-dispatch', 20_000);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('completed');
    expect(await gitOut(s.b.repo.repo, 'rev-parse', 'refs/heads/pas/job-r1/r1')).toBe(done.commit);
  });

  it('a worker restarted with the same id that runs a task delivered again does not spoil the first result: the central process applies it whole', async () => {
    const s = await setup();
    const first = await s.start();
    const task = await runThenRedeliver(s, 'r2', async () => {
      await first.stop();
      // Commits carry their second: the run again makes another commit than the first.
      await new Promise((r) => setTimeout(r, 1_100));
      await s.start();
    });
    const firstResult = s.logs.find((l) => l.msg === 'result sent' && l.taskId === 'r2');
    await s.b.restart();
    const done = await settled(s.b.execute(task, undefined, PROG), 're-dispatch', 20_000);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('completed');
    expect(firstResult).toBeDefined();
    expect(await gitOut(s.b.repo.repo, 'rev-parse', 'refs/heads/pas/job-r2/r2')).toBe(done.commit);
  });
});

describe('pas worker, stopping', () => {
  it('leaves no timer of its own behind once stopped, so a stopped worker process exits at once', async () => {
    const s = await setup();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const w = await s.start();
    await w.stop();
    expect(timers()).toBeLessThanOrEqual(before);
  }, 30_000);
});
