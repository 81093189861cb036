import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { copyConfigs, type ConfigCopy } from '../config/config-fixtures.ts';

let copy: ConfigCopy | undefined;
afterEach(() => copy?.remove());

describe('the distribution section and programmers[].host', () => {
  it('leaves a config without distribution exactly as it was: no section, every programmer local', () => {
    copy = copyConfigs();
    const config = loadConfig(copy.dir);
    expect(config.pas.distribution).toBeUndefined();
    expect(config.programmers.every((p) => p.host === undefined)).toBe(true);
    expect(config.pool.programmers.every((p) => p.host === 'local')).toBe(true);
  });

  it('fills in the defaults and names the worker that hosts each remote programmer', () => {
    copy = copyConfigs();
    copy.set('pas.yaml', ['distribution'], { nats_url: 'nats://10.0.0.5:4222,nats://10.0.0.6:4222' });
    copy.set('programmer_pool.yaml', ['programmers', 8, 'host'], 'gpu-1');
    copy.set('programmer_pool.yaml', ['programmers', 9, 'host'], 'gpu-1');
    copy.set('programmer_pool.yaml', ['programmers', 0, 'host'], 'local');
    const config = loadConfig(copy.dir);
    expect(config.pas.distribution).toEqual({
      nats_url: 'nats://10.0.0.5:4222,nats://10.0.0.6:4222',
      prefix: 'main',
      heartbeat_ms: 1000,
      offline_after_ms: 5000,
      ack_wait_ms: 30_000,
      max_redeliveries: 3,
      request_timeout_ms: 5000,
      admission_wait_ms: 60_000,
      lease_ms: 3000,
      bundle_ttl_s: 86_400,
    });
    expect(config.programmers.filter((p) => p.host === 'gpu-1').map((p) => p.id)).toEqual(['Prog-009', 'Prog-010']);
    expect(config.programmers[0]!.host).toBeUndefined();
  });
});
