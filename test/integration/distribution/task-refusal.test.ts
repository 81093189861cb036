/**
 * The central process sends task messages unchecked (the worker judges them): a task message a
 * worker refuses fails the attempt waiting for it at once, with the refusal naming the field,
 * instead of hanging until its timeout. A real worker (startWorker, offline model), a real
 * nats-server, journal and git; the central side is remote-programmers.ts (central-harness.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { decodeMessage, encodeMessage } from '../../../src/distribution/messages.ts';
import { startWorker, type Worker } from '../../../src/distribution/worker.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { memoryLogger, settled, startBench, type Bench } from './central-harness.ts';

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
  cfg = tempConfig('pas-task-refusal-');
  const b = (bench = await startBench(server.url, { remoteIds: [PROG], llmFor: loadConfig(cfg.dir) }));
  cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'host'], 'w1'));
  cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: server.url, prefix: b.link.names.prefix, heartbeat_ms: 200, offline_after_ms: 5_000 })));
  const config = loadConfig(cfg.dir);
  // The central process's answer to a registration: the worker owns its programmer.
  b.link.nats.nc.subscribe(b.link.names.subjects.register, {
    callback: (err, msg) => {
      if (err) return;
      const req = decodeMessage('pas.v1.register', msg.data);
      msg.respond(encodeMessage('pas.v1.registered', { kind: 'pas.v1.registered', worker_id: req.worker_id, accepted: req.programmer_ids, refused: [], heartbeat_ms: 200, offline_after_ms: 5_000 }));
    },
  });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-task-refusal-data-'));
  dirs.push(dataDir);
  const logs: Array<Record<string, unknown>> = [];
  worker = await startWorker({ config, workerId: 'w1', dataDir, logger: memoryLogger(logs, 'info'), offline: true, editDelayMs: 50 });
  return { b, logs };
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
