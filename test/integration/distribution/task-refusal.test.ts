/**
 * The central process sends task messages unchecked (the worker judges them): a task message a
 * worker refuses fails the attempt waiting for it at once, with the refusal naming the field,
 * instead of hanging until its timeout. A real worker (startWorker, offline model), a real
 * nats-server, journal and git; the central side is remote-programmers.ts (central-harness.ts).
 */
import { describe, expect, it } from 'vitest';
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
