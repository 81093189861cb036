/**
 * A checkout's tree written in-process from its index (no `git write-tree` process) is the tree
 * git writes, over random edits: new files in new folders, deletions that empty folders,
 * executable bits, symlinks, a nested folder replaced by a file; and an index the reader does
 * not take (conflict entries, intent-to-add, another version) is left to git.
 */
import { chmod, mkdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { forgetChanges } from '../../../src/executors/checkout-changes.ts';
import { checkoutFor, checkoutTree } from '../../../src/executors/checkouts.ts';
import { git, gitProcessCount } from '../../../src/executors/git-command.ts';
import { indexHolds } from '../../../src/executors/index-state.ts';
import { indexFacts, parseIndex, writeIndexTree } from '../../../src/executors/index-tree.ts';
import { closeObjectStores, objectStoreFor } from '../../../src/executors/object-store.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

const initial: Record<string, string> = {
  'README.md': '# r\n',
  'a.txt': 'a\n',
  'a-b/x.ts': 'x\n',
  'a/b/c.ts': 'c\n',
  'a/b/d.ts': 'd\n',
  'a/e.ts': 'e\n',
  'z/only.ts': 'only\n',
  'deep/1/2/3/4.ts': '4\n',
};

describe('index tree', () => {
  it('writes the tree git write-tree writes, over random edits staged by git add --all, and writes no tree the base already has', async () => {
    fixture = await createTempRepo(initial);
    const store = await objectStoreFor(fixture.repo);
    const baseTree = await store.commitTree(fixture.base);
    const names = ['a.txt', 'a-b/x.ts', 'a/b/c.ts', 'a/b/d.ts', 'a/e.ts', 'z/only.ts', 'deep/1/2/3/4.ts', 'new/n.ts', 'a/b/new.ts', 'a/c', 'a0', 'a.b', 'deep/1/x.ts'];
    for (let seed = 1; seed <= 12; seed++) {
      const pick = rng(seed);
      const lease = await checkoutFor({ repo: fixture.repo, workspacesDir: fixture.workspacesDir, programmerId: 'p1', baseCommit: fixture.base });
      try {
        const dir = lease.path;
        for (let i = 0; i < 1 + pick(6); i++) {
          const rel = names[pick(names.length)]!;
          const full = path.join(dir, rel);
          const kind = pick(4);
          if (kind === 0) await rm(full, { force: true, recursive: true });
          else if (kind === 1) {
            await mkdir(path.dirname(full), { recursive: true }).catch(() => undefined);
            await writeFile(full, `seed ${seed} ${i}\n`).catch(() => undefined);
          } else if (kind === 2) await chmod(full, 0o755).catch(() => undefined);
          else {
            await mkdir(path.dirname(full), { recursive: true }).catch(() => undefined);
            await rm(full, { force: true, recursive: true });
            await symlink('README.md', full).catch(() => undefined);
          }
        }
        await git(dir, ['add', '--all']);
        const before = gitProcessCount();
        const mine = await writeIndexTree(store, dir, baseTree);
        expect(gitProcessCount()).toBe(before);
        const theirs = (await git(dir, ['write-tree'])).stdout.trim();
        expect(mine, `seed ${seed}`).toBe(theirs);
        // Every tree it names is in the repository (fsck of the object graph from it).
        await git(fixture.repo, ['ls-tree', '-r', '-t', mine!]);
      } finally {
        lease.release();
      }
    }
    // The new objects are well formed and complete.
    await git(fixture.repo, ['fsck', '--no-dangling', '--strict']);

    // An untouched checkout's tree is the base tree itself, written by nobody.
    const lease = await checkoutFor({ repo: fixture.repo, workspacesDir: fixture.workspacesDir, programmerId: 'p2', baseCommit: fixture.base });
    try {
      expect(await checkoutTree(lease.path, store, baseTree)).toBe(baseTree);
    } finally {
      lease.release();
    }
  });

  it('takes the folders git’s cache-tree records as the base’s without reading them, and still writes git’s tree through restores by staged paths and full resets', async () => {
    const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`m/f${i}/x.ts`, `${i}\n`]));
    fixture = await createTempRepo({ ...initial, ...many });
    const store = await objectStoreFor(fixture.repo);
    const baseTree = await store.commitTree(fixture.base);
    const folders = (await git(fixture.repo, ['ls-tree', '-r', '-d', '--name-only', fixture.base])).stdout.split('\n').filter(Boolean).length + 1;
    // A checkout just made has every file as new as its index ("racily clean"): git add re-adds
    // them all, which invalidates every folder. Files from a minute ago, refreshed, are settled.
    const first = await checkoutFor({ repo: fixture.repo, workspacesDir: fixture.workspacesDir, programmerId: 'p1', baseCommit: fixture.base });
    const old = new Date(Date.now() - 60_000);
    for (const rel of (await git(first.path, ['ls-files'])).stdout.split('\n').filter(Boolean)) await utimes(path.join(first.path, rel), old, old);
    await git(first.path, ['update-index', '-q', '--refresh']);
    // Touching every file is a change of every file: forgotten here, so the next task fully resets (files kept, stat data settled).
    forgetChanges(first.path);
    first.release();
    const names = ['a.txt', 'a/b/c.ts', 'a/e.ts', 'z/only.ts', 'deep/1/2/3/4.ts', 'new/n.ts', 'a/b/new.ts', 'deep/1/x.ts', 'm/f3/x.ts'];
    const read = vi.spyOn(store, 'readTree');
    try {
      for (let seed = 1; seed <= 10; seed++) {
        const pick = rng(seed * 7);
        const lease = await checkoutFor({ repo: fixture.repo, workspacesDir: fixture.workspacesDir, programmerId: 'p1', baseCommit: fixture.base });
        const rel = names[pick(names.length)]!;
        await mkdir(path.dirname(path.join(lease.path, rel)), { recursive: true });
        await writeFile(path.join(lease.path, rel), `seed ${seed}\n`);
        read.mockClear();
        const mine = await checkoutTree(lease.path, store, baseTree);
        // Only the folders on the changed paths are read (this file's, and the last task's restored one's).
        expect(read.mock.calls.length, `seed ${seed}: ${rel}`).toBeLessThan(12);
        expect(folders).toBeGreaterThan(30);
        // git's own answer, from a copy of the index (the checkout's index stays as staged).
        const copy = path.join(fixture.root, `index-${seed}`);
        await writeFile(copy, await readFile(path.join(lease.path, '.git', 'index')));
        expect(mine, `seed ${seed}`).toBe((await git(lease.path, ['write-tree'], { env: { GIT_INDEX_FILE: copy } })).stdout.trim());
        lease.release();
      }
    } finally {
      read.mockRestore();
    }
    await git(fixture.repo, ['fsck', '--no-dangling', '--strict']);
  });

  it('leaves to git an index with a conflict, an intent-to-add entry, another version, or a torn file', async () => {
    fixture = await createTempRepo(initial);
    const store = await objectStoreFor(fixture.repo);
    const baseTree = await store.commitTree(fixture.base);
    const lease = await checkoutFor({ repo: fixture.repo, workspacesDir: fixture.workspacesDir, programmerId: 'p1', baseCommit: fixture.base });
    try {
      const dir = lease.path;
      const index = path.join(dir, '.git', 'index');
      expect(parseIndex(await readFile(index), store.hashBytes)).not.toBeNull();
      // Intent-to-add: an extended flag.
      await writeFile(path.join(dir, 'later.ts'), 'later\n');
      await git(dir, ['add', '--intent-to-add', 'later.ts']);
      expect(await writeIndexTree(store, dir, baseTree)).toBeNull();
      // The whole path still gives git's own tree.
      expect(await checkoutTree(dir, store, baseTree)).toBe((await git(dir, ['write-tree'])).stdout.trim());
      // Version 4 (path compression).
      await git(dir, ['update-index', '--index-version', '4']);
      expect(await writeIndexTree(store, dir, baseTree)).toBeNull();
      await git(dir, ['update-index', '--index-version', '2']);
      expect(await writeIndexTree(store, dir, baseTree)).not.toBeNull();
      // A torn file (its trailing hash does not match).
      const data = await readFile(index);
      data[20] = data[20]! ^ 0xff;
      expect(parseIndex(data, store.hashBytes)).toBeNull();
      // A conflict: stage 1-3 entries from a three-way read-tree.
      const other = (await git(dir, ['hash-object', '-w', '--stdin'], { input: 'other\n' })).stdout.trim();
      await git(dir, ['update-index', '--index-info'], { input: `100644 ${other} 1\ta.txt\n100644 ${other} 2\ta.txt\n` });
      expect(await writeIndexTree(store, dir, baseTree)).toBeNull();
    } finally {
      lease.release();
    }
  });

  it('knows an index holds exactly the base’s files from git’s cache-tree root, after a reset and a git status refresh, and not once a change is staged (then by its entries)', async () => {
    fixture = await createTempRepo(initial);
    const store = await objectStoreFor(fixture.repo);
    const baseTree = await store.commitTree(fixture.base);
    const lease = await checkoutFor({ repo: fixture.repo, workspacesDir: fixture.workspacesDir, programmerId: 'p1', baseCommit: fixture.base });
    try {
      const dir = lease.path;
      const index = path.join(dir, '.git', 'index');
      expect(indexFacts(await readFile(index), store.hashBytes).rootTree).toBe(baseTree);
      await writeFile(path.join(dir, 'a.txt'), 'touched, then back\n');
      await writeFile(path.join(dir, 'a.txt'), await git(fixture.repo, ['show', `${fixture.base}:a.txt`]).then((r) => `${r.stdout}`));
      await git(dir, ['status', '--porcelain']);
      expect(indexFacts(await readFile(index), store.hashBytes).rootTree).toBe(baseTree);
      expect(await indexHolds(dir, store, baseTree)).toBe(true);
      await writeFile(path.join(dir, 'a.txt'), 'staged change\n');
      await git(dir, ['add', 'a.txt']);
      expect(indexFacts(await readFile(index), store.hashBytes).rootTree).toBeNull();
      expect(await indexHolds(dir, store, baseTree)).toBe(false);
      // Staged back to the base's bytes: the entries match though git's cache-tree no longer says so.
      await git(dir, ['checkout', fixture.base, '--', 'a.txt']);
      expect(await indexHolds(dir, store, baseTree)).toBe(true);
    } finally {
      lease.release();
    }
  });
});
