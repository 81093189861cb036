/**
 * The object store over packs: a burst of objects lands as one pack, which the store's long-lived
 * gits (cat-file, update-ref), a checkout's git, merge-tree and gc all see; the background fold
 * keeps the count of packs bounded and loses nothing written while it, or another repack, runs.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { checkoutFor } from '../../../src/executors/checkouts.ts';
import { closeObjectStores, countPacks, formatTree, MODE_FILE, objectStoreFor, type RepoObjectStore } from '../../../src/executors/object-store.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
// Each test's stores end with it (the long-lived gits run in its repository).
afterEach(async () => {
  await closeObjectStores();
  await fixture?.cleanup();
  fixture = undefined;
});

/** The loose objects in an objects folder; a fan-out folder a running fold's prune-packed removes meanwhile holds none. */
function looseObjects(objects: string): string[] {
  const found: string[] = [];
  for (const dir of readdirSync(objects).filter((d) => /^[0-9a-f]{2}$/.test(d))) {
    let names: string[];
    try {
      names = readdirSync(path.join(objects, dir));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const name of names) if (/^[0-9a-f]{38}$/.test(name)) found.push(`${dir}${name}`);
  }
  return found;
}

/** A commit of `files` on `parent`, every object asked for in one event-loop iteration (one burst). */
function burstCommit(store: RepoObjectStore, parent: string, files: Record<string, string>): { commit: string; oids: string[]; written: Promise<unknown> } {
  const blobs = Object.entries(files).map(([name, text]) => ({ name, ...store.writeSoon('blob', Buffer.from(text)) }));
  const tree = store.writeSoon('tree', formatTree(blobs.map((b) => ({ mode: MODE_FILE, name: b.name, oid: b.oid }))));
  const commit = store.writeCommitSoon(tree.oid, [parent], 'burst');
  return { commit: commit.oid, oids: [...blobs.map((b) => b.oid), tree.oid, commit.oid], written: Promise.all([...blobs.map((b) => b.written), tree.written, commit.written]) };
}

