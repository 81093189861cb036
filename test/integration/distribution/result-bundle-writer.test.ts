/** A worker writes its result bundle itself, no git process, and real git takes it as one of its own. */
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importResultBundle, makeBaseBundle, makeResultBundle, repoKeyOf, WorkerRepoCache } from '../../../src/distribution/bundles.ts';
import { readBundleHeader } from '../../../src/distribution/bundle-header.ts';
import { gitProcessCount } from '../../../src/executors/git-command.ts';
import { commitEdits } from '../../../src/executors/object-commit.ts';
import { objectStoreFor } from '../../../src/executors/object-store.ts';
import { bundleFixture, commitFiles, workerCommit, type BundleFixture } from '../../support/bundle-fixtures.ts';
import { gitOut, writeFiles } from '../../support/git-fixtures.ts';

let fx: BundleFixture;

beforeEach(async () => {
  fx = await bundleFixture();
});

afterEach(() => fx.cleanup());

/** What real git says of a bundle in `repo` (which holds its base): `bundle verify`, then the fetched commit's files. */
async function gitTakes(repo: string, bundle: Uint8Array, commit: string): Promise<string> {
  const file = path.join(fx.workerDir, `check-${commit.slice(0, 8)}.bundle`);
  await writeFile(file, bundle);
  expect(await gitOut(repo, 'bundle', 'verify', '-q', file).then(() => 'verified')).toBe('verified');
  const probe = `refs/probe/${commit.slice(0, 12)}`;
  await gitOut(repo, '-c', 'fetch.fsckObjects=true', 'fetch', '-q', '--no-write-fetch-head', file, `refs/pas/result/${commit}:${probe}`);
  expect(await gitOut(repo, 'rev-parse', probe)).toBe(commit);
  return gitOut(repo, 'ls-tree', '-r', '--full-tree', probe);
}

async function clonedBase(): Promise<string> {
  const base = await makeBaseBundle(fx.central.repo, fx.central.base);
  return fx.cache.ensureBase(fx.repoKey, base.bytes, fx.central.base);
}

/** A task's commit in a fresh clone (src/a.ts set to `a`), while another git holds the lock of its have ref. */
async function resultWithHaveLocked(a: number): Promise<{ clone: string; commit: string; lock: string }> {
  const clone = await clonedBase();
  const { commit } = await commitEdits({ repo: clone, baseCommit: fx.central.base, edits: new Map([['src/a.ts', Buffer.from(`export const a = ${a};\n`)]]), message: 'task work' });
  const lock = path.join(clone, '.git', 'refs', 'pas', 'haves', `${commit}.lock`);
  await mkdir(path.dirname(lock), { recursive: true });
  await writeFile(lock, '');
  return { clone, commit, lock };
}

