import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { markdown, updateReadme } from '../../../scripts/bench.ts';
import { distribution, percentile, type MachineInfo } from '../../../scripts/bench-support.ts';

const machine: MachineInfo = {
  date: '2026-01-01T00:00:00.000Z',
  host: 'test',
  platform: 'linux x64',
  cpu: 'Test CPU',
  cores: 2,
  memGiB: 4,
  node: 'v20.20.0',
  loadAvgAtStart: [0.5, 0.4, 0.3],
};

describe('bench report', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pas-bench-report-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('takes nearest-rank percentiles of unsorted values', () => {
    const values = [50, 10, 40, 20, 30, 100, 90, 80, 70, 60];
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(100);
    expect(percentile(values, 10)).toBe(10);
    expect(percentile([], 50)).toBeNaN();
    expect(distribution([3, 1, 2])).toMatchObject({ n: 3, min: 1, p50: 2, max: 3, mean: 2 });
  });

  it('adds a Benchmarks section once and afterwards replaces only the table between its markers', () => {
    const readme = path.join(dir, 'README.md');
    writeFileSync(readme, '# PAS\n\nIntro.\n\n## Layout\n\nText.\n');
    updateReadme('| a |\n|---|\n| 1 |', readme);
    const first = readFileSync(readme, 'utf8');
    expect(first).toContain('## Layout\n\nText.\n\n## Benchmarks\n\n<!-- bench:start -->\n| a |\n|---|\n| 1 |\n<!-- bench:end -->\n');

    writeFileSync(readme, first.replace('<!-- bench:end -->\n', '<!-- bench:end -->\n\nNotes kept.\n'));
    updateReadme('| b |\n|---|\n| 2 |', readme);
    const second = readFileSync(readme, 'utf8');
    expect(second.match(/## Benchmarks/g)).toHaveLength(1);
    expect(second).toContain('<!-- bench:start -->\n| b |\n|---|\n| 2 |\n<!-- bench:end -->\n\nNotes kept.\n');
    expect(second).not.toContain('| 1 |');
    expect(second.startsWith('# PAS\n\nIntro.\n\n## Layout\n\nText.\n')).toBe(true);
  });

  it('names a part that is missing or failed in the table instead of dropping it silently', () => {
    const table = markdown(machine, 'npx pas bench --quick', {
      gateway: { ok: false, seconds: 0, missing: true, error: 'scripts/bench-gateway.ts does not exist yet: the gateway part was not run' },
      overhead: { ok: false, seconds: 1, error: 'Error: boom\n    at somewhere' },
    });
    expect(table).toContain('Machine: Test CPU, 2 cores');
    expect(table).toContain('Reproduce: `npx pas bench --quick`');
    expect(table).toContain('*gateway: MISSING — scripts/bench-gateway.ts does not exist yet: the gateway part was not run*');
    expect(table).toContain('*overhead: FAILED — Error: boom*');
    expect(table).not.toContain('at somewhere');
  });
});
