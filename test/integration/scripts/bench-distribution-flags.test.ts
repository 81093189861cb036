/**
 * `scripts/bench-distribution.ts` run alone takes flags that narrow the run; a flag given a value
 * that is not a whole number is refused (exit 2, naming the flag) before anything starts.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);

describe('the distribution benchmark run alone', () => {
  it.each(['warmup', 'repeats', 'programmers'])('refuses --%s with a value that is not a whole number, exit 2 naming the flag, before it starts a broker or a run', async (flag) => {
    const failed = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/bench-distribution.ts'), `--${flag}`, 'many'], { cwd: ROOT, timeout: 60_000 }).then(
      () => undefined,
      (err: { code?: number; stdout?: string; stderr?: string }) => err,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain(`--${flag}: expected a comma-separated list of whole numbers, got "many"`);
    expect(failed?.stdout ?? '').not.toMatch(/distribution P=/);
  });
});
