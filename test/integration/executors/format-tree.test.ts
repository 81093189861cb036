import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { formatTree, MODE_TREE, parseTree, type TreeEntry } from '../../../src/executors/object-store.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import { seededRng } from '../../support/seeded-rng.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

// Names whose order differs between a file and a folder ("a" sorts as "a/"), and between
// UTF-16 and UTF-8 order (characters beyond the BMP against U+E000–U+FFFF).
const NAMES = ['a', 'a.b', 'a-b', 'a0', 'ab', 'Z', 'z', 'ä', 'é.ts', '日本', '😀', '\uFFFD', 'ｚ', 'x y', 'foo', 'foo.bar', 'foo-bar', 'foo0'];
const MODES = ['100644', '100755', MODE_TREE, '120000', '160000'];

describe('formatTree', () => {
  it('writes the same tree object as git mktree for entries in any order (files against folders, non-ASCII and astral names)', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const r = seededRng(14);
    for (let trial = 0; trial < 40; trial++) {
      const names = NAMES.filter(() => r.next() < 0.6);
      const entries: TreeEntry[] = names.map((name, i) => ({ mode: r.pick(MODES), name, oid: createHash('sha1').update(`${trial}-${i}`).digest('hex') }));
      const shuffled = [...entries].sort(() => r.next() - 0.5);
      const body = formatTree(shuffled);
      const ours = createHash('sha1').update(`tree ${body.length}\0`).update(body).digest('hex');
      const typeOf = (mode: string) => (mode === MODE_TREE ? 'tree' : mode === '160000' ? 'commit' : 'blob');
      const input = entries.map((e) => `${e.mode === MODE_TREE ? '040000' : e.mode} ${typeOf(e.mode)} ${e.oid}\t${e.name}`).join('\n');
      const theirs = (await execa('git', ['mktree', '--missing'], { cwd: fixture.repo, input: `${input}\n` })).stdout.trim();
      expect(ours, JSON.stringify(names)).toBe(theirs);
      expect(parseTree(body, 20).map((e) => e.name).sort()).toEqual([...names].sort());
    }
  });

  it('writes a tree given in git order byte for byte as git wrote it, and the same tree again after an entry is replaced in place', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const r = seededRng(15);
    for (let trial = 0; trial < 12; trial++) {
      const names = NAMES.filter(() => r.next() < 0.7);
      const entries: TreeEntry[] = names.map((name, i) => ({ mode: r.pick(MODES), name, oid: createHash('sha1').update(`${trial}-${i}`).digest('hex') }));
      const typeOf = (mode: string) => (mode === MODE_TREE ? 'tree' : mode === '160000' ? 'commit' : 'blob');
      const input = entries.map((e) => `${e.mode === MODE_TREE ? '040000' : e.mode} ${typeOf(e.mode)} ${e.oid}\t${e.name}`).join('\n');
      const oid = (await execa('git', ['mktree', '--missing'], { cwd: fixture.repo, input: `${input}\n` })).stdout.trim();
      const raw = (await execa('git', ['cat-file', 'tree', oid], { cwd: fixture.repo, encoding: 'buffer' })).stdout as unknown as Uint8Array;
      const inGitOrder = parseTree(Buffer.from(raw), 20);
      expect(formatTree(inGitOrder).equals(Buffer.from(raw)), JSON.stringify(names)).toBe(true);
      if (inGitOrder.length === 0) continue;
      const at = Math.floor(r.next() * inGitOrder.length);
      const edited = inGitOrder.map((e, i) => (i === at ? { ...e, oid: 'f'.repeat(40) } : e));
      const theirs = (await execa('git', ['mktree', '--missing'], { cwd: fixture.repo, input: `${edited.map((e) => `${e.mode === MODE_TREE ? '040000' : e.mode} ${typeOf(e.mode)} ${e.oid}\t${e.name}`).join('\n')}\n` })).stdout.trim();
      const body = formatTree(edited);
      expect(createHash('sha1').update(`tree ${body.length}\0`).update(body).digest('hex')).toBe(theirs);
    }
  });

  it('refuses an entry whose object id is not whole hex instead of writing uninitialised bytes', () => {
    const good = 'a'.repeat(40);
    expect(() => formatTree([{ mode: '100644', name: 'a.txt', oid: good }, { mode: '100644', name: 'b.txt', oid: `${'b'.repeat(38)}zz` }])).toThrow(expect.objectContaining({ code: 'PAS_ERR_GIT' }));
    expect(() => formatTree([{ mode: '100644', name: 'a.txt', oid: 'abc' }])).toThrow(expect.objectContaining({ code: 'PAS_ERR_GIT' }));
    expect(formatTree([{ mode: '100644', name: 'a.txt', oid: good }]).length).toBe('100644 a.txt\0'.length + 20);
  });
});

