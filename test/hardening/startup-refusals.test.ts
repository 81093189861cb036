/**
 * Config and start-up errors all exit 2 naming the file and key (or the option), without a raw
 * stack and without hanging: a YAML alias bomb, a config file that is a folder, a --port-offset
 * that pushes a port past 65535, a data dir that is a file (from --data-dir or pas.yaml), and a
 * data dir under /proc (where Node's recursive mkdir spins for ever), a host that is not this machine's.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempConfig, type TempConfig } from '../support/test-config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function pas(args: string[], configDir: string): Promise<{ code: number | null; signal: string | null; output: string }> {
  return new Promise((resolve) => {
    // The timeout turns a hang into a failure (killed: signal SIGKILL) instead of a stuck test.
    execFile(process.execPath, ['bin/pas.mjs', ...args], { cwd: ROOT, timeout: 25_000, killSignal: 'SIGKILL', env: { ...process.env, PAS_CONFIG_DIR: configDir, PAS_API_TOKEN: '' } }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number; signal?: string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, output: stdout + stderr });
    });
  });
}

function config(): TempConfig {
  const cfg = tempConfig('pas-startup-');
  cleanups.push(() => cfg.cleanup());
  return cfg;
}

function scratch(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pas-startup-data-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function expectExit2(run: { code: number | null; signal: string | null; output: string }, ...names: string[]): void {
  expect(run.signal, run.output).toBeNull();
  expect(run.code, run.output).toBe(2);
  for (const name of names) expect(run.output).toContain(name);
  expect(run.output).not.toMatch(/\n\s+at /); // no stack trace
}

describe('start-up refusals', () => {
  it('exits 2 naming the file on a YAML alias bomb, in pas validate and pas up', async () => {
    const cfg = config();
    const lol = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const name of 'bcdefghi') lol.push(`${name}: &${name} [${Array.from({ length: 9 }, () => `*${String.fromCharCode(name.charCodeAt(0) - 1)}`).join(',')}]`);
    writeFileSync(path.join(cfg.dir, 'cmd_allowlist.yaml'), `${lol.join('\n')}\n`);
    expectExit2(await pas(['validate'], cfg.dir), 'cmd_allowlist.yaml', 'alias');
    expectExit2(await pas(['up', '--offline', '--quiet', '--data-dir', scratch()], cfg.dir), 'cmd_allowlist.yaml');
  });

  it('exits 2 naming the file when a config file is a folder', async () => {
    const cfg = config();
    rmSync(path.join(cfg.dir, 'models.yaml'));
    mkdirSync(path.join(cfg.dir, 'models.yaml'));
    expectExit2(await pas(['validate'], cfg.dir), 'models.yaml', 'folder');
  });

  it('exits 2 naming --port-offset when it puts a port above 65535', async () => {
    const run = await pas(['up', '--offline', '--quiet', '--port-offset', '59500', '--data-dir', scratch()], config().dir);
    expectExit2(run, '--port-offset', '65535');
  });

  it('exits 2 naming --data-dir, or pas.yaml runtime.data_dir, when the data dir is a file or lies under one', async () => {
    const file = path.join(scratch(), 'plain-file');
    writeFileSync(file, 'x');
    const cfg = config();
    expectExit2(await pas(['up', '--offline', '--quiet', '--port-offset', '0', '--data-dir', file], cfg.dir), '--data-dir', 'plain-file');
    expectExit2(await pas(['up', '--offline', '--quiet', '--data-dir', path.join(file, 'sub')], cfg.dir), '--data-dir');
    cfg.edit('pas.yaml', (doc) => doc.setIn(['runtime', 'data_dir'], file));
    expectExit2(await pas(['up', '--offline', '--quiet'], cfg.dir), 'pas.yaml', 'runtime.data_dir');
  });

  it('exits 2 naming gateway.host when --host is not an address of this machine', async () => {
    for (const host of ['10.254.254.254', 'no-such-host.invalid']) {
      expectExit2(await pas(['up', '--offline', '--quiet', '--host', host, '--data-dir', scratch()], config().dir), 'gateway.host', host);
    }
  });

  it('exits 2 at once, instead of hanging, when the data dir is under /proc', async () => {
    expectExit2(await pas(['up', '--offline', '--quiet', '--data-dir', '/proc/pas-data'], config().dir), '--data-dir', '/proc/pas-data');
    expectExit2(await pas(['up', '--offline', '--quiet', '--data-dir', '/proc/self'], config().dir), '--data-dir');
  });
});
