/**
 * One worker id, one process, told apart by pid and a random instance id: the central process's
 * answer to registrations of two processes with the same --id and the same pid (pid 1 in two
 * containers). Real nats-server; the worker side is scripted.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { openLink, type DistLink } from '../../../src/distribution/link.ts';
import { decodeMessage, encodeMessage } from '../../../src/distribution/messages.ts';
import { thisBuild } from '../../../src/distribution/protocol.ts';
import { watchWorkers } from '../../../src/distribution/worker-liveness.ts';
import { natsFileSuite } from '../../support/nats-file-suite.ts';
import { tempConfig } from '../../support/test-config.ts';
import { memoryLogger } from './central-harness.ts';

const HEARTBEAT_MS = 100;
const OFFLINE_AFTER_MS = 700;

const suite = natsFileSuite();
const { cleanups } = suite;

async function central(prefix: string) {
  const cfg = tempConfig('pas-identity-');
  cleanups.push(() => cfg.cleanup());
  cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'host'], 'w1'));
  cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: suite.server.url, prefix, heartbeat_ms: HEARTBEAT_MS, offline_after_ms: OFFLINE_AFTER_MS })));
  const config = loadConfig(cfg.dir);
  const link: DistLink = await openLink(config.pas.distribution!, 'central-identity-test');
  cleanups.push(() => link.close());
  const liveness = await watchWorkers({ link, config, logger: memoryLogger([]), onOffline: () => undefined });
  cleanups.push(() => liveness.stop());
  const prog = config.programmers[0]!.id;
  const build = thisBuild();
  /** A scripted worker process `w1` with pid 1 and its own instance id. */
  const process = (instance: string) => {
    let seq = 0;
    const beat = () => link.nats.nc.publish(link.names.subjects.heartbeat('w1'), encodeMessage('pas.v1.heartbeat', { kind: 'pas.v1.heartbeat', worker_id: 'w1', seq: seq++, pid: 1, instance, protocol: build.protocol, sent_at: new Date().toISOString(), running: [] }));
    let timer: NodeJS.Timeout | undefined;
    return {
      beating() {
        beat();
        timer = setInterval(beat, HEARTBEAT_MS);
        cleanups.push(() => clearInterval(timer));
      },
      silent: () => clearInterval(timer),
      async register() {
        const reply = await link.nats.nc.request(link.names.subjects.register, encodeMessage('pas.v1.register', { kind: 'pas.v1.register', worker_id: 'w1', host_name: 'container', programmer_ids: [prog], capabilities: [], pid: 1, instance, version: build.version, protocol: build.protocol, started_at: new Date().toISOString() }), { timeout: 5_000 });
        return decodeMessage('pas.v1.registered', reply.data);
      },
    };
  };
  return { prog, process };
}

describe('two processes of one worker id with the same pid (two containers)', () => {
  it('refuses the second for now while the first heartbeats, saying the id is in use; takes it once the first has been silent for offline_after_ms (a restart)', async () => {
    const { prog, process } = await central('ident1');
    const first = process('a');
    first.beating();
    expect((await first.register()).accepted).toEqual([prog]);
    const second = process('b');
    second.beating();
    const refused = await second.register();
    expect(refused.accepted).toEqual([]);
    expect(refused.refused[0]!.error).toMatchObject({ code: 'PAS_ERR_DIST_OWNER_TAKEN', retryable: true });
    expect(refused.refused[0]!.error.message).toMatch(/worker id w1 is in use by a live process \(pid 1\)/);
    // The first process dies: once it has been silent for offline_after_ms the second is its restart.
    first.silent();
    await new Promise((r) => setTimeout(r, OFFLINE_AFTER_MS + 2 * HEARTBEAT_MS));
    expect((await second.register()).accepted).toEqual([prog]);
  });
});
