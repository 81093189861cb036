/**
 * The central process takes a result bundle of whole objects without git, refusing what git's
 * `fetch.fsckObjects` refuses (and what PAS refuses of a result's history); anything else is
 * left to git.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readBundleHeader } from '../../../src/distribution/bundle-header.ts';
import { readPack, writePack } from '../../../src/distribution/pack-file.ts';
import { importResultBundle, makeBaseBundle, makeResultBundle } from '../../../src/distribution/bundles.ts';
import { gitProcessCount } from '../../../src/executors/git-command.ts';
import { objectStoreFor } from '../../../src/executors/object-store.ts';
import { bundleFixture, commitFiles, workerCommit, type BundleFixture } from '../../support/bundle-fixtures.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { commitBytes, craftBundle, gitRefusal, oidOf, rawTree, resealPack, resultOf, type CraftedResult } from '../../support/pack-fixtures.ts';
import { failure } from '../../support/pas-failure.ts';

let fx: BundleFixture;
let base: string;
/** The base's entries, to build result trees on. */
let readme: string;
let src: string;

beforeEach(async () => {
  fx = await bundleFixture();
  base = fx.central.base;
  readme = await gitOut(fx.central.repo, 'rev-parse', `${base}:README.md`);
  src = await gitOut(fx.central.repo, 'rev-parse', `${base}:src`);
  // The repository's long-lived git processes are up: an import in-process starts none.
  const store = await objectStoreFor(fx.central.repo);
  await store.updateRefs([`create refs/pas/warm ${base}`]);
  await store.updateRefs(['delete refs/pas/warm']);
  await store.read(base);
});

afterEach(() => fx.cleanup());

const blob = (text: string) => ({ type: 'blob' as const, data: Buffer.from(text) });
const blobId = (text: string) => oidOf('sha1', 'blob', Buffer.from(text));
const importOf = (r: CraftedResult, ref = 'refs/heads/pas/j/t') => importResultBundle(fx.central.repo, r.bundle, { base, expectedRef: ref, attemptId: 'a1' });

