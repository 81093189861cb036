/**
 * scripts/batch-profile.ts: with PAS_BENCH_CPU_PROFILE naming a folder, the batch it wraps is
 * profiled and the profile written there under the batch's label; without it, nothing is written.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const MODULE = path.join(ROOT, 'scripts/batch-profile.ts');
// tsx by path, so the child may run in a scratch folder (where a stray profile would land).
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-batch-profile-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const script = `import { profileBatch } from ${JSON.stringify(MODULE)};
const answer = await profileBatch('central p49/w3', async () => { let x = 0; for (let i = 0; i < 2e6; i++) x += i; return x; });
console.log(answer);`;

async function runIn(cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', TSX, '--input-type=module', '-e', script], { cwd, env, timeout: 20_000 });
  return stdout.trim();
}

describe('profileBatch', () => {
  it('writes the CPU profile of the batch under its label when PAS_BENCH_CPU_PROFILE names a folder, and answers what the batch answered', async () => {
    const dir = path.join(scratch, 'on');
    expect(await runIn(scratch, { ...process.env, PAS_BENCH_CPU_PROFILE: dir })).toBe(String((2e6 * (2e6 - 1)) / 2));
    expect(readdirSync(dir)).toEqual(['central_p49_w3.cpuprofile']);
    const profile = JSON.parse(readFileSync(path.join(dir, 'central_p49_w3.cpuprofile'), 'utf8')) as { nodes: unknown[]; samples: unknown[] };
    expect(profile.nodes.length).toBeGreaterThan(1);
    expect(profile.samples.length).toBeGreaterThan(0);
  });

  it('writes nothing without PAS_BENCH_CPU_PROFILE (no profile in the folder it runs in)', async () => {
    const { PAS_BENCH_CPU_PROFILE: _, ...env } = process.env;
    const here = path.join(scratch, 'off');
    mkdirSync(here);
    expect(await runIn(here, env)).toBe(String((2e6 * (2e6 - 1)) / 2));
    expect(readdirSync(here)).toEqual([]);
  });
});
