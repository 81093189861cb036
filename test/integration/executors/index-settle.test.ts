/**
 * A prewarmed checkout's index holds no racily clean entry (index-settle.ts): its first `git
 * status` (a task's verify command) re-checks nothing and writes no index, and git still sees a
 * file changed with the same size within the same second, before the settle or after it.
 */
import { readFileSync, statSync } from 'node:fs';
import { readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { checkoutFor, checkoutPath, prewarmCheckouts, stopSettles, warmCheckout } from '../../../src/executors/checkouts.ts';
import { fileIdentity } from '../../../src/executors/file-identity.ts';
import { setBeforeSettleHook } from '../../../src/executors/index-settle.ts';
import { indexFacts } from '../../../src/executors/index-tree.ts';
import { closeObjectStores } from '../../../src/executors/object-store.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  setBeforeSettleHook(null);
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

const FILES = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`src/d${i % 10}/f${i}.ts`, `export const v${i} = ${String(i).padStart(4, '0')};\n`]));

/** Runs `body` with a timer keeping the event loop alive (the background settles' own timers are unref'd). */
async function withLoopKept(body: () => Promise<void>): Promise<void> {
  const keep = setInterval(() => undefined, 1000);
  try {
    await body();
  } finally {
    clearInterval(keep);
  }
}

/** Whether any entry of the checkout's index is racily clean: its file's recorded second is not before the index file's. */
function racyEntries(dir: string): boolean {
  const index = path.join(dir, '.git', 'index');
  const newest = indexFacts(readFileSync(index), 20).newestSecond;
  expect(newest).not.toBeNull();
  return newest! >= Math.floor(statSync(index).mtimeMs / 1000);
}

describe('settled index of a prewarmed checkout', () => {
  it("has no racily clean entry, so the first git status re-checks nothing and leaves the index as it is", async () => {
    const f = (fixture = await createTempRepo(FILES));
    await prewarmCheckouts(f.repo, f.workspacesDir, ['Prog-001', 'Prog-002'], f.base);
    for (const id of ['Prog-001', 'Prog-002']) {
      const dir = await checkoutPath(f.repo, f.workspacesDir, id);
      expect(racyEntries(dir)).toBe(false);
      const before = fileIdentity(path.join(dir, '.git', 'index'));
      expect(await gitOut(dir, 'status', '--porcelain')).toBe('');
      // git status writes the index when it refreshed an entry or found a racy one: it did neither.
      expect(fileIdentity(path.join(dir, '.git', 'index'))).toBe(before);
    }
  }, 60_000);

  it('is settled in the background for a checkout the start-up prewarm made and gave back at once, unless a task took it first', async () => {
    const f = (fixture = await createTempRepo(FILES));
    await withLoopKept(async () => {
      const input = { repo: f.repo, workspacesDir: f.workspacesDir, baseCommit: f.base };
      expect(await warmCheckout({ ...input, programmerId: 'Prog-001' })).toBe(true);
      expect(await warmCheckout({ ...input, programmerId: 'Prog-002' })).toBe(true);
      // A task takes Prog-002's checkout at once: the settle leaves it to the task.
      const lease = await checkoutFor({ ...input, programmerId: 'Prog-002' });
      const taken = path.join(lease.path, '.git', 'index');
      const identity = fileIdentity(taken);
      const dir = await checkoutPath(f.repo, f.workspacesDir, 'Prog-001');
      for (let i = 0; i < 200 && racyEntries(dir); i++) await new Promise((r) => setTimeout(r, 50));
      expect(racyEntries(dir)).toBe(false);
      expect(fileIdentity(taken)).toBe(identity);
      lease.release();
      const before = fileIdentity(path.join(dir, '.git', 'index'));
      expect(await gitOut(dir, 'status', '--porcelain')).toBe('');
      expect(fileIdentity(path.join(dir, '.git', 'index'))).toBe(before);
    });
  }, 60_000);

  it('is not settled once the settles of its workspaces are stopped (a runtime stopping): nothing runs in the checkout after', async () => {
    const f = (fixture = await createTempRepo(FILES));
    await withLoopKept(async () => {
      const input = { repo: f.repo, workspacesDir: f.workspacesDir, baseCommit: f.base };
      // A checkout whose reset wrote its last files and its index within one second (nearly always
      // the first; one whose reset crossed a second boundary has nothing racy to settle).
      let dir = '';
      for (let i = 1; i <= 5 && !(dir && racyEntries(dir)); i++) {
        expect(await warmCheckout({ ...input, programmerId: `Prog-00${i}` })).toBe(true);
        dir = await checkoutPath(f.repo, f.workspacesDir, `Prog-00${i}`);
      }
      const index = path.join(dir, '.git', 'index');
      // Racy, its settle waiting for the clock: stopped now.
      expect(racyEntries(dir)).toBe(true);
      const identity = fileIdentity(index);
      await stopSettles(f.workspacesDir);
      // Past the second the settle waited for, and more: the index is as the reset left it.
      await new Promise((r) => setTimeout(r, 2300));
      expect(fileIdentity(index)).toBe(identity);
      expect(racyEntries(dir)).toBe(true);
    });
  }, 60_000);

  it('still shows a file changed with the same size and the same modification time before the index was settled', async () => {
    const f = (fixture = await createTempRepo(FILES));
    const rel = 'src/d3/f3.ts';
    setBeforeSettleHook(async (dir) => {
      // A straggler's write in the second git recorded, its time set back: stat data alone cannot tell it.
      const file = path.join(dir, rel);
      const { atime, mtime } = statSync(file);
      await writeFile(file, (await readFile(file, 'utf8')).replace('0003', '9999'));
      await utimes(file, atime, mtime);
    });
    await prewarmCheckouts(f.repo, f.workspacesDir, ['Prog-001'], f.base);
    const dir = await checkoutPath(f.repo, f.workspacesDir, 'Prog-001');
    expect(await gitOut(dir, 'status', '--porcelain')).toBe(`M ${rel}`);
  }, 60_000);

  it('shows a file changed with the same size right after the prewarm, within the second the index was settled', async () => {
    const f = (fixture = await createTempRepo(FILES));
    await prewarmCheckouts(f.repo, f.workspacesDir, ['Prog-001'], f.base);
    const dir = await checkoutPath(f.repo, f.workspacesDir, 'Prog-001');
    const rel = 'src/d4/f4.ts';
    await writeFile(path.join(dir, rel), FILES[rel]!.replace('0004', '8888'));
    expect(await gitOut(dir, 'status', '--porcelain')).toBe(`M ${rel}`);
    expect(await gitOut(dir, 'diff', '--stat')).toContain(rel);
  }, 60_000);
});
