/**
 * `scripts/bench-distribution.ts` run alone takes flags that narrow the run; a value that is not
 * a whole number, a list where one number goes, or a flag it does not know is refused (exit 2,
 * naming it) before anything starts: a mistyped flag would otherwise start a long run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { distributionFlags, distributionSettings } from '../../../scripts/bench-distribution.ts';
import { DISTRIBUTION_TARGET_LATENCY_MS } from '../../../scripts/bench-targets.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);
const out = mkdtempSync(path.join(os.tmpdir(), 'pas-bench-flags-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('the distribution benchmark run alone', () => {
  it('turns each flag into the option it sets, 0 included, and sets none it was not given', () => {
    expect(distributionFlags([])).toEqual({ options: {} });
    expect(distributionFlags(['--warmup', '0'])).toEqual({ options: { warmupTasks: 0 } });
    expect(distributionFlags(['--programmers', '49', '--workers', '1,2,3', '--repeats', '3', '--detection', '0', '--warmup', '2000', '--quick', '--out', '/tmp/x'])).toEqual({
      options: { programmers: [49], workerCounts: [1, 2, 3], repeats: 3, detectionSamples: 0, warmupTasks: 2000, quick: true },
      out: '/tmp/x',
    });
  });

  it('measures a quick run at the L the target is set at, with fewer repeats and warm-up tasks than a full one', () => {
    const full = distributionSettings();
    const quick = distributionSettings({ quick: true });
    expect(full.latencyMs).toBe(DISTRIBUTION_TARGET_LATENCY_MS);
    expect(quick.latencyMs).toBe(DISTRIBUTION_TARGET_LATENCY_MS);
    expect(quick.repeats).toBeLessThan(full.repeats);
    expect(quick.warmupTasks).toBeLessThan(full.warmupTasks);
    expect(distributionSettings({ quick: true, latencyMs: 100 }).latencyMs).toBe(100);
  });

  it('refuses a value that is not a whole number, a list where one number goes, a missing value and a flag it does not know, naming each', () => {
    expect(distributionFlags(['--warmup', 'many'])).toEqual({ refused: '--warmup: expected a whole number, got "many"' });
    expect(distributionFlags(['--repeats', '1,2'])).toEqual({ refused: '--repeats: expected a whole number, got "1,2"' });
    expect(distributionFlags(['--workers', '1,,3'])).toEqual({ refused: '--workers: expected a comma-separated list of whole numbers, got "1,,3"' });
    expect(distributionFlags(['--programmers', '-1'])).toEqual({ refused: '--programmers: expected a comma-separated list of whole numbers, got "-1"' });
    expect(distributionFlags(['--detection'])).toEqual({ refused: '--detection: expected a whole number, got ""' });
    expect(distributionFlags(['--out'])).toEqual({ refused: '--out: expected a folder' });
    expect(distributionFlags(['--warmups', '2000'])).toMatchObject({ refused: expect.stringContaining('"--warmups": not a flag of this benchmark') });
  });

  it('exits 2 with the refusal before it starts a broker, a worker or a run, and writes nothing', async () => {
    // No broker binary and a scratch --out: a run that started anyway would fail fast and write only there.
    const failed = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/bench-distribution.ts'), '--out', out, '--warmup', 'many'], {
      cwd: ROOT,
      env: { ...process.env, PAS_NATS_SERVER: path.join(out, 'no-nats-server') },
      timeout: 20_000,
      killSignal: 'SIGKILL',
    }).then(
      () => undefined,
      (err: { code?: number; stdout?: string; stderr?: string }) => err,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain('--warmup: expected a whole number, got "many"');
    expect(failed?.stdout ?? '').toBe('');
    expect(readdirSync(out)).toEqual([]);
  });
});