describe('objects written as packs', () => {
  it('are seen by the already-running cat-file and update-ref, by a checkout made before the pack, by merge-tree, and after git gc', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const objects = path.join(f.repo, '.git', 'objects');
    const store = await objectStoreFor(f.repo);
    // Both long-lived gits are running (and have looked at the pack folder) before the pack exists.
    expect((await store.read(f.base))?.type).toBe('commit');
    await store.updateRefs([`create refs/heads/warm ${f.base}`]);
    const checkout = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'p1', baseCommit: f.base });
    checkout.release();
    const packsBefore = await countPacks(objects);
    const looseBefore = looseObjects(objects);

    const one = burstCommit(store, f.base, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, `one ${i}\n`])));
    const two = burstCommit(store, f.base, { 'a.txt': 'a\n', 'g.txt': 'two\n' });
    await Promise.all([one.written, two.written]);
    expect(await countPacks(objects)).toBe(packsBefore + 1);
    // (two's a.txt is the base's blob, loose from before.)
    expect(looseObjects(objects).filter((o) => !looseBefore.includes(o))).toEqual([]);

    expect((await store.read(`${one.commit}:f7.txt`))?.data.toString()).toBe('one 7\n');
    // A ref to a commit that is only in the new pack, through the running update-ref.
    await store.updateRefs([`create refs/heads/one ${one.commit}`, `create refs/heads/two ${two.commit}`]);
    expect(await gitOut(f.repo, 'rev-parse', 'one', 'two')).toBe(`${one.commit}\n${two.commit}`);

    // The checkout shares the objects folder through a symlink: its git resets to the new commit.
    const again = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'p1', baseCommit: one.commit });
    try {
      expect(await gitOut(again.path, 'rev-parse', 'HEAD')).toBe(one.commit);
      expect(readdirSync(again.path).filter((n) => n.startsWith('f')).length).toBe(20);
    } finally {
      again.release();
    }

    const merged = await gitOut(f.repo, 'merge-tree', '--write-tree', 'one', 'two');
    expect(await gitOut(f.repo, 'ls-tree', '--name-only', merged)).toContain('g.txt');

    await gitOut(f.repo, 'gc', '--quiet', '--prune=now');
    expect(await gitOut(f.repo, 'fsck', '--strict', '--no-dangling')).toBe('');
    // The running reader finds the objects in gc's pack once the burst's pack is gone.
    expect((await store.read(`${two.commit}:g.txt`))?.data.toString()).toBe('two\n');
    expect((await store.read(one.oids[3]!))?.data.toString()).toBe('one 3\n');
  });

  it('folds small packs in the background so their count stays bounded over many bursts', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const objects = path.join(f.repo, '.git', 'objects');
    const store = await objectStoreFor(f.repo);
    let parent = f.base;
    let most = 0;
    const commits: string[] = [];
    for (let round = 0; round < 60; round++) {
      const c = burstCommit(store, parent, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, `round ${round} file ${i}\n`])));
      await c.written;
      parent = c.commit;
      commits.push(c.commit);
      // A fold runs at the pace of the bursts (the next burst comes after it).
      await store.packing;
      most = Math.max(most, await countPacks(objects));
    }
    await store.updateRefs([`update refs/heads/main ${parent}`]);
    // 60 packs unfolded; at most the packs that start a fold, plus those a fold leaves.
    expect(most).toBeLessThanOrEqual(store.foldAfterPacks + 4);
    expect(await countPacks(objects)).toBeLessThanOrEqual(store.foldAfterPacks + 4);
    for (const [round, c] of commits.entries()) expect(await gitOut(f.repo, 'show', `${c}:f5.txt`)).toBe(`round ${round} file 5`);
    expect(await gitOut(f.repo, 'fsck', '--strict', '--no-dangling')).toBe('');
  });

  it('loses no object, referenced or not yet, when folds and other geometric repacks run while bursts are written', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const store = await objectStoreFor(f.repo);
    store.foldAfterPacks = 2;
    // Its folds start at once, amid the writes (no wait for a pause in them).
    store.foldWait.quietMs = 0;
    let writing = true;
    let repacks = 0;
    // Another git repacking over and over, as a user's `git maintenance` or a second PAS process
    // would. Two repacks at once may make one of them fail (a pack it listed was rolled up by the
    // other: "index unavailable", or its index gone before git opened it: "cannot open index"),
    // git's own race, which deletes nothing: such a failure is let pass, any other fails the test.
    const other = (async () => {
      while (writing) {
        const run = await execa('git', ['repack', '--geometric=2', '-d', '-l', '-q'], { cwd: f.repo, reject: false });
        if (run.exitCode === 0) repacks++;
        else if (!/index unavailable|cannot open index for|cannot be accessed|could not find pack/i.test(String(run.stderr))) throw new Error(`git repack failed: ${String(run.stderr)}`);
      }
    })();
    const oids: string[] = [];
    try {
      for (let round = 0; round < 40; round++) {
        // Nothing references these blobs: a repack that lost them would not be caught by fsck.
        const burst = Array.from({ length: 30 }, (_, i) => store.writeSoon('blob', Buffer.from(`unreferenced ${round}.${i}\n`)));
        await Promise.all(burst.map((b) => b.written));
        oids.push(...burst.map((b) => b.oid));
      }
    } finally {
      writing = false;
      await other;
      await store.packing;
    }
    expect(repacks).toBeGreaterThan(0);
    const check = await execa('git', ['cat-file', '--batch-check=%(objectname) %(objecttype)'], { cwd: f.repo, input: `${oids.join('\n')}\n` });
    expect(check.stdout.split('\n').filter((l) => !l.endsWith(' blob'))).toEqual([]);
    for (const [i, oid] of oids.entries()) expect((await store.read(oid))?.data.toString()).toBe(`unreferenced ${Math.floor(i / 30)}.${i % 30}\n`);
    expect(await gitOut(f.repo, 'fsck', '--strict', '--no-dangling')).toBe('');
  });

  it('starts a due fold in the first pause of the writes, or amid them once it waited its longest', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const objects = path.join(f.repo, '.git', 'objects');
    const store = await objectStoreFor(f.repo);
    store.packEvery = 10;
    const pause = () => new Promise((r) => setTimeout(r, 20));
    // Writes 20 ms apart: the fold due after the tenth waits for a pause of 1.5 s.
    store.foldWait.quietMs = 1_500;
    store.foldWait.maxMs = 60_000;
    for (let i = 0; i < 40; i++) {
      await store.write('blob', Buffer.from(`loose ${i}\n`));
      await pause();
    }
    expect(store.packing).toBeDefined();
    expect(looseObjects(objects).length).toBeGreaterThanOrEqual(40);
    await store.packing;
    expect(looseObjects(objects)).toEqual([]);

    // Writes without a pause: the fold due at the tenth starts once it waited 300 ms, while they go on.
    store.foldWait.quietMs = 60_000;
    store.foldWait.maxMs = 300;
    let most = 0;
    let dueAt: number | undefined;
    let foldedAt: number | undefined;
    const until = performance.now() + 10_000;
    for (let i = 0; foldedAt === undefined && performance.now() < until; i++) {
      await store.write('blob', Buffer.from(`amid ${i}\n`));
      if (i === 9) dueAt = performance.now();
      const loose = looseObjects(objects).length;
      if (loose < most) foldedAt = performance.now();
      most = Math.max(most, loose);
      await pause();
    }
    expect(foldedAt).toBeDefined();
    expect(foldedAt! - dueAt!).toBeGreaterThanOrEqual(250);
    store.foldWait.maxMs = 0;
    await store.packing;
  });
});
