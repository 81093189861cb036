/** A `pas worker` started before any central process listens: it says so once, waits, and registers when one does. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { decodeMessage, encodeMessage } from '../../../src/distribution/messages.ts';
import { startWorker } from '../../../src/distribution/worker.ts';
import { waitFor } from '../../support/git-fixtures.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';
import { tempConfig } from '../../support/test-config.ts';
import { memoryLogger, startBench } from './central-harness.ts';

let server: NatsServerHandle;
beforeAll(async () => {
  server = await startNatsServer();
}, 30_000);
afterAll(async () => {
  await server?.close();
});

describe('a worker with no central process yet', () => {
  it('says once that no central process listens (not every try, not as a crash), registers as soon as one answers, and takes the broker\'s "no responders" to a heartbeat for nothing', async () => {
    const cfg = tempConfig('pas-no-central-');
    const b = await startBench(server.url, { remoteIds: ['Prog-001'] });
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-no-central-data-'));
    try {
      cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'host'], 'w1'));
      cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: server.url, prefix: b.link.names.prefix, heartbeat_ms: 200, offline_after_ms: 5_000 })));
      const logs: Array<Record<string, unknown>> = [];
      const starting = startWorker({ config: loadConfig(cfg.dir), workerId: 'w1', dataDir, logger: memoryLogger(logs, 'info'), offline: true });
      const said = () => logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('no central process listens yet'));
      // Several tries go unanswered meanwhile (they start 500 ms apart).
      expect(await waitFor(() => said().length > 0, 10_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 2_500));
      expect(said()).toHaveLength(1);
      expect(logs.filter((l) => (l.err as { code?: string } | undefined)?.code === 'PAS_ERR_EXECUTOR_CRASHED')).toEqual([]);
      // A central process comes up and answers.
      b.link.nats.nc.subscribe(b.link.names.subjects.register, {
        callback: (err, msg) => {
          if (err) return;
          const req = decodeMessage('pas.v1.register', msg.data);
          msg.respond(encodeMessage('pas.v1.registered', { kind: 'pas.v1.registered', worker_id: req.worker_id, accepted: req.programmer_ids, refused: [], heartbeat_ms: 200, offline_after_ms: 5_000 }));
        },
      });
      const worker = await starting;
      expect(logs.some((l) => l.msg === 'worker registered')).toBe(true);
      // Nothing here takes its heartbeats (the broker answers each with "no responders"): that is not a refusal to hear.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('the central process did not take a heartbeat'))).toEqual([]);
      await worker.stop();
    } finally {
      await b.close();
      cfg.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