/** Refused in-process (no git started), nothing written; and real git refuses the same pack unless `gitToo` is false. */
async function refused(r: CraftedResult, message: RegExp, gitToo = true): Promise<void> {
  const before = gitProcessCount();
  const err = await failure(importOf(r));
  expect(gitProcessCount() - before).toBe(0);
  expect(err.code).toBe('PAS_ERR_DIST_BUNDLE_INVALID');
  expect(err.message).toMatch(message);
  expect(await gitOut(fx.central.repo, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main');
  if (gitToo) expect(await gitRefusal(fx.central.repo, r.pack)).toMatch(/error|fatal/);
}

describe('what the central process refuses in a result pack, without git', () => {
  it('refuses tree entries git fsck refuses: .git in any case, . and .., a slash, an empty name, a zero-padded mode, a null id, out of order, twice', async () => {
    const b = blobId('x\n');
    const cases: Array<[string, Array<[string, string, string]>, RegExp]> = [
      ['.git', [['100644', '.git', b], ['100644', 'README.md', readme]], /named "\.git"/],
      ['.GiT', [['100644', '.GiT', b], ['100644', 'README.md', readme]], /named "\.GiT"/],
      ['..', [['100644', '..', b], ['100644', 'README.md', readme]], /named "\.\."/],
      ['.', [['100644', '.', b], ['100644', 'README.md', readme]], /named "\."/],
      ['a slash', [['100644', 'README.md', readme], ['100644', 'a/b', b]], /holds a "\/"/],
      ['an empty name', [['100644', '', b], ['100644', 'README.md', readme]], /empty name/],
      ['a zero-padded mode', [['100644', 'README.md', readme], ['040000', 'src', src]], /mode "040000"/],
      ['a null id', [['100644', 'README.md', readme], ['100644', 'z', '0'.repeat(40)]], /null id/],
      ['out of order', [['100644', 'README.md', readme], ['100644', '.x', b]], /out of git's order/],
      ['twice', [['100644', 'README.md', readme], ['100644', 'README.md', b]], /there twice/],
      // A file and a folder of one name are one name twice, even apart (git's look-ahead).
      ['twice, file and folder apart', [['100644', 'src', b], ['100644', 'src.ts', b], ['40000', 'src', src]], /"src" is there twice/],
    ];
    for (const [, entries, message] of cases) await refused(resultOf('sha1', base, rawTree(entries), [blob('x\n')]), message);
  });

  it('refuses a file mode git never writes (100645), which git itself only notes', async () => {
    await refused(resultOf('sha1', base, rawTree([['100644', 'README.md', readme], ['100645', 'x', blobId('x\n')]]), [blob('x\n')]), /mode "100645"/, false);
  });

  it('refuses commit headers git fsck refuses: bad tree and parent lines, no or two authors, no committer, a malformed ident or date, a NUL, an unterminated header', async () => {
    const who = 'A U Thor <a@example.com> 1700000000 +0000';
    const cases: Array<[string[], RegExp]> = [
      [['author A U Thor 1700000000 +0000', `committer ${who}`], /no email/],
      [[`author ${who}`, `author ${who}`, `committer ${who}`], /more than one author/],
      [[`author ${who}`], /no committer/],
      [['author A U Thor <a@example.com> 01700000000 +0000', `committer ${who}`], /zero-padded date/],
      [['author A U Thor <a@example.com> 1700000000 +000', `committer ${who}`], /time zone/],
      [['author <a@example.com> 1700000000 +0000', `committer ${who}`], /no name before the email/],
      [[`author ${who}`, 'committer A U Thor <a@example.com>1700000000 +0000'], /no space before the date/],
      [[`committer ${who}`], /no author line/],
      [['author A U>Thor <a@example.com> 1700000000 +0000', `committer ${who}`], /a ">" in the name/],
      [['author A U Thor<a@example.com> 1700000000 +0000', `committer ${who}`], /no space before the email/],
      [['author A U Thor <a@example.com 1700000000 +0000', `committer ${who}`], /a bad email/],
      [['author A U Thor <a@example.com> 1700000000x +0000', `committer ${who}`], /a bad date/],
    ];
    // Each a different tree, so each commit is new.
    for (const [i, [lines, message]] of cases.entries()) {
      const tree = rawTree([['100644', 'README.md', readme], ['100644', `f${i}`, blobId('x\n')]]);
      await refused(resultOf('sha1', base, tree, [blob('x\n')], lines), message);
    }
    const tree = rawTree([['100644', 'README.md', readme]]);
    const nul = craftBundle('sha1', base, [{ type: 'commit', data: commitBytes(oidOf('sha1', 'tree', tree), [base], undefined, 'a \0 in the message\n') }, { type: 'tree', data: tree }]);
    await refused(nul, /NUL byte/);
    const treeId = oidOf('sha1', 'tree', tree);
    const raw = (text: string) => craftBundle('sha1', base, [{ type: 'commit', data: Buffer.from(text) }, { type: 'tree', data: tree }]);
    await refused(raw(`tree ${treeId}\nparent ${base}\nauthor ${who}\ncommitter ${who}`), /unterminated/);
    await refused(raw(`tree ${treeId}\nparent ${base.slice(0, 39)}\nauthor ${who}\ncommitter ${who}\n\nm\n`), /bad parent line/);
    await refused(raw(`tree ${treeId.slice(0, 39)}x\nparent ${base}\nauthor ${who}\ncommitter ${who}\n\nm\n`), /bad tree line/);
    await refused(raw(`parent ${base}\ntree ${treeId}\nauthor ${who}\ncommitter ${who}\n\nm\n`), /no tree line first/);
  });

  it('refuses a pack that is not whole: a wrong trailer, truncated, fewer objects than it counts, junk after them, an object longer or shorter than its header says, an object twice, a reserved type, no signature', async () => {
    const good = resultOf('sha1', base, rawTree([['100644', 'README.md', readme], ['100644', 'n.txt', blobId('n\n')]]), [blob('n\n')]);
    const flipped = Buffer.from(good.bundle);
    flipped[flipped.length - 30]! ^= 0xff;
    await refused({ ...good, bundle: flipped, pack: flipped.subarray(good.bundle.length - good.pack.length) }, /trailer/);
    const cut = good.bundle.subarray(0, good.bundle.length - 25);
    await refused({ ...good, bundle: cut, pack: cut.subarray(good.bundle.length - good.pack.length) }, /trailer|truncated/);

    const counted = Buffer.from(good.pack);
    counted.writeUInt32BE(4, 8);
    await refused(craftBundle('sha1', base, [], { head: good.commit, pack: resealPack('sha1', counted) }), /truncated: 3 of 4 objects/);
    const junk = resealPack('sha1', Buffer.concat([good.pack.subarray(0, good.pack.length - 20), Buffer.from('junk'), Buffer.alloc(20)]));
    await refused(craftBundle('sha1', base, [], { head: good.commit, pack: junk }), /junk after/);
    // The last object (the blob "n\n", 2 bytes) says it holds 1.
    const blobAt = good.pack.length - 20 - deflateSync(Buffer.from('n\n'), { level: 1 }).length - 1;
    const short = Buffer.from(good.pack);
    expect(short[blobAt]).toBe(0x32); // type 3, size 2
    short[blobAt] = 0x31;
    await refused(craftBundle('sha1', base, [], { head: good.commit, pack: resealPack('sha1', short) }), /does not inflate to 1 bytes/);
    short[blobAt] = 0x33; // says 3
    await refused(craftBundle('sha1', base, [], { head: good.commit, pack: resealPack('sha1', short) }), /inflates to 2 bytes, its header says 3/);
    short[blobAt] = 0x52; // type 5 (reserved), size 2
    await refused(craftBundle('sha1', base, [], { head: good.commit, pack: resealPack('sha1', short) }), /object 2 has type 5/);
    const twice = writePack([{ type: 'commit', data: commitBytes(oidOf('sha1', 'tree', rawTree([['100644', 'README.md', readme]])), [base]) }, { type: 'tree', data: rawTree([['100644', 'README.md', readme]]) }, blob('n\n'), blob('n\n')], 'sha1');
    await refused(craftBundle('sha1', base, [], { head: oidOf('sha1', 'commit', commitBytes(oidOf('sha1', 'tree', rawTree([['100644', 'README.md', readme]])), [base])), pack: twice }), /in the pack twice/);
    const unsigned = Buffer.from(good.pack);
    unsigned.write('PUCK', 0, 'latin1');
    await refused(craftBundle('sha1', base, [], { head: good.commit, pack: resealPack('sha1', unsigned) }), /no pack signature/);
  });

  it('refuses a result naming an object that is neither in the bundle nor in the repository, or naming a blob as a folder', async () => {
    await refused(resultOf('sha1', base, rawTree([['100644', 'README.md', readme], ['100644', 'lost.txt', blobId('never sent\n')]])), /neither in the bundle nor in the repository/);
    await refused(resultOf('sha1', base, rawTree([['100644', 'README.md', readme], ['40000', 'src', blobId('x\n')]]), [blob('x\n')]), /names [0-9a-f]{40} as a tree, it is a blob/);
    // A commit whose tree is nowhere.
    await refused(craftBundle('sha1', base, [{ type: 'commit', data: commitBytes(blobId('no tree\n'), [base]) }]), /names tree [0-9a-f]{40}, which is neither/);
  });

  it('refuses a result that is not a plain chain on its base: another base, a merge, an extra head', async () => {
    const tree = rawTree([['100644', 'README.md', readme]]);
    const treeId = oidOf('sha1', 'tree', tree);
    // On a commit the repository holds that is not the base (a root of its own): not built on base.
    const root = await gitOut(fx.central.repo, 'commit-tree', `${base}^{tree}`, '-m', 'an unrelated root');
    await refused(craftBundle('sha1', base, [{ type: 'commit', data: commitBytes(treeId, [root]) }, { type: 'tree', data: tree }]), /is not built on base/, false);
    const other = await commitFiles(fx.central.repo, { 'other.txt': 'other\n' });
    await refused(craftBundle('sha1', base, [{ type: 'commit', data: commitBytes(treeId, [base, other]) }, { type: 'tree', data: tree }]), /has 2 parents/, false);
    await refused(craftBundle('sha1', base, [{ type: 'commit', data: commitBytes(treeId, [base]) }, { type: 'tree', data: tree }], { heads: [other] }), /has 2 heads/, false);
    // A root commit with a "parent <base>" header after its committer: git reads no parent there.
    const WHO = 'A U Thor <a@example.com> 1700000000 +0000';
    await refused(craftBundle('sha1', base, [{ type: 'commit', data: commitBytes(treeId, [], [`author ${WHO}`, `committer ${WHO}`, `parent ${base}`]) }, { type: 'tree', data: tree }]), /not built on base/, false);
  });
});

describe('what the central process leaves to git', () => {
  it('hands git a pack with deltas (git bundle create), a .gitmodules change, an object the result does not name and an unusual date, and takes them when git does', async () => {
    const big = Array.from({ length: 400 }, (_, i) => `export const v${i} = ${i};\n`).join('');
    const grown = await commitFiles(fx.central.repo, { 'src/big.ts': big });
    const clone = await fx.cache.ensureBase(fx.repoKey, (await makeBaseBundle(fx.central.repo, grown)).bytes, grown);
    const edited = await workerCommit(clone, grown, { 'src/big.ts': big.replace('v7 = 7;', 'v7 = 70;') });
    await gitOut(clone, 'update-ref', `refs/pas/result/${edited}`, edited);
    await gitOut(clone, 'bundle', 'create', '-q', path.join(fx.workerDir, 'delta.bundle'), `refs/pas/result/${edited}`, `^${grown}`);
    const gitBundle = await readFile(path.join(fx.workerDir, 'delta.bundle'));
    expect(readPack(gitBundle.subarray(readBundleHeader(gitBundle).packOffset), 'sha1')).toMatchObject({ kind: 'unsupported', reason: expect.stringMatching(/delta/) });
    let before = gitProcessCount();
    expect(await importResultBundle(fx.central.repo, gitBundle, { base: grown, expectedRef: 'refs/heads/pas/j/delta', attemptId: 'a1', commit: edited })).toBe(edited);
    expect(gitProcessCount() - before).toBeGreaterThan(0);
    expect(await gitOut(fx.central.repo, 'show', 'pas/j/delta:src/big.ts')).toContain('v7 = 70;');

    const modules = '[submodule "x"]\n\tpath = x\n\turl = https://example.com/x.git\n';
    const withModules = resultOf('sha1', base, rawTree([['100644', '.gitmodules', blobId(modules)], ['100644', 'README.md', readme]]), [blob(modules)]);
    before = gitProcessCount();
    expect(await importOf(withModules, 'refs/heads/pas/j/modules')).toBe(withModules.commit);
    expect(gitProcessCount() - before).toBeGreaterThan(0);

    // An object the result does not name: git takes it (unreferenced), so it is git's to store.
    const extra = resultOf('sha1', base, rawTree([['100644', 'README.md', readme], ['100644', 'e.txt', blobId('e\n')]]), [blob('e\n'), blob('not named by the result\n')]);
    before = gitProcessCount();
    expect(await importOf(extra, 'refs/heads/pas/j/extra')).toBe(extra.commit);
    expect(gitProcessCount() - before).toBeGreaterThan(0);

    const spaced = resultOf('sha1', base, rawTree([['100644', 'README.md', readme], ['100644', 'd.txt', blobId('d\n')]]), [blob('d\n')], ['author A U Thor <a@example.com>  1700000000 +0000', 'committer A U Thor <a@example.com> 1700000000 +0000']);
    expect(await importOf(spaced, 'refs/heads/pas/j/spaced')).toBe(spaced.commit);
    await gitOut(fx.central.repo, 'fsck', '--strict', '--no-dangling');
  });

  it('hands git an entry name longer than 4096 bytes (newer gits refuse it), and takes it when the installed git does', async () => {
    const long = `${'n'.repeat(5000)}.txt`;
    const named = resultOf('sha1', base, rawTree([['100644', 'README.md', readme], ['100644', long, blobId('long\n')]]), [blob('long\n')]);
    const before = gitProcessCount();
    expect(await importOf(named, 'refs/heads/pas/j/long')).toBe(named.commit);
    expect(gitProcessCount() - before).toBeGreaterThan(0);
  });

  it('imports a bundle written in-process and one from git bundle create to the same commit, and git fsck --strict finds the repository clean', async () => {
    const clone = await fx.cache.ensureBase(fx.repoKey, (await makeBaseBundle(fx.central.repo, base)).bytes, base);
    const commit = await workerCommit(clone, base, { 'src/a.ts': 'export const a = 2;\n', 'docs/new.md': '# new\n' });
    const ours = await makeResultBundle(clone, base, commit);
    await gitOut(clone, 'update-ref', `refs/pas/result/${commit}`, commit);
    await gitOut(clone, 'bundle', 'create', '-q', `${fx.workerDir}/git.bundle`, `refs/pas/result/${commit}`, `^${base}`);
    const theirs = await readFile(`${fx.workerDir}/git.bundle`);
    expect(Buffer.compare(Buffer.from(ours), theirs)).not.toBe(0);

    const before = gitProcessCount();
    expect(await importResultBundle(fx.central.repo, ours, { base, expectedRef: 'refs/heads/pas/j/ours', attemptId: 'a1', commit })).toBe(commit);
    expect(gitProcessCount() - before).toBe(0);
    expect(await importResultBundle(fx.central.repo, theirs, { base, expectedRef: 'refs/heads/pas/j/theirs', attemptId: 'a2', commit })).toBe(commit);
    expect(await gitOut(fx.central.repo, 'rev-parse', 'pas/j/ours', 'pas/j/theirs')).toBe(`${commit}\n${commit}`);
    expect(await gitOut(fx.central.repo, 'show', 'pas/j/ours:docs/new.md')).toBe('# new');
    await gitOut(fx.central.repo, 'fsck', '--strict', '--no-dangling');
  });
});
