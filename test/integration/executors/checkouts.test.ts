/**
 * Reused checkouts: one per programmer and repository, made at once by many programmers without
 * a lock error, reset to each task's base so nothing of an earlier task shows (untracked, ignored,
 * nested repositories), remade when a crash left one half made, and never swept as an orphan.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeCheckoutWatches } from '../../../src/executors/checkout-changes.ts';
import { checkoutFor, checkoutPath, prewarmCheckouts, stopSettles, warmCheckout } from '../../../src/executors/checkouts.ts';
import { gitProcessCount, gitSpawnCount } from '../../../src/executors/git-command.ts';
import { closeObjectStores } from '../../../src/executors/object-store.ts';
import { cleanupOrphanWorktrees, listWorktrees } from '../../../src/executors/worktree.ts';
import { createTempRepo, filesIn, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

/** Takes Prog-001's checkout (at `dir`) as its next task does: the stray file is gone, git sees nothing changed. */
async function expectCleanForItsNextTask(f: TempRepo, dir: string): Promise<void> {
  const lease = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
  try {
    expect(existsSync(path.join(dir, 'stray.txt'))).toBe(false);
    expect(await gitOut(dir, 'status', '--porcelain')).toBe('');
  } finally {
    lease.release();
  }
}

describe('reused checkouts', () => {
  it('makes the checkouts of 16 programmers at once with no lock error, each at the base and sharing the repository objects', async () => {
    const files = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`src/d${i % 10}/f${i}.ts`, `export const v${i} = ${i};\n`]));
    const f = (fixture = await createTempRepo(files));
    const ids = Array.from({ length: 16 }, (_, i) => `Prog-${String(i + 1).padStart(3, '0')}`);
    await prewarmCheckouts(f.repo, f.workspacesDir, ids, f.base);
    for (const id of ids) {
      const dir = await checkoutPath(f.repo, f.workspacesDir, id);
      expect(await gitOut(dir, 'rev-parse', 'HEAD')).toBe(f.base);
      expect(await gitOut(dir, 'status', '--porcelain')).toBe('');
      expect(await filesIn(dir)).toEqual(Object.keys(files).sort());
    }
    // Nothing was registered with the repository: its worktree list is its own checkout alone.
    expect(await listWorktrees(f.repo)).toHaveLength(1);
    // A commit written in a checkout lands in the repository's own objects.
    const dir = await checkoutPath(f.repo, f.workspacesDir, ids[0]!);
    await writeFiles(dir, { 'src/new.ts': 'new\n' });
    await gitOut(dir, 'add', '--all');
    const tree = await gitOut(dir, 'write-tree');
    expect(await gitOut(f.repo, 'cat-file', '-t', tree)).toBe('tree');
    await gitOut(f.repo, 'fsck', '--no-dangling');
  }, 60_000);

  it('never shows a later task what an earlier one left: changed, deleted, untracked, ignored files and nested repositories', async () => {
    const f = (fixture = await createTempRepo({ '.gitignore': '*.log\nbuild/\n', 'a.txt': 'a\n', 'src/b.ts': 'b\n' }));
    await writeFiles(f.repo, { 'src/c.ts': 'c\n' });
    await gitOut(f.repo, 'add', '--all');
    await gitOut(f.repo, 'commit', '--quiet', '-m', 'second');
    const second = await gitOut(f.repo, 'rev-parse', 'HEAD');

    const first = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: second });
    await writeFiles(first.path, { 'a.txt': 'changed\n', 'untracked.txt': 'u\n', 'debug.log': 'ignored\n', 'build/out.js': 'ignored\n', 'deep/new/x.txt': 'x\n' });
    await rm(path.join(first.path, 'src', 'b.ts'));
    await mkdir(path.join(first.path, 'nested'));
    await gitOut(path.join(first.path, 'nested'), 'init', '--quiet');
    await writeFile(path.join(first.path, 'nested', 'n.txt'), 'n\n');
    first.release();

    // The next task, on the older base: exactly that commit's files, nothing more.
    const next = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
    expect(next.path).toBe(first.path);
    expect(await filesIn(next.path)).toEqual(['.gitignore', 'a.txt', 'src/b.ts']);
    expect(await gitOut(next.path, 'status', '--porcelain', '--ignored')).toBe('');
    expect(await gitOut(next.path, 'rev-parse', 'HEAD')).toBe(f.base);
    next.release();
  });

  it('gives the first task a prewarmed checkout at its base with no reset, and restores every task after one that held it by what changed, so nothing a task left ever shows', async () => {
    const f = (fixture = await createTempRepo({ '.gitignore': '*.log\n', 'a.txt': 'a\n' }));
    await writeFiles(f.repo, { 'b.txt': 'b\n' });
    await gitOut(f.repo, 'add', '--all');
    await gitOut(f.repo, 'commit', '--quiet', '-m', 'second');
    const second = await gitOut(f.repo, 'rev-parse', 'HEAD');
    await prewarmCheckouts(f.repo, f.workspacesDir, ['Prog-001', 'Prog-002'], f.base);

    // Untouched since the prewarm, at the task's base: no git process.
    let before = gitProcessCount();
    const first = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
    expect(gitProcessCount() - before).toBe(0);
    expect(await filesIn(first.path)).toEqual(['.gitignore', 'a.txt']);
    await writeFiles(first.path, { 'a.txt': 'changed\n', 'left.txt': 'u\n', 'debug.log': 'ignored\n' });
    first.release();

    // The next task at the same base: restored by what changed, in-process, and nothing of the first shows.
    before = gitProcessCount();
    const next = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
    expect(gitProcessCount() - before).toBe(0);
    expect(await filesIn(next.path)).toEqual(['.gitignore', 'a.txt']);
    expect(await gitOut(next.path, 'status', '--porcelain', '--ignored')).toBe('');
    next.release();

    // A prewarmed checkout asked for at another commit: the files that differ written, HEAD and the index moved (one spawn).
    before = gitSpawnCount();
    const other = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-002', baseCommit: second });
    expect(gitSpawnCount() - before).toBe(1);
    expect(await filesIn(other.path)).toEqual(['.gitignore', 'a.txt', 'b.txt']);
    other.release();
  });

  it('undoes what was written in a prewarmed checkout while it waited, watched, for its first task', async () => {
    const f = (fixture = await createTempRepo({ 'a.ts': 'a\n', 'src/b.ts': 'b\n' }));
    await prewarmCheckouts(f.repo, f.workspacesDir, ['Prog-001'], f.base);
    const dir = await checkoutPath(f.repo, f.workspacesDir, 'Prog-001');
    // A straggler of a killed run, or a user, writes there before any task took it.
    await writeFile(path.join(dir, 'stray.txt'), 'written after the prewarm\n');
    await writeFile(path.join(dir, 'a.ts'), 'changed after the prewarm\n');
    await rm(path.join(dir, 'src', 'b.ts'));
    await expectCleanForItsNextTask(f, dir);
  });

  it('does not take a checkout prewarmed by a runtime that stopped as untouched: unwatched since, it is reset for its next task', async () => {
    const f = (fixture = await createTempRepo({ 'a.ts': 'a\n' }));
    await prewarmCheckouts(f.repo, f.workspacesDir, ['Prog-001'], f.base);
    // The runtime stops (its watches close); something writes in the checkout meanwhile.
    closeCheckoutWatches();
    const dir = await checkoutPath(f.repo, f.workspacesDir, 'Prog-001');
    await writeFile(path.join(dir, 'stray.txt'), 'left while nobody watched\n');
    await writeFile(path.join(dir, 'a.ts'), 'changed while nobody watched\n');
    await expectCleanForItsNextTask(f, dir);
  });

  it('has the start-up prewarm reset and watch a checkout an earlier run made, so its first task needs no git', async () => {
    const f = (fixture = await createTempRepo({ 'a.ts': 'a\n', 'src/b.ts': 'b\n' }));
    const input = { repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base };
    expect(await warmCheckout(input)).toBe(true);
    // Made and watched: nothing to do.
    expect(await warmCheckout(input)).toBe(false);
    // A new run: nothing is watched; the checkout is there, with what the last run's task left.
    closeCheckoutWatches();
    const dir = await checkoutPath(f.repo, f.workspacesDir, 'Prog-001');
    await writeFile(path.join(dir, 'left.txt'), 'left by the last run\n');
    expect(await warmCheckout(input)).toBe(true);
    expect(existsSync(path.join(dir, 'left.txt'))).toBe(false);
    const [processes, spawns] = [gitProcessCount(), gitSpawnCount()];
    const lease = await checkoutFor(input);
    lease.release();
    expect([gitProcessCount() - processes, gitSpawnCount() - spawns]).toEqual([0, 0]);
    await stopSettles(f.workspacesDir);
  });

  it('lets one task at a time hold a checkout: the next waits for the release', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const held = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
    let second = false;
    const waiting = checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base }).then((lease) => {
      second = true;
      return lease;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(second).toBe(false);
    held.release();
    (await waiting).release();
    expect(second).toBe(true);
  });

  it('remakes a checkout a crash left half made, clears a crashed index lock, and is spared by the orphan sweep', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const dir = await checkoutPath(f.repo, f.workspacesDir, 'Prog-002');
    // Half made: a folder with a .git but no marker.
    await mkdir(path.join(dir, '.git'), { recursive: true });
    await writeFile(path.join(dir, 'stray.txt'), 'x\n');
    const lease = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-002', baseCommit: f.base });
    expect(await filesIn(lease.path)).toEqual(['a.txt']);
    lease.release();

    // A lock a crashed git left (a fresh one is waited out: a killed PAS's git may still be finishing).
    await writeFile(path.join(dir, '.git', 'index.lock'), '');
    const old = new Date(Date.now() - 60_000);
    await utimes(path.join(dir, '.git', 'index.lock'), old, old);
    const again = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-002', baseCommit: f.base });
    expect(existsSync(path.join(dir, '.git', 'index.lock'))).toBe(false);
    again.release();

    expect(await cleanupOrphanWorktrees(f.repo, f.workspacesDir, new Set())).toEqual([]);
    expect(existsSync(dir)).toBe(true);
  });
});
