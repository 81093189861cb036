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

/** Random entries named from NAMES (each kept with probability `keep`). */
function randomEntries(r: ReturnType<typeof seededRng>, trial: number, keep: number): TreeEntry[] {
  return NAMES.filter(() => r.next() < keep).map((name, i) => ({ mode: r.pick(MODES), name, oid: createHash('sha1').update(`${trial}-${i}`).digest('hex') }));
}

/** The id git mktree gives these entries. */
async function mktree(repo: string, entries: readonly TreeEntry[]): Promise<string> {
  const typeOf = (mode: string) => (mode === MODE_TREE ? 'tree' : mode === '160000' ? 'commit' : 'blob');
  const input = entries.map((e) => `${e.mode === MODE_TREE ? '040000' : e.mode} ${typeOf(e.mode)} ${e.oid}\t${e.name}`).join('\n');
  return (await execa('git', ['mktree', '--missing'], { cwd: repo, input: `${input}\n` })).stdout.trim();
}

const treeId = (body: Buffer) => createHash('sha1').update(`tree ${body.length}\0`).update(body).digest('hex');

describe('formatTree', () => {
  it('writes the same tree object as git mktree for entries in any order (files against folders, non-ASCII and astral names)', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const r = seededRng(14);
    for (let trial = 0; trial < 40; trial++) {
      const entries = randomEntries(r, trial, 0.6);
      const names = entries.map((e) => e.name);
      const shuffled = [...entries].sort(() => r.next() - 0.5);
      const body = formatTree(shuffled);
      expect(treeId(body), JSON.stringify(names)).toBe(await mktree(fixture.repo, entries));
      expect(parseTree(body, 20).map((e) => e.name).sort()).toEqual([...names].sort());
    }
  });

  it('writes a tree given in git order byte for byte as git wrote it, and the same tree again after an entry is replaced in place', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const r = seededRng(15);
    for (let trial = 0; trial < 12; trial++) {
      const entries = randomEntries(r, trial, 0.7);
      const oid = await mktree(fixture.repo, entries);
      const raw = (await execa('git', ['cat-file', 'tree', oid], { cwd: fixture.repo, encoding: 'buffer' })).stdout as unknown as Uint8Array;
      const inGitOrder = parseTree(Buffer.from(raw), 20);
      expect(formatTree(inGitOrder).equals(Buffer.from(raw)), JSON.stringify(entries.map((e) => e.name))).toBe(true);
      if (inGitOrder.length === 0) continue;
      const at = Math.floor(r.next() * inGitOrder.length);
      const edited = inGitOrder.map((e, i) => (i === at ? { ...e, oid: 'f'.repeat(40) } : e));
      expect(treeId(formatTree(edited))).toBe(await mktree(fixture.repo, edited));
    }
  });

  it('refuses an entry whose object id is not whole hex instead of writing uninitialised bytes', () => {
    const good = 'a'.repeat(40);
    expect(() => formatTree([{ mode: '100644', name: 'a.txt', oid: good }, { mode: '100644', name: 'b.txt', oid: `${'b'.repeat(38)}zz` }])).toThrow(expect.objectContaining({ code: 'PAS_ERR_GIT' }));
    expect(() => formatTree([{ mode: '100644', name: 'a.txt', oid: 'abc' }])).toThrow(expect.objectContaining({ code: 'PAS_ERR_GIT' }));
    expect(formatTree([{ mode: '100644', name: 'a.txt', oid: good }]).length).toBe('100644 a.txt\0'.length + 20);
  });
});

