/**
 * A real `pas worker` (startWorker, offline model) hosting one programmer, with the central side
 * of central-harness.ts answering its registration (the worker owns the programmer).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config/load-config.ts';
import { decodeMessage, encodeMessage } from '../../../src/distribution/messages.ts';
import { startWorker, type Worker } from '../../../src/distribution/worker.ts';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { memoryLogger, startBench, type Bench } from './central-harness.ts';

export interface WorkerSetup {
  b: Bench;
  cfg: TempConfig;
  /** The worker's data dir (the caller removes it). */
  dataDir: string;
  logs: Array<Record<string, unknown>>;
  /** Starts the worker (again: the same id and data dir); each offline edit takes `editDelayMs`. */
  start(): Promise<Worker>;
}

export async function setupWorker(natsUrl: string, programmerId: string, name: string, editDelayMs: number): Promise<WorkerSetup> {
  const cfg = tempConfig(`pas-${name}-`);
  const b = await startBench(natsUrl, { remoteIds: [programmerId], llmFor: loadConfig(cfg.dir) });
  cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'host'], 'w1'));
  cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: natsUrl, prefix: b.link.names.prefix, heartbeat_ms: 200, offline_after_ms: 5_000 })));
  const config = loadConfig(cfg.dir);
  // The central process's answer to a registration: the worker owns its programmer.
  b.link.nats.nc.subscribe(b.link.names.subjects.register, {
    callback: (err, msg) => {
      if (err) return;
      const req = decodeMessage('pas.v1.register', msg.data);
      msg.respond(encodeMessage('pas.v1.registered', { kind: 'pas.v1.registered', worker_id: req.worker_id, accepted: req.programmer_ids, refused: [], heartbeat_ms: 200, offline_after_ms: 5_000 }));
    },
  });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `pas-${name}-data-`));
  const logs: Array<Record<string, unknown>> = [];
  const logger = memoryLogger(logs, 'info');
  return { b, cfg, dataDir, logs, start: () => startWorker({ config, workerId: 'w1', dataDir, logger, offline: true, editDelayMs }) };
}

/**
 * A test file's suite of such workers: one nats-server for the file, and after each test its
 * workers stopped, its central side closed, its configs and data dirs removed. Returns the setup
 * of one test (its workers are stopped after it).
 */
export function workerSuite(programmerId: string, name: string, editDelayMs: number): () => Promise<WorkerSetup> {
  let server: NatsServerHandle | undefined;
  const made: WorkerSetup[] = [];
  const workers: Worker[] = [];
  beforeAll(async () => {
    server = await startNatsServer();
  }, 30_000);
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop().catch(() => undefined);
    for (const s of made.splice(0)) {
      await s.b.close();
      s.cfg.cleanup();
      rmSync(s.dataDir, { recursive: true, force: true });
    }
  });
  afterAll(async () => {
    await server?.close();
  });
  return async () => {
    const s = await setupWorker(server!.url, programmerId, name, editDelayMs);
    made.push(s);
    return {
      ...s,
      async start() {
        const w = await s.start();
        workers.push(w);
        // Stopped by the test: not stopped again after it.
        return { ...w, stop: () => (workers.includes(w) && workers.splice(workers.indexOf(w), 1), w.stop()) };
      },
    };
  };
}
