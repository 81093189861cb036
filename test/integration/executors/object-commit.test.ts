import { existsSync } from 'node:fs';
import { chmod, readFile, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { git } from '../../../src/executors/git-command.ts';
import { commitEdits, readAt } from '../../../src/executors/object-commit.ts';
import { closeObjectStores, objectStoreFor } from '../../../src/executors/object-store.ts';
import { parseNumstat } from '../../../src/executors/worktree.ts';
import { createTempRepo, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';
import { seededRng, type SeededRng } from '../../support/seeded-rng.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

const WORDS = ['', '}', '{', 'return x;', 'const a = 1;', '  // note', 'if (x) {', 'let y = 2;', 'export {};', '\t', 'end'];

function randomText(r: SeededRng, lines: number): string {
  const out = Array.from({ length: lines }, () => r.pick(WORDS));
  const text = out.join('\n');
  return r.next() < 0.2 ? text : `${text}\n`;
}

function mutate(r: SeededRng, text: string): string {
  const lines = text.split('\n');
  const edits = 1 + r.int(6);
  for (let i = 0; i < edits; i++) {
    const at = r.int(lines.length + 1);
    const kind = r.int(4);
    if (kind === 0) lines.splice(at, 0, ...Array.from({ length: 1 + r.int(4) }, () => r.pick(WORDS)));
    else if (kind === 1) lines.splice(at, 1 + r.int(3));
    else if (kind === 2) lines[Math.min(at, lines.length - 1)] = r.pick(WORDS) + String(r.int(9));
    else lines.reverse();
  }
  return lines.join('\n');
}

/** What git itself makes of the same edits: a scratch index from the base, files written, write-tree and numstat. */
async function gitsOwn(f: TempRepo, base: string, edits: Map<string, Buffer | null>): Promise<{ tree: string; numstat: string }> {
  const index = path.join(f.root, `index-${Math.random().toString(16).slice(2)}`);
  const env = { GIT_INDEX_FILE: index };
  await git(f.repo, ['read-tree', base], { env });
  for (const [rel, content] of edits) {
    if (content === null) await git(f.repo, ['rm', '--cached', '--quiet', '--ignore-unmatch', '--', rel], { env });
  }
  // Blobs through hash-object from files on disk, so git computes them itself.
  const scratch = path.join(f.root, `scratch-${Math.random().toString(16).slice(2)}`);
  for (const [rel, content] of edits) {
    if (content === null) continue;
    await writeFiles(scratch, { [rel]: content });
    const oid = (await git(f.repo, ['hash-object', '-w', path.join(scratch, rel)])).stdout.trim();
    const mode = (await git(f.repo, ['ls-tree', base, '--', rel])).stdout.split(' ')[0] || '100644';
    await git(f.repo, ['update-index', '--add', '--cacheinfo', `${mode},${oid},${rel}`], { env });
  }
  const tree = (await git(f.repo, ['write-tree'], { env })).stdout.trim();
  const numstat = (await git(f.repo, ['diff', '--numstat', '--no-renames', '-z', `${base}^{tree}`, tree])).stdout;
  await rm(index, { force: true });
  await rm(scratch, { recursive: true, force: true });
  return { tree, numstat };
}

describe('commits written as objects, without a checkout', () => {
  it('matches git write-tree and git diff --numstat over many random edits (deletions, new files, binary, no final newline, kept modes)', async () => {
    const r = seededRng(20261130);
    const files: Record<string, string | Buffer> = {};
    for (let i = 0; i < 12; i++) files[`${r.pick(['', 'src/', 'src/deep/x/', 'lib/'])}f${i}.ts`] = randomText(r, 1 + r.int(40));
    files['bin/data.bin'] = Buffer.from([1, 0, 2, 3]);
    files['run.sh'] = '#!/bin/sh\necho hi\n';
    const f = (fixture = await createTempRepo(files));
    await chmod(path.join(f.repo, 'run.sh'), 0o755);
    await gitOut(f.repo, 'add', '--all');
    await gitOut(f.repo, 'commit', '--quiet', '-m', 'exec bit');
    const base = await gitOut(f.repo, 'rev-parse', 'HEAD');
    const store = await objectStoreFor(f.repo);
    const baseTree = await store.commitTree(base);
    const paths = Object.keys(files);

    for (let round = 0; round < 60; round++) {
      const edits = new Map<string, Buffer | null>();
      const count = 1 + r.int(4);
      for (let i = 0; i < count; i++) {
        const roll = r.next();
        if (roll < 0.12) edits.set(r.pick(paths), null);
        else if (roll < 0.25) edits.set(`${r.pick(['new/', 'src/', 'src/deep/x/y/', ''])}n${r.int(50)}.txt`, Buffer.from(randomText(r, r.int(10))));
        else if (roll < 0.3) edits.set('bin/data.bin', Buffer.from([r.int(255), 0, 9]));
        else if (roll < 0.35) edits.set('run.sh', Buffer.from(`#!/bin/sh\necho ${r.int(100)}\n`));
        else {
          const target = r.pick(paths.filter((p) => p.endsWith('.ts')));
          const before = (await readAt(store, baseTree, target))!.toString('utf8');
          edits.set(target, Buffer.from(mutate(r, before)));
        }
      }
      const ours = await commitEdits({ repo: f.repo, baseCommit: base, edits, message: `round ${round}` });
      const theirs = await gitsOwn(f, base, edits);
      const ourTree = ours.changed ? await store.commitTree(ours.commit) : baseTree;
      expect({ round, tree: ourTree }).toEqual({ round, tree: theirs.tree });
      expect({ round, kpi: ours.kpi }).toEqual({ round, kpi: parseNumstat(theirs.numstat) });
      if (ours.changed) {
        expect(await gitOut(f.repo, 'rev-parse', `${ours.commit}^`)).toBe(base);
        const names = (await gitOut(f.repo, 'diff', '--name-only', '--no-renames', base, ours.commit)).split('\n').filter(Boolean);
        expect(ours.paths).toEqual(names);
      }
    }
    expect(await gitOut(f.repo, 'ls-tree', base, 'run.sh')).toMatch(/^100755 /);
    await gitOut(f.repo, 'fsck', '--strict', '--no-dangling');
  }, 60_000);

  it('refuses to read or write through a symlink or into a submodule, and reports an untouched edit as no change', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n', 'real/x.txt': 'x\n' }));
    await symlink('real', path.join(f.repo, 'link'));
    await symlink('/etc/passwd', path.join(f.repo, 'passwd'));
    await gitOut(f.repo, 'add', '--all');
    const sub = (await gitOut(f.repo, 'rev-parse', 'HEAD'));
    await gitOut(f.repo, 'update-index', '--add', '--cacheinfo', `160000,${sub},vendor/mod`);
    await gitOut(f.repo, 'commit', '--quiet', '-m', 'links');
    const base = await gitOut(f.repo, 'rev-parse', 'HEAD');
    const store = await objectStoreFor(f.repo);
    const tree = await store.commitTree(base);

    await expect(readAt(store, tree, 'link/x.txt')).rejects.toMatchObject({ code: 'PAS_ERR_FS_PATH_ESCAPE' });
    await expect(readAt(store, tree, 'passwd')).rejects.toMatchObject({ code: 'PAS_ERR_FS_PATH_ESCAPE' });
    await expect(readAt(store, tree, 'vendor/mod/file.c')).rejects.toMatchObject({ code: 'PAS_ERR_FS_NOT_ALLOWED' });
    await expect(commitEdits({ repo: f.repo, baseCommit: base, edits: new Map([['link/x.txt', Buffer.from('y\n')]]), message: 'm' })).rejects.toMatchObject({ code: 'PAS_ERR_FS_PATH_ESCAPE' });
    await expect(commitEdits({ repo: f.repo, baseCommit: base, edits: new Map([['passwd', Buffer.from('y\n')]]), message: 'm' })).rejects.toMatchObject({ code: 'PAS_ERR_FS_PATH_ESCAPE' });
    await expect(commitEdits({ repo: f.repo, baseCommit: base, edits: new Map([['vendor/mod', null]]), message: 'm' })).rejects.toMatchObject({ code: 'PAS_ERR_FS_NOT_ALLOWED' });
    await expect(commitEdits({ repo: f.repo, baseCommit: base, edits: new Map([['a.txt/inner', Buffer.from('y\n')]]), message: 'm' })).rejects.toMatchObject({ code: 'PAS_ERR_FS_NOT_ALLOWED' });

    const same = await commitEdits({ repo: f.repo, baseCommit: base, edits: new Map([['a.txt', Buffer.from('a\n')], ['gone.txt', null]]), message: 'm' });
    expect(same).toEqual({ commit: base, changed: false, paths: [], kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 } });

    const deleted = await commitEdits({ repo: f.repo, baseCommit: base, edits: new Map([['real/x.txt', null]]), message: 'drop x' });
    expect(await gitOut(f.repo, 'ls-tree', '-r', '--name-only', deleted.commit)).not.toMatch(/^real\//m);
    expect(deleted.kpi).toEqual({ files_changed: 1, lines_added: 0, lines_removed: 1 });
    expect(await gitOut(f.repo, 'log', '-1', '--format=%an <%ae>|%s', deleted.commit)).toBe('PAS <pas@localhost>|drop x');
  });

  it('moves refs through one update-ref: many creates at once land together, and a create of an existing ref fails alone', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const store = await objectStoreFor(f.repo);
    await gitOut(f.repo, 'branch', 'pas/j/taken', f.base);
    const names = Array.from({ length: 30 }, (_, i) => `pas/j/t${i}`);
    const outcomes = await Promise.allSettled([...names, 'pas/j/taken'].map((n) => store.updateRefs([`create refs/heads/${n} ${f.base}`])));
    expect(outcomes.slice(0, 30).every((o) => o.status === 'fulfilled')).toBe(true);
    expect(outcomes[30]).toMatchObject({ status: 'rejected', reason: { code: 'PAS_ERR_GIT' } });
    expect((await gitOut(f.repo, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/pas/j/')).split('\n').sort()).toEqual([...names, 'pas/j/taken'].sort());
  });

  it('writes no reflog for the refs it creates (a folder and a file less per task branch), and still appends to a reflog that exists', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const store = await objectStoreFor(f.repo);
    await store.updateRefs([`create refs/heads/pas/j/t1 ${f.base}`]);
    expect(existsSync(path.join(f.repo, '.git', 'logs', 'refs', 'heads', 'pas'))).toBe(false);
    // A branch the user made (its reflog is git's, made by the user's git) keeps getting entries.
    await gitOut(f.repo, 'branch', 'mine', f.base);
    const before = (await readFile(path.join(f.repo, '.git', 'logs', 'refs', 'heads', 'mine'), 'utf8')).split('\n').filter(Boolean).length;
    const next = (await gitOut(f.repo, 'commit-tree', '-p', f.base, '-m', 'next', `${f.base}^{tree}`)).trim();
    await store.updateRefs([`update refs/heads/mine ${next} ${f.base}`]);
    expect((await readFile(path.join(f.repo, '.git', 'logs', 'refs', 'heads', 'mine'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(before + 1);
  });

  it('writes every object while object folders are removed under it, as a repack\'s prune-packed does', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const store = await objectStoreFor(f.repo);
    store.packEvery = Number.MAX_SAFE_INTEGER;
    let writing = true;
    // Packs the loose objects and removes them and their emptied folders, over and over, while
    // the writes below run (what a background repack's prune-packed does).
    const pruner = (async () => {
      while (writing) {
        await gitOut(f.repo, 'repack', '-d', '-q');
        await gitOut(f.repo, 'prune-packed', '-q');
      }
    })();
    try {
      const oids: string[] = [];
      for (let round = 0; round < 20; round++) {
        oids.push(...(await Promise.all(Array.from({ length: 100 }, (_, i) => store.write('blob', Buffer.from(`blob ${round * 100 + i}\n`))))));
      }
      for (const [i, oid] of oids.entries()) expect((await store.read(oid))?.data.toString()).toBe(`blob ${i}\n`);
    } finally {
      writing = false;
      await pruner;
    }
  });

  it('packs its loose objects in the background now and then, while commits and reads go on', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const store = await objectStoreFor(f.repo);
    store.packEvery = 12;
    // Its folds start at once, amid the commits and reads (no wait for a pause in the writes).
    store.foldWait.quietMs = 0;
    const commits: string[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await commitEdits({ repo: f.repo, baseCommit: f.base, edits: new Map([[`f${i}.txt`, Buffer.from(`${i}\n`)]]), message: `c${i}` });
      await store.updateRefs([`create refs/heads/pas/p/t${i} ${c.commit}`]);
      commits.push(c.commit);
      // Reads while a packing may run: every object is still found.
      expect((await readAt(store, await store.commitTree(c.commit), `f${i}.txt`))?.toString()).toBe(`${i}\n`);
    }
    await store.packing;
    const counts = Object.fromEntries((await gitOut(f.repo, 'count-objects', '-v')).split('\n').map((l) => l.split(': ')));
    expect(Number(counts.packs)).toBeGreaterThanOrEqual(1);
    for (const [i, c] of commits.entries()) expect(await gitOut(f.repo, 'show', `${c}:f${i}.txt`)).toBe(`${i}`);
    await gitOut(f.repo, 'fsck', '--strict', '--no-dangling');
  });
});
