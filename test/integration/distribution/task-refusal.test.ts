/**
 * The central process sends task messages unchecked (the worker judges them): a task message a
 * worker refuses fails the attempt waiting for it at once, with the refusal naming the field,
 * instead of hanging until its timeout. A real worker (startWorker, offline model), a real
 * nats-server, journal and git; the central side is remote-programmers.ts (central-harness.ts).
 */
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../../../src/distribution/worker.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';
import type { TempConfig } from '../../support/test-config.ts';
import { settled, type Bench } from './central-harness.ts';
import { setupWorker } from './worker-harness.ts';

const PROG = 'Prog-001';
let server: NatsServerHandle;
let bench: Bench | undefined;
let cfg: TempConfig | undefined;
let worker: Worker | undefined;
const dirs: string[] = [];

beforeAll(async () => {
  server = await startNatsServer();
}, 30_000);

afterEach(async () => {
  await worker?.stop().catch(() => undefined);
  worker = undefined;
  await bench?.close();
  bench = undefined;
  cfg?.cleanup();
  cfg = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

afterAll(async () => {
  await server?.close();
});

async function setup(): Promise<{ b: Bench; logs: Array<Record<string, unknown>> }> {
  const s = await setupWorker(server.url, PROG, 'task-refusal', 50);
  bench = s.b;
  cfg = s.cfg;
  dirs.push(s.dataDir);
  worker = await s.start();
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
