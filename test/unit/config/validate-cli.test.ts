/**
 * `pas validate` as users run it: `node bin/pas.mjs validate` with PAS_CONFIG_DIR pointing at a
 * temp copy of configs/. Exit 0 on the shipped configs; exit 2 naming the file and the key path
 * for each kind of bad config.
 */
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { BAD_CONFIGS, copyConfigs, type ConfigCopy } from './config-fixtures.ts';

const BIN = path.resolve(import.meta.dirname, '../../../bin/pas.mjs');
const copies: ConfigCopy[] = [];
afterAll(() => copies.forEach((c) => c.remove()));

function fresh(): ConfigCopy {
  const copy = copyConfigs();
  copies.push(copy);
  return copy;
}

function validate(dir: string) {
  return execa('node', [BIN, 'validate'], { env: { PAS_CONFIG_DIR: dir }, reject: false, timeout: 80_000 });
}

// Ten CLI processes at once: on a loaded machine one can take tens of seconds to start (a hang guard, not a speed bar).
describe.concurrent('pas validate', { timeout: 90_000 }, () => {
  it('exits 0 on the shipped configs and summarises the tree', async () => {
    const copy = fresh();
    const run = await validate(copy.dir);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`configs OK (${copy.dir}): Architect, 5 Directors, 7 Managers, 10 Programmers`);
  });

  for (const bad of BAD_CONFIGS.filter((b) => b.cli)) {
    it(`exits 2 on ${bad.name}, naming ${bad.file} and ${bad.keyPath}`, async () => {
      const copy = fresh();
      bad.apply(copy);
      const run = await validate(copy.dir);
      expect(run.exitCode).toBe(2);
      expect(run.stdout).toBe('');
      const line = run.stderr.split('\n').find((l) => l.includes(`: ${bad.keyPath}: `));
      expect(line, run.stderr).toBeDefined();
      expect(line).toMatch(new RegExp(`${copy.file(bad.file).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+: `));
      expect(line).toMatch(bad.message);
    });
  }

  it('exits 2 on malformed YAML, naming the file and the line', async () => {
    const copy = fresh();
    copy.edit('programmer_pool.yaml', (text) => text.replace('pool_size: 10', 'pool_size: [10'));
    const run = await validate(copy.dir);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('invalid YAML');
    expect(run.stderr).toMatch(new RegExp(`${copy.file('programmer_pool.yaml').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+: `));
  });

  it('exits 2 naming the missing file when the configs folder is absent', async () => {
    const copy = fresh();
    const run = await validate(path.join(copy.dir, 'nowhere'));
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain(path.join(copy.dir, 'nowhere', 'pas.yaml'));
  });
});