describe('result bundles written in-process', () => {
  it('writes the native path\'s one-commit result as a bundle git verifies and fetches, without starting git', async () => {
    const clone = await clonedBase();
    const { commit } = await commitEdits({ repo: clone, baseCommit: fx.central.base, edits: new Map([['src/a.ts', Buffer.from('export const a = 2;\n')], ['src/new/b.ts', Buffer.from('export const b = 1;\n')]]), message: 'task work' });
    const store = await objectStoreFor(clone);
    await store.updateRefs([`update refs/pas/warm ${commit}`]); // the long-lived git processes are up
    await store.updateRefs(['delete refs/pas/warm']);
    await store.read(commit);
    const before = gitProcessCount();
    const bundle = await makeResultBundle(clone, fx.central.base, commit);
    expect(gitProcessCount() - before).toBe(0);

    const header = readBundleHeader(bundle);
    expect(header).toMatchObject({ version: 2, objectFormat: 'sha1', prerequisites: [fx.central.base], heads: [{ commit, ref: `refs/pas/result/${commit}` }] });
    expect(Buffer.from(bundle).toString('latin1', header.packOffset, header.packOffset + 4)).toBe('PACK');
    expect(await gitTakes(fx.central.repo, bundle, commit)).toBe(await gitOut(clone, 'ls-tree', '-r', '--full-tree', commit));
    // The commit stays in the cache as a have.
    expect(await fx.cache.haves()).toEqual({ [fx.repoKey]: expect.arrayContaining([commit]) });
    await gitOut(fx.central.repo, 'fsck', '--strict', '--no-dangling');
  });

  it('answers the bundle without waiting for the have ref of its commit, and lists that have once it is written', async () => {
    // Another git holds the have's ref: the bundle must not wait for it.
    const { clone, commit, lock } = await resultWithHaveLocked(3);
    const bundle = await makeResultBundle(clone, fx.central.base, commit);
    expect(readBundleHeader(bundle).heads).toEqual([{ commit, ref: `refs/pas/result/${commit}` }]);
    expect(await gitOut(clone, 'for-each-ref', '--format=%(objectname)', 'refs/pas/haves')).not.toContain(commit);
    // A registration lists the haves after the writes started before it, once the lock is gone.
    const listed = fx.cache.haves();
    await rm(lock);
    expect(await listed).toEqual({ [fx.repoKey]: expect.arrayContaining([commit]) });
  });

  it('settles once the have writes of the results answered so far end: a stopping worker leaves none behind', async () => {
    const { clone, commit, lock } = await resultWithHaveLocked(4);
    const cache = new WorkerRepoCache(fx.cache.dataDir);
    await cache.makeResultBundle(clone, fx.central.base, commit);
    const settled = cache.settled();
    await rm(lock);
    await settled;
    expect(await gitOut(clone, 'for-each-ref', '--format=%(objectname)', 'refs/pas/haves')).toContain(commit);
  });

  it('tells its owner when the have ref of a result cannot be written, and still answers the bundle', async () => {
    const clone = await clonedBase();
    const { commit } = await commitEdits({ repo: clone, baseCommit: fx.central.base, edits: new Map([['src/a.ts', Buffer.from('export const a = 5;\n')]]), message: 'task work' });
    // A file where the haves folder belongs: no have ref can be made under it.
    await rm(path.join(clone, '.git', 'refs', 'pas', 'haves'), { recursive: true, force: true });
    await mkdir(path.join(clone, '.git', 'refs', 'pas'), { recursive: true });
    await writeFile(path.join(clone, '.git', 'refs', 'pas', 'haves'), '');
    const failed: string[] = [];
    const cache = new WorkerRepoCache(fx.cache.dataDir, { onFailed: (c) => failed.push(c) });
    const bundle = await cache.makeResultBundle(clone, fx.central.base, commit);
    expect(readBundleHeader(bundle).heads).toEqual([{ commit, ref: `refs/pas/result/${commit}` }]);
    await cache.settled();
    expect(failed).toEqual([commit]);
  });

  it('carries a chain of commits with a deletion, a new folder, an executable and a symlink, and only what the chain adds', async () => {
    const clone = await clonedBase();
    await gitOut(clone, 'checkout', '-q', '--detach', fx.central.base);
    await writeFiles(clone, { 'lib/deep/x.ts': 'export const x = 1;\n', 'bin/run.sh': '#!/bin/sh\necho run\n' });
    await chmod(path.join(clone, 'bin/run.sh'), 0o755);
    await symlink('../README.md', path.join(clone, 'lib/readme-link'));
    await gitOut(clone, 'add', '--all');
    await gitOut(clone, 'commit', '-q', '-m', 'one');
    await gitOut(clone, 'rm', '-q', 'src/a.ts');
    await gitOut(clone, 'commit', '-q', '-m', 'two: a deletion');
    const head = await commitFiles(clone, { 'lib/deep/x.ts': 'export const x = 2;\n', 'README.md': '# app, changed\n' }, 'three');
    expect(await gitOut(clone, 'ls-tree', head, 'bin/run.sh')).toMatch(/^100755 /);
    expect(await gitOut(clone, 'ls-tree', head, 'lib/readme-link')).toMatch(/^120000 /);

    const bundle = await makeResultBundle(clone, fx.central.base, head);
    expect(await gitTakes(fx.central.repo, bundle, head)).toBe(await gitOut(clone, 'ls-tree', '-r', '--full-tree', head));
    // Exactly the objects base..head adds, as `git rev-list --objects` lists them.
    const wanted = (await gitOut(clone, 'rev-list', '--objects', head, `^${fx.central.base}`)).split('\n').map((l) => l.split(' ')[0]).sort();
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'pas-pack-'));
    try {
      const file = path.join(scratch, 'chain.pack');
      await writeFile(file, Buffer.from(bundle).subarray(readBundleHeader(bundle).packOffset));
      await gitOut(scratch, 'index-pack', file);
      const listed = (await gitOut(scratch, 'verify-pack', '-v', file)).split('\n').filter((l) => /^[0-9a-f]{40} (commit|tree|blob) /.test(l));
      expect(listed.map((l) => l.split(' ')[0]).sort()).toEqual(wanted);
      expect(listed.every((l) => l.split(/\s+/).length === 5)).toBe(true); // whole objects: no delta columns
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    // The central process takes the same bundle in-process, to the same commit.
    expect(await importResultBundle(fx.central.repo, bundle, { base: fx.central.base, expectedRef: 'refs/heads/pas/j/chain', attemptId: 'a1', commit: head })).toBe(head);
    await gitOut(fx.central.repo, 'fsck', '--strict', '--no-dangling');
  });

  it('writes a v3 bundle for a sha256 repository that git verifies and fetches', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'pas-sha256-'));
    try {
      const repo = path.join(root, 'repo');
      await gitOut(root, 'init', '-q', '--object-format=sha256', '--initial-branch=main', repo);
      await writeFiles(repo, { 'a.txt': 'a\n', 'dir/b.txt': 'b\n' });
      await gitOut(repo, 'add', '--all');
      await gitOut(repo, 'commit', '-q', '-m', 'first');
      const base = await gitOut(repo, 'rev-parse', 'HEAD');
      const cache = new WorkerRepoCache(path.join(root, 'worker'));
      const key = await repoKeyOf(repo);
      const clone = await cache.ensureBase(key, (await makeBaseBundle(repo, base)).bytes, base);
      const commit = await workerCommit(clone, base, { 'a.txt': 'changed\n', 'dir/c/new.txt': 'new\n' });
      const bundle = await makeResultBundle(clone, base, commit);
      expect(readBundleHeader(bundle)).toMatchObject({ version: 3, objectFormat: 'sha256', prerequisites: [base] });
      expect(Buffer.from(bundle).toString('utf8', 0, 40)).toMatch(/^# v3 git bundle\n@object-format=sha256\n/);
      expect(await gitTakes(repo, bundle, commit)).toBe(await gitOut(clone, 'ls-tree', '-r', '--full-tree', commit));
      await gitOut(repo, 'fsck', '--strict', '--no-dangling');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
