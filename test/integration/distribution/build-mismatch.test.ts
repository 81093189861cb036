/**
 * A worker and a central process of different PAS builds never meet mid-run: the central process
 * refuses a worker whose `pas.v1.*` protocol revision differs from its own (or that announces
 * none) at registration, before it takes any task, and ignores its heartbeats. A real nats-server,
 * the central process's real registration (worker-liveness.ts, owners KV) and a real `pas worker`
 * process; the central side is given another build's identity (the one thing a test cannot get
 * from a second checkout), the old worker is a NATS client sending what a build from before
 * revisions sends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, type PasConfig } from '../../../src/config/load-config.ts';
import { openLink, type DistLink } from '../../../src/distribution/link.ts';
import { decodeMessage, encodeMessage } from '../../../src/distribution/messages.ts';
import { thisBuild, type BuildId } from '../../../src/distribution/protocol.ts';
import { startWorker } from '../../../src/distribution/worker.ts';
import { watchWorkers, type WorkerLiveness } from '../../../src/distribution/worker-liveness.ts';
import { exampleTask } from '../../support/distribution-fixtures.ts';
import { natsFileSuite } from '../../support/nats-file-suite.ts';
import { runPasToExit } from '../../support/pas-process.ts';
import { tempConfig } from '../../support/test-config.ts';
import { memoryLogger, settled } from './central-harness.ts';

const OTHER: BuildId = { version: '9.9.9', protocol: '0123456789abcdef' };
const suite = natsFileSuite();
const { cleanups } = suite;

/** A configs folder whose first programmer is hosted by worker w1, and the central process's registration on it. */
async function central(prefix: string, build?: BuildId) {
  const cfg = tempConfig(`pas-build-${prefix}-`);
  cleanups.push(() => cfg.cleanup());
  cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'host'], 'w1'));
  cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: suite.server.url, prefix, heartbeat_ms: 100, offline_after_ms: 5_000 })));
  const config = loadConfig(cfg.dir);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `pas-build-${prefix}-data-`));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  return { cfg, config, prog: config.programmers[0]!.id, dataDir, ...(await centralOn(config, build)) };
}

/** A central process's registration and liveness (of `build`) on `config`'s broker and prefix; `stop` ends it as a stopped central process would. */
async function centralOn(config: PasConfig, build?: BuildId) {
  const link: DistLink = await openLink(config.pas.distribution!, 'central-test');
  const logs: Array<Record<string, unknown>> = [];
  const liveness: WorkerLiveness = await watchWorkers({ link, config, logger: memoryLogger(logs, 'info'), onOffline: () => undefined, ...(build ? { build } : {}) });
  const stop = async () => {
    liveness.stop();
    await link.close();
  };
  cleanups.push(stop);
  return { link, logs, liveness, stop };
}

const mismatchLogs = (logs: Array<Record<string, unknown>>, msg: string) => logs.filter((e) => e.code === 'PAS_ERR_DIST_VERSION_MISMATCH' && String(e.msg).startsWith(msg));
const errMessage = (e: Record<string, unknown> | undefined) => String((e?.err as { message?: string } | undefined)?.message);

