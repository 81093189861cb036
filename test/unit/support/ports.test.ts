/**
 * The test trees' port offsets: one this process was given is never given again, so a tree never
 * opens the ports of one closed just before (its clients may still hold kept-alive sockets there);
 * and one another running test process holds is never given, so a test that restarts `pas up` on
 * its ports finds them free again.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { freePortOffset } from '../../support/ports.ts';

const PORTS_MODULE = fileURLToPath(new URL('../../support/ports.ts', import.meta.url));
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pas-port-offsets-'));
  vi.stubEnv('PAS_TEST_PORT_OFFSETS_DIR', dir);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

describe('freePortOffset', () => {
  it('never gives the same offset twice in one process, even when the ports are free again', async () => {
    // The same draw twice, then another: the second call must skip the offset the first one got.
    vi.spyOn(Math, 'random').mockReturnValueOnce(0.5).mockReturnValueOnce(0.5).mockReturnValueOnce(0.75);
    const first = await freePortOffset([1]);
    const second = await freePortOffset([1]);
    expect(first).toBe(100 * (100 + 250));
    expect(second).toBe(100 * (100 + 375));
  });

  it('skips an offset another running process holds, and records its own', async () => {
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      writeFileSync(path.join(dir, '36000'), String(other.pid));
      vi.spyOn(Math, 'random').mockReturnValueOnce(0.52).mockReturnValueOnce(0.54);
      expect(await freePortOffset([1])).toBe(100 * (100 + 270));
      expect(readFileSync(path.join(dir, '37000'), 'utf8')).toBe(String(process.pid));
      expect(readFileSync(path.join(dir, '36000'), 'utf8')).toBe(String(other.pid));
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over an offset whose holder has exited without releasing it', async () => {
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(path.join(dir, '38000'), gone.stdout);
    vi.spyOn(Math, 'random').mockReturnValueOnce(0.56);
    expect(await freePortOffset([1])).toBe(38_000);
    expect(readFileSync(path.join(dir, '38000'), 'utf8')).toBe(String(process.pid));
  });

  it('skips an offset whose dead holder another process is taking over right now', async () => {
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(path.join(dir, '39000'), gone.stdout);
    writeFileSync(path.join(dir, '39000.takeover'), '4242');
    vi.spyOn(Math, 'random').mockReturnValueOnce(0.58).mockReturnValueOnce(0.6);
    expect(await freePortOffset([1])).toBe(40_000);
    expect(readFileSync(path.join(dir, '39000'), 'utf8')).toBe(gone.stdout);
  });

  it('holds its offset while it runs and releases it when the process exits', () => {
    const script = `import { existsSync } from 'node:fs'; import { freePortOffset } from ${JSON.stringify(PORTS_MODULE)}; const o = await freePortOffset([1]); console.log(o, existsSync(${JSON.stringify(dir)} + '/' + o));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, PAS_TEST_PORT_OFFSETS_DIR: dir } });
    expect(child.status, child.stderr).toBe(0);
    const [offset, heldWhileRunning] = child.stdout.trim().split(' ');
    expect(heldWhileRunning).toBe('true');
    expect(existsSync(path.join(dir, offset!))).toBe(false);
  });

  it('refuses base ports that span 100 or more (two offsets would share ports)', async () => {
    await expect(freePortOffset([6101, 6201])).rejects.toThrow('base ports 6101..6201 span 100 or more');
  });
});
