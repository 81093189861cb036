/**
 * Objects a repository's store has just written are read back from memory, not through git's
 * `cat-file` (a worker's result bundle and a merge read the commit, trees and blobs a task just
 * wrote), and the same bytes are on disk for git.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { makeResultBundle } from '../../../src/distribution/worker-repo-cache.ts';
import { commitEdits } from '../../../src/executors/object-commit.ts';
import { closeObjectStores, formatTree, MODE_FILE, objectStoreFor, parseTree } from '../../../src/executors/object-store.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

describe('objects read back after a write', () => {
  it('a blob, tree and commit the store wrote are read back without asking git, byte for byte what git reads', async () => {
    fixture = await createTempRepo({ 'a.txt': 'a\n' });
    const store = await objectStoreFor(fixture.repo);
    const blob = await store.write('blob', Buffer.from('written here\n'));
    const tree = await store.writeTree([{ mode: MODE_FILE, name: 'b.txt', oid: blob }]);
    const commit = await store.writeCommit(tree, [fixture.base], 'written');
    const asked = store.gitReads;

    expect(typeof asked).toBe('number');
    const [b, t, c] = await Promise.all([store.read(blob), store.read(tree), store.read(commit)]);
    expect(store.gitReads).toBe(asked);
    expect(b).toMatchObject({ oid: blob, type: 'blob' });
    expect(b!.data.toString()).toBe('written here\n');
    expect(t).toMatchObject({ oid: tree, type: 'tree' });
    expect(parseTree(t!.data, store.hashBytes)).toEqual([{ mode: MODE_FILE, name: 'b.txt', oid: blob }]);
    expect(t!.data.equals(formatTree([{ mode: MODE_FILE, name: 'b.txt', oid: blob }]))).toBe(true);
    expect(c).toMatchObject({ oid: commit, type: 'commit' });
    // What memory answered is what git has on disk.
    expect(await gitOut(fixture.repo, 'cat-file', '-p', commit)).toBe(c!.data.toString().trimEnd());
    expect(await gitOut(fixture.repo, 'cat-file', 'blob', blob)).toBe('written here');
  });

  it("a worker's result bundle of a task's commit is written from memory: no cat-file read, and git verifies and reads it", async () => {
    fixture = await createTempRepo({ 'src/deep/er/a.ts': 'a\n', 'src/b.ts': 'b\n' });
    const store = await objectStoreFor(fixture.repo);
    await store.read(fixture.base);
    const edits = new Map([['src/deep/er/a.ts', Buffer.from('a2\n')], ['src/new.ts', Buffer.from('n\n')]]);
    const { commit } = await commitEdits({ repo: fixture.repo, baseCommit: fixture.base, edits, message: 'task' });
    const asked = store.gitReads;
    const bundle = await makeResultBundle(fixture.repo, fixture.base, commit);
    expect(store.gitReads - asked).toBe(0);
    const file = path.join(fixture.root, 'result.bundle');
    await writeFile(file, bundle);
    await gitOut(fixture.repo, 'bundle', 'verify', '-q', file);
    const heads = await gitOut(fixture.repo, 'bundle', 'list-heads', file);
    expect(heads).toContain(commit);
  });

  it("a commit's full id read before resolves without git; a ref name or an unknown id is still asked", async () => {
    fixture = await createTempRepo({ 'a.txt': 'a\n' });
    const store = await objectStoreFor(fixture.repo);
    expect(await store.resolveCommit(fixture.base)).toBe(fixture.base);
    const asked = store.gitReads;
    expect(await store.resolveCommit(fixture.base)).toBe(fixture.base);
    expect(store.gitReads).toBe(asked);
    expect(await store.resolveCommit('refs/heads/main')).toBe(fixture.base);
    expect(store.gitReads).toBe(asked + 1);
    expect(await store.resolveCommit('0'.repeat(40))).toBeNull();
    expect(store.gitReads).toBe(asked + 2);
    const tree = await gitOut(fixture.repo, 'rev-parse', `${fixture.base}^{tree}`);
    expect(await store.resolveCommit(tree)).toBeNull();
  });

  it('an object the store did not write is still read through git (and a revision expression always is)', async () => {
    fixture = await createTempRepo({ 'a.txt': 'a\n' });
    const store = await objectStoreFor(fixture.repo);
    const asked = store.gitReads;
    const base = await store.read(fixture.base);
    expect(base).toMatchObject({ oid: fixture.base, type: 'commit' });
    expect(store.gitReads).toBe(asked + 1);
    const file = await store.read(`${fixture.base}:a.txt`);
    expect(file!.data.toString()).toBe('a\n');
    expect(store.gitReads).toBe(asked + 2);
  });
});