describe('a worker of another PAS build', () => {
  it('is refused at registration: pas worker exits 1 naming both builds and what to do, owns nothing, is never online and leaves its queued task untaken', async () => {
    const c = await central('mismatch', OTHER);
    // A task already waits on the work queue for the worker's programmer.
    await c.link.nats.js.publish(c.link.names.subjects.task(c.prog), encodeMessage('pas.v1.task', { ...exampleTask, programmer_id: c.prog }), { msgID: 'queued-before' });

    const { code, output } = await runPasToExit(['worker', '--id', 'w1', '--offline', '--data-dir', c.dataDir, '--quiet'], { configDir: c.cfg.dir, timeoutMs: 45_000 });

    expect(code).toBe(1);
    expect(output).toContain('pas worker: PAS_ERR_DIST_VERSION_MISMATCH: worker w1 runs PAS');
    expect(output).toContain(`(protocol ${thisBuild().protocol})`);
    expect(output).toContain('the central process runs PAS 9.9.9 (protocol 0123456789abcdef)');
    expect(output).toContain('Run the same PAS build on both hosts');
    expect(output).not.toContain('is up');
    // The central process logged the same, once for the registration and once for the worker's heartbeats.
    const refused = mismatchLogs(c.logs, 'registration refused');
    expect(refused).toHaveLength(1);
    expect(errMessage(refused[0])).toContain(`protocol ${thisBuild().protocol}`);
    expect(errMessage(refused[0])).toContain('PAS 9.9.9 (protocol 0123456789abcdef)');
    expect(mismatchLogs(c.logs, 'heartbeats of a worker of another PAS build ignored')).toHaveLength(1);
    // It owns nothing, was never online, and nothing took the queued task.
    const owner = await c.link.owners.get(c.prog);
    expect(owner === null || owner.operation !== 'PUT').toBe(true);
    expect(c.liveness.isOnline('w1')).toBe(false);
    expect((await c.link.nats.jsm.streams.info(c.link.names.taskStream)).state.messages).toBe(1);
    const consumers = [];
    for await (const info of c.link.nats.jsm.consumers.list(c.link.names.taskStream)) consumers.push(info.name);
    expect(consumers).toEqual([]);
  }, 60_000);

  it('from before protocol revisions gets the same message under a code its schema knows, owns nothing, and its heartbeats are ignored', async () => {
    const c = await central('oldworker');
    const old: DistLink = await openLink(c.config.pas.distribution!, 'old-worker');
    cleanups.push(() => old.close());
    // What a build from before revisions sends: version '1', no protocol.
    const beat = (seq: number) => old.nats.nc.publish(old.names.subjects.heartbeat('w1'), encodeMessage('pas.v1.heartbeat', { kind: 'pas.v1.heartbeat', worker_id: 'w1', seq, pid: 4242, sent_at: new Date().toISOString(), running: [] }));
    beat(0);
    const reply = await old.nats.nc.request(
      old.names.subjects.register,
      encodeMessage('pas.v1.register', { kind: 'pas.v1.register', worker_id: 'w1', host_name: 'old-box', programmer_ids: [c.prog], capabilities: [], pid: 4242, version: '1', started_at: new Date().toISOString() }),
      { timeout: 5_000 },
    );
    for (let seq = 1; seq <= 3; seq++) beat(seq);
    await old.nats.nc.flush();
    // `pas.v1.registered` is unchanged since that build: the answer is one its strict schema takes.
    const registered = decodeMessage('pas.v1.registered', reply.data);
    expect(registered.accepted).toEqual([]);
    expect(registered.refused).toHaveLength(1);
    expect(registered.refused[0]).toMatchObject({ programmer_id: c.prog, error: { code: 'PAS_ERR_DIST_BAD_MESSAGE' } });
    const message = registered.refused[0]!.error.message;
    expect(message).toContain('worker w1 runs an older PAS build (version field "1") that announces no protocol revision');
    expect(message).toContain(`the central process runs PAS ${thisBuild().version} (protocol ${thisBuild().protocol})`);
    // The central process's own log: the mismatch code and the same message, never a schema dump.
    await settled(
      (async () => {
        while (mismatchLogs(c.logs, 'heartbeats of a worker of another PAS build ignored').length === 0) await new Promise((r) => setTimeout(r, 20));
      })(),
      'the ignored heartbeats logged',
    );
    expect(mismatchLogs(c.logs, 'registration refused').map(errMessage)).toEqual([message]);
    expect(mismatchLogs(c.logs, 'heartbeats of a worker of another PAS build ignored')).toHaveLength(1);
    expect(c.logs.filter((e) => e.msg === 'bad heartbeat refused' || e.msg === 'registration refused')).toEqual([]);
    expect(c.liveness.isOnline('w1')).toBe(false);
    const owner = await c.link.owners.get(c.prog);
    expect(owner === null || owner.operation !== 'PUT').toBe(true);
  }, 30_000);
});

describe('a running worker whose central process is restarted with another PAS build on the same broker', () => {
  it('hears at its next heartbeat that it is not taken, logs PAS_ERR_DIST_VERSION_MISMATCH naming both builds and pas worker exits 1', async () => {
    const a = await central('restarted');
    const exited = runPasToExit(['worker', '--id', 'w1', '--offline', '--data-dir', a.dataDir, '--json'], { configDir: a.cfg.dir, timeoutMs: 45_000 });
    await settled(
      (async () => {
        while (!a.logs.some((e) => e.msg === 'worker registered' && (e.accepted as string[]).includes(a.prog))) await new Promise((r) => setTimeout(r, 20));
      })(),
      'the worker registered with central A',
    );
    // Central A stops; the broker keeps running, so the worker stays connected and never reconnects.
    await a.stop();
    const b = await centralOn(a.config, OTHER);

    const { code, output } = await exited;

    expect(code).toBe(1);
    expect(output).toContain('is up');
    expect(output).toContain('pas worker: PAS_ERR_DIST_VERSION_MISMATCH: worker w1 runs PAS');
    expect(output).toContain(`(protocol ${thisBuild().protocol})`);
    expect(output).toContain('the central process runs PAS 9.9.9 (protocol 0123456789abcdef)');
    // Its own log says why before it stops, with the same code.
    const said = output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(said.filter((e) => e.code === 'PAS_ERR_DIST_VERSION_MISMATCH' && String(e.msg).startsWith('the central process now runs another PAS build'))).toHaveLength(1);
    // Central B logged both the ignored heartbeats and the refused registration; the worker was never online there.
    expect(mismatchLogs(b.logs, 'heartbeats of a worker of another PAS build ignored')).toHaveLength(1);
    expect(mismatchLogs(b.logs, 'registration refused').length).toBeGreaterThanOrEqual(1);
    expect(b.liveness.isOnline('w1')).toBe(false);
  }, 60_000);
});

describe('a worker of this build', () => {
  it('is given its programmers and is online, as before', async () => {
    const c = await central('samebuild');
    const workerLogs: Array<Record<string, unknown>> = [];
    const worker = await startWorker({ config: c.config, workerId: 'w1', dataDir: c.dataDir, logger: memoryLogger(workerLogs, 'info'), offline: true });
    cleanups.push(() => worker.stop());
    expect(worker.programmers).toEqual([c.prog]);
    expect(c.liveness.isOnline('w1')).toBe(true);
    expect(await c.liveness.ownerOf(c.prog)).toBe('w1');
    const owner = await c.link.owners.get(c.prog);
    expect(owner?.operation).toBe('PUT');
    expect(c.logs.filter((e) => e.code === 'PAS_ERR_DIST_VERSION_MISMATCH')).toEqual([]);
  }, 30_000);
});
