/**
 * One central process per broker and `distribution.prefix` (central-presence.ts): a second
 * `pas up` on the same prefix would register the same workers, race the first for their
 * programmers and fence its results, so its start is refused before it touches anything of the
 * prefix. The real composition's start (startDistribution, as `pas up` boots it) on a real
 * nats-server.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, type PasConfig } from '../../../src/config/load-config.ts';
import { claimCentral } from '../../../src/distribution/central-presence.ts';
import { startDistribution } from '../../../src/distribution/central-service.ts';
import { openLink } from '../../../src/distribution/link.ts';
import { decodeMessage, encodeMessage } from '../../../src/distribution/messages.ts';
import { isPasError } from '../../../src/errors.ts';
import { natsFileSuite } from '../../support/nats-file-suite.ts';
import { tempConfig } from '../../support/test-config.ts';
import { memoryLogger } from './central-harness.ts';

const suite = natsFileSuite();
const { cleanups } = suite;

function configFor(prefix: string): PasConfig {
  const cfg = tempConfig('pas-central-presence-');
  cleanups.push(() => cfg.cleanup());
  cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['programmers', 0, 'host'], 'w1'));
  cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: suite.server.url, prefix })));
  return loadConfig(cfg.dir);
}

async function start(config: PasConfig) {
  const distribution = (await startDistribution(config, memoryLogger([], 'info')))!;
  cleanups.push(() => distribution.stop());
  return distribution;
}

const refusal = (err: unknown) => (isPasError(err) ? { code: err.code, message: err.message } : err);

describe('one central process per broker and prefix', () => {
  it('refuses a second central process on the same prefix, naming the first, while the first keeps answering; another prefix starts', async () => {
    const config = configFor('presence1');
    const first = await start(config);
    const second = await startDistribution(config, memoryLogger([], 'info')).then(
      () => null,
      (err: unknown) => refusal(err),
    );
    expect(second).toMatchObject({ code: 'PAS_ERR_DIST_CENTRAL_IN_USE', message: expect.stringContaining(`another central process uses distribution prefix "presence1" on this broker (pid ${process.pid} on `) });
    expect((second as { message: string }).message).toContain('distribution.prefix of its own');
    // The refused start left nothing answering: the first alone answers the prefix's central subject.
    const asker = await openLink(config.pas.distribution!, 'asker');
    cleanups.push(() => asker.close());
    const me = { kind: 'pas.v1.central' as const, instance: 'ffffffffffffffff', pid: 1, host: 'asker', since: new Date().toISOString() };
    const reply = decodeMessage('pas.v1.central', (await asker.nats.nc.request(asker.names.subjects.central, encodeMessage('pas.v1.central', me), { timeout: 2_000 })).data);
    expect(reply.pid).toBe(process.pid);

    await start(configFor('presence2'));
    await first.stop();
    // Once the first stopped, the prefix is free again.
    await start(config);
  }, 30_000);

  it('lets exactly one of two central processes starting at the same moment on one prefix go on', async () => {
    const config = configFor('presence3');
    const links = await Promise.all([openLink(config.pas.distribution!, 'a'), openLink(config.pas.distribution!, 'b')]);
    for (const link of links) cleanups.push(() => link.close());
    const logger = memoryLogger([], 'info');
    const outcomes = await Promise.allSettled(links.map((link) => claimCentral(link, logger)));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((o) => o.status === 'rejected');
    expect(refusal(refused!.reason)).toMatchObject({ code: 'PAS_ERR_DIST_CENTRAL_IN_USE' });
  }, 30_000);
});
