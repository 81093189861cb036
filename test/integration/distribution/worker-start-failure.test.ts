/**
 * `pas worker` whose start fails after it registered, heartbeated and opened its LLM gateway (the
 * broker refuses a programmer's work-queue consumer): it must not live on heartbeating as if it ran
 * its programmers. A real `pas worker` process, a real nats-server and the central process's real
 * registration (worker-liveness.ts, owners KV).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { openLink, type DistLink } from '../../../src/distribution/link.ts';
import { watchWorkers, type WorkerLiveness } from '../../../src/distribution/worker-liveness.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { memoryLogger, settled } from './central-harness.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let server: NatsServerHandle;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  server = await startNatsServer();
}, 30_000);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await server?.close();
});

describe('pas worker whose start fails after it registered', () => {
  it('undoes what it started (heartbeats, LLM gateway, subscriptions, its programmers\' ownership, the NATS connection) and exits 1 with a coded error naming the refused consumer', async () => {
    const cfg: TempConfig = tempConfig('pas-worker-start-');
    cleanups.push(() => cfg.cleanup());
    cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'host'], 'w1'));
    cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: server.url, prefix: 'startfail', heartbeat_ms: 100, offline_after_ms: 5_000 })));
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
    const child = spawn(process.execPath, ['bin/pas.mjs', 'worker', '--id', 'w1', '--offline', '--data-dir', dataDir, '--quiet'], { cwd: ROOT, env: { ...process.env, PAS_CONFIG_DIR: cfg.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const code = await settled(new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))), `pas worker (it should exit once its start failed; output so far:\n${output})`, 45_000);

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
