/**
 * The central process sends task messages unchecked (the worker judges them): a task message a
 * worker refuses fails the attempt waiting for it at once, with the refusal naming the field,
 * instead of hanging until its timeout. A real worker (startWorker, offline model), a real
 * nats-server, journal and git; the central side is remote-programmers.ts (central-harness.ts).
 */
import { describe, expect, it } from 'vitest';
import { toJson, type AttemptRecord } from '../../../src/distribution/link.ts';
import { settled } from './central-harness.ts';
import { workerSuite } from './worker-harness.ts';

const PROG = 'Prog-001';
const suite = workerSuite(PROG, 'task-refusal', 50);

async function setup() {
  const s = await suite();
  await s.start();
  return s;
}

describe('a task message the worker refuses', () => {
  it('fails the attempt waiting for it at once with PAS_ERR_DIST_BAD_MESSAGE naming the field, and nothing is run', async () => {
    const { b, logs } = await setup();
    // A capability name longer than the task message's schema takes: only the worker checks it.
    const task = b.addTask('bad1', { requires: ['node', 'x'.repeat(65)] });
    const done = await settled(b.execute(task, undefined, PROG), 'execute', 20_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'PAS_ERR_DIST_BAD_MESSAGE', details: { kind: 'pas.v1.task', field: 'task.requires[1]' } });
    expect(logs.some((l) => l.msg === 'bad task message refused')).toBe(true);
    expect(logs.some((l) => l.msg === 'task received' || l.msg === 'result sent')).toBe(false);
  });
});

describe('a refused task message that is not the current attempt, or is huge', () => {
  it('is dropped without an answer when another attempt of its task is current, and the worker goes on taking tasks', async () => {
    const { b, logs } = await setup();
    const results: string[] = [];
    b.link.nats.nc.subscribe(b.link.names.subjects.result(PROG), { callback: (_err, msg) => void results.push(new TextDecoder().decode(msg.data)) });
    // A malformed message naming an attempt of a task whose current attempt is another (forged, or
    // long superseded), with thousands of unknown fields the schema's issues would quote.
    const record: AttemptRecord = { attemptId: 'current-attempt-1', programmerId: PROG, worker: 'w1', journalAttempt: 1, repo: '/nowhere', repoKey: 'k', dispatchedAt: Date.now() };
    await b.link.attempts.put('task-x', toJson(record));
    const junk = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`unknown_field_${i}`, i]));
    const forged = { kind: 'pas.v1.task', attempt_id: 'forged-attempt-1', job_id: 'job-x', task_id: 'task-x', ...junk };
    await b.link.nats.js.publish(b.link.names.subjects.task(PROG), new TextEncoder().encode(JSON.stringify(forged)));
    await expect.poll(() => logs.some((l) => l.msg === 'bad task message refused'), { timeout: 10_000 }).toBe(true);
    // The worker is alive and takes the next task.
    const task = b.addTask('good1');
    const done = await settled(b.execute(task, undefined, PROG), 'execute', 20_000);
    expect(done.status).toBe('completed');
    expect(results.some((r) => r.includes('forged-attempt-1'))).toBe(false);
  });
});
