/**
 * `pas worker` whose start fails after it registered, heartbeated and opened its LLM gateway (the
 * broker refuses a programmer's work-queue consumer): it must not live on heartbeating as if it ran
 * its programmers. A real `pas worker` process and the central process's real registration
 * (worker-liveness.ts, owners KV).
 *
 * `pas up` with `distribution` failing to start (its journal cannot be opened): what started (the
 * NATS link, admissions, the results consumer) stops and the process exits with the coded error.
 *
 * The central process stopping (pas up's shutdown: runtime.stop, then the distribution): the
 * cluster's traffic ends before the journal closes. No worker is admitted to call a model once the
 * journal is closed, and a spend report that arrives then stays un-acked in JetStream and is booked
 * once, at the next start. The real composition (startDistribution, createRuntime with the default
 * services wrapped) on a real nats-server and SQLite journal; the worker is a NATS client speaking
 * the real messages.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { loadConfig, type PasConfig } from '../../../src/config/load-config.ts';
import { startDistribution } from '../../../src/distribution/central-service.ts';
import { openLink, type DistLink } from '../../../src/distribution/link.ts';
import { watchWorkers, type WorkerLiveness } from '../../../src/distribution/worker-liveness.ts';
import { decodeMessage, encodeMessage } from '../../../src/distribution/messages.ts';
import { utcDay } from '../../../src/llm/spend-store.ts';
import { createRuntime } from '../../../src/runtime/create-runtime.ts';
import { buildTopology } from '../../../src/runtime/topology.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { natsFileSuite } from '../../support/nats-file-suite.ts';
import { runPasToExit } from '../../support/pas-process.ts';
import { freePortOffset } from '../../support/ports.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { memoryLogger, settled } from './central-harness.ts';

const FREE = 'ollama/qwen2.5-coder:7b-instruct';
const suite = natsFileSuite();
const { cleanups } = suite;

async function startCentral(config: PasConfig, dataDir: string) {
  const logs: Array<Record<string, unknown>> = [];
  const logger = memoryLogger(logs, 'info');
  const distribution = (await startDistribution(config, logger))!;
  const runtime = createRuntime({ config, dataDir, logger, services: distribution.wrapServices(createDefaultServices({ offline: true })) });
  distribution.attach(runtime);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await runtime.stop();
    await distribution.stop();
  };
  cleanups.push(stop);
  return { runtime, distribution, logs, stop };
}

describe('the central process stopping', () => {
  it('answers no admission and takes no spend once its journal is closed; a spend that arrives then is booked once at the next start', async () => {
    const cfg = tempConfig('pas-central-stop-');
    cleanups.push(() => cfg.cleanup());
    cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'host'], 'w1'));
    cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: suite.server.url, prefix: 'centralstop', ack_wait_ms: 1_000, request_timeout_ms: 2_000 })));
    const config = loadConfig(cfg.dir);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-central-stop-data-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // The worker's side of the broker.
    const worker: DistLink = await openLink(config.pas.distribution!, 'worker-test');
    cleanups.push(() => worker.close());
    const ask = (callId: string) =>
      worker.nats.nc.request(worker.names.subjects.breakerProbe, encodeMessage('pas.v1.breaker', { kind: 'pas.v1.breaker', op: 'probe', call_id: callId, worker_id: 'w1', model: FREE, at: new Date().toISOString() }), { timeout: 2_000 });

    const first = await startCentral(config, dataDir);
    // The central's subscription reaches the broker a moment after it starts: ask until it serves.
    const served = async () => {
      for (let tries = 1; ; tries++) {
        try {
          return await ask('w1.before');
        } catch (err) {
          if (tries >= 100 || !String((err as Error).message).includes('no responders')) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    expect(decodeMessage('pas.v1.breaker_reply', (await served()).data)).toMatchObject({ allow: true });

    await first.runtime.stop();
    // The journal is closed: a worker asking now is not admitted (no answer at all: nobody serves the subject).
    const late = await ask('w1.after').then(
      (reply) => decodeMessage('pas.v1.breaker_reply', reply.data),
      (err: Error) => err,
    );
    expect(late).toBeInstanceOf(Error);
    // A spend that arrives now is not taken: it waits on the broker.
    const day = utcDay(Date.now());
    await worker.nats.js.publish(worker.names.subjects.spend('w1'), encodeMessage('pas.v1.spend', { kind: 'pas.v1.spend', call_id: 'w1.during-stop', worker_id: 'w1', model: 'openai/gpt-4o', tokens: { input: 10, output: 5 }, cost_usd: 0.25, at: new Date().toISOString() }), { msgID: 'spend.w1.during-stop' });
    await first.distribution.stop();
    expect(first.logs.filter((e) => (e.err as { code?: string } | undefined)?.code === 'PAS_ERR_JOURNAL')).toEqual([]);

    const second = await startCentral(config, dataDir);
    const booked = async () => {
      while (second.runtime.journal.spendStore().spent(day) < 0.25) await new Promise((r) => setTimeout(r, 50));
    };
    await settled(booked(), 'the spend reported during the stop, booked at the next start', 20_000);
    await second.stop();
    const again = await startCentral(config, dataDir);
    expect(again.runtime.journal.spendStore().spent(day)).toBe(0.25);
  }, 60_000);
});

describe('pas up with distribution that cannot start', () => {
  it('stops its NATS link and exits 1 with PAS_ERR_JOURNAL when its journal cannot be opened (a newer schema)', async () => {
    const cfg = tempConfig('pas-central-nostart-');
    cleanups.push(() => cfg.cleanup());
    cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'host'], 'w1'));
    cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: suite.server.url, prefix: 'centralnostart' })));
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-central-nostart-data-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // A journal written by a newer PAS: this build refuses it.
    const db = new Database(path.join(dataDir, 'pas.db'));
    db.pragma('user_version = 9999');
    db.close();
    const top = buildTopology(loadConfig(cfg.dir));
    const portOffset = await freePortOffset([top.gatewayPort, ...top.agents.map((a) => a.port)], 100, { belowEphemeral: true });
    const { code, output } = await runPasToExit(['up', '--offline', '--quiet', '--port-offset', String(portOffset), '--data-dir', dataDir], { configDir: cfg.dir, timeoutMs: 45_000 });
    expect(output).toContain('PAS_ERR_JOURNAL');
    expect(output).toContain('newer than this build');
    expect(code).toBe(1);
  }, 60_000);
});

describe('pas worker whose start fails after it registered', () => {
  it('undoes what it started (heartbeats, LLM gateway, subscriptions, its programmers\' ownership, the NATS connection) and exits 1 with a coded error naming the refused consumer', async () => {
    const cfg: TempConfig = tempConfig('pas-worker-start-');
    cleanups.push(() => cfg.cleanup());
    cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'host'], 'w1'));
    cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: suite.server.url, prefix: 'startfail', heartbeat_ms: 100, offline_after_ms: 5_000 })));
    const config = loadConfig(cfg.dir);
    const prog = config.programmers[0]!.id;
    const link: DistLink = await openLink(config.pas.distribution!, 'central-test');
    cleanups.push(() => link.close());
    const logs: Array<Record<string, unknown>> = [];
    const liveness: WorkerLiveness = await watchWorkers({ link, config, logger: memoryLogger(logs), onOffline: () => undefined });
    cleanups.push(() => liveness.stop());
    // Another consumer already takes this programmer's tasks: a work-queue stream refuses a second one on the same subject.
    await link.nats.jsm.consumers.add(link.names.taskStream, { durable_name: 'intruder', filter_subject: link.names.subjects.task(prog), ack_policy: 'explicit' as never });
    let beats = 0;
    const heard = link.nats.nc.subscribe(link.names.subjects.heartbeat('w1'), { callback: () => void beats++ });
    cleanups.push(() => heard.unsubscribe());

    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-worker-start-data-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const { code, output } = await runPasToExit(['worker', '--id', 'w1', '--offline', '--data-dir', dataDir, '--quiet'], { configDir: cfg.dir, timeoutMs: 45_000 });

    // It did start: it heartbeated and the central process gave it its programmer.
    expect(beats).toBeGreaterThan(0);
    expect(logs.some((e) => e.msg === 'worker registered' && (e.accepted as string[]).includes(prog))).toBe(true);
    expect(code).toBe(1);
    expect(output).toContain('pas worker: PAS_ERR_DIST_BROKER:');
    expect(output).toContain(`prog-${prog}`);
    expect(output).not.toContain('is up');
    // The programmer was given back: the central process sees no owner, so it dispatches nothing to it.
    const owner = await link.owners.get(prog);
    expect(owner === null || owner.operation !== 'PUT').toBe(true);
  }, 60_000);
});
