import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfigDir, loadConfig, PACKAGED_CONFIG_DIR, resolveDataDir } from '../../../src/config/load-config.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('which configs `pas` uses from any folder', () => {
  it('uses PAS_CONFIG_DIR, else ./configs when it has a pas.yaml, else the configs shipped with PAS', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pas-cwd-'));
    expect(defaultConfigDir({}, dir)).toBe(PACKAGED_CONFIG_DIR);
    mkdirSync(path.join(dir, 'configs'));
    // A configs folder of something else (no pas.yaml) is not taken for PAS's.
    expect(defaultConfigDir({}, dir)).toBe(PACKAGED_CONFIG_DIR);
    writeFileSync(path.join(dir, 'configs', 'pas.yaml'), '');
    expect(defaultConfigDir({}, dir)).toBe(path.join(dir, 'configs'));
    expect(defaultConfigDir({ PAS_CONFIG_DIR: 'elsewhere' }, dir)).toBe(path.join(dir, 'elsewhere'));
  });

  it('keeps the data of the shipped configs in the PAS folder, and a project’s beside where pas runs', () => {
    const shipped = loadConfig(PACKAGED_CONFIG_DIR);
    expect(resolveDataDir(shipped, '/somewhere/else')).toBe(path.join(path.dirname(PACKAGED_CONFIG_DIR), 'artifacts'));
    expect(resolveDataDir({ dir: '/proj/configs', pas: shipped.pas }, '/proj')).toBe('/proj/artifacts');
  });
});
