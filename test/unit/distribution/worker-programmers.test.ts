/**
 * Which programmers a `pas worker --id W [--programmers …]` hosts: those configured with host W,
 * or the ones of them `--programmers` names. The central process gives a worker nothing else, so
 * naming another host's programmer is a config error said at once, not a refusal from the broker.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { programmersFor } from '../../../src/distribution/worker.ts';
import { tempConfig } from '../../support/test-config.ts';

function config() {
  const cfg = tempConfig('pas-worker-programmers-');
  cfg.edit('programmer_pool.yaml', (doc) => {
    doc.setIn(['programmers', 0, 'host'], 'w1');
    doc.setIn(['programmers', 1, 'host'], 'w1');
    doc.setIn(['programmers', 2, 'host'], 'w2');
  });
  cfg.edit('pas.yaml', (doc) => doc.set('distribution', doc.createNode({ nats_url: 'nats://127.0.0.1:4222' })));
  try {
    return loadConfig(cfg.dir);
  } finally {
    cfg.cleanup();
  }
}

const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  throw new Error('not refused');
};

describe('the programmers a worker hosts', () => {
  const c = config();
  const [p1, p2, p3, p4] = c.programmers.map((p) => p.id);

  it('are the programmers configured with its host, or the ones of them --programmers names', () => {
    expect(programmersFor(c, 'w1').map((p) => p.id)).toEqual([p1, p2]);
    expect(programmersFor(c, 'w1', [p2!]).map((p) => p.id)).toEqual([p2]);
    expect(programmersFor(c, 'w9')).toEqual([]);
  });

  it('refuses a --programmers id configured with another host or none, naming it and its host', () => {
    expect(refusal(() => programmersFor(c, 'w1', [p1!, p3!, p4!]))).toEqual({
      code: 'PAS_ERR_CONFIG_INVALID',
      message: `--programmers: ${p3} (host: w2), ${p4} (host: local) not hosted by w1 in programmer_pool.yaml; a worker runs only programmers with host: w1`,
    });
    expect(refusal(() => programmersFor(c, 'w1', ['Prog-nope']))).toMatchObject({ code: 'PAS_ERR_CONFIG_INVALID', message: '--programmers: Prog-nope not in programmer_pool.yaml' });
  });
});
