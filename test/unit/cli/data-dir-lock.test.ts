/**
 * The data dir's hold (data-dir-lock.ts): refused while another process holds it, kept however the
 * holder's references go (the garbage collector must not drop it), and a lock file it cannot use
 * said plainly, naming what to do.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { holdDataDir, LOCK_FILE } from '../../../src/cli/data-dir-lock.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pas-lock-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  return null;
};

describe('the data dir lock', () => {
  it('stays held by a process that dropped every reference to its hold, after a garbage collection', async () => {
    const dir = tempDir();
    // The holder drops its hold, collects, then says so and keeps running until killed.
    const script = `
      const { holdDataDir } = await import(${JSON.stringify(path.join(ROOT, 'src/cli/data-dir-lock.ts'))});
      holdDataDir(${JSON.stringify(dir)}, 'pas up');
      await new Promise((r) => setTimeout(r, 50));
      globalThis.gc(); globalThis.gc();
      console.log('collected');
      setTimeout(() => {}, 60_000);
    `;
    const child = execFile(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => String(d).includes('collected') && resolve());
        child.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
      });
      expect(refusal(() => holdDataDir(dir, 'pas up'))).toMatchObject({ code: 'PAS_ERR_DATA_DIR_IN_USE', message: expect.stringContaining(`pas up (pid ${child.pid} on `) });
    } finally {
      child.kill('SIGKILL');
    }
    await promisify(setTimeout)(100);
    holdDataDir(dir, 'pas up').release();
  }, 30_000);

  it('says a lock file that is not PAS\'s is to be deleted when nothing uses the dir', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, LOCK_FILE), 'not a database, but long enough to be read as one by sqlite: '.repeat(20));
    expect(refusal(() => holdDataDir(dir, 'pas up'))).toMatchObject({ code: 'PAS_ERR_JOURNAL', message: expect.stringContaining(`is not PAS's lock file; if no pas up or pas demo uses ${dir}, delete it and start again`) });
  });

  it('leaves the dir to the next holder once released', () => {
    const dir = tempDir();
    const first = holdDataDir(dir, 'pas demo');
    expect(refusal(() => holdDataDir(dir, 'pas up'))).toMatchObject({ code: 'PAS_ERR_DATA_DIR_IN_USE', message: expect.stringContaining(`pas demo (pid ${process.pid}`) });
    first.release();
    const second = holdDataDir(dir, 'pas up');
    second.release();
  });
});
