/**
 * Paths looked up in a git tree (tree-paths.ts), as the restore of a reused checkout and the
 * staging from its changed paths both ask them: the folders on the way, what is at a path (a
 * file on the way blocks it), and the `.gitattributes` on a path's folders.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeObjectStores, objectStoreFor } from '../../../src/executors/object-store.ts';
import { attributesOnTheWay, folderAt, foldersOnTheWay, pathIn } from '../../../src/executors/tree-paths.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

describe('paths in a tree', () => {
  it('finds the folders on the way, what is at a path, and the attributes files on its folders', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n', 'src/.gitattributes': '*.ts text\n', 'src/lib/b.ts': 'b\n', 'docs/c.md': 'c\n' }));
    const store = await objectStoreFor(f.repo);
    const tree = await store.commitTree(f.base);
    const names = (entries: Array<{ name: string }>) => entries.map((e) => e.name);
    expect((await foldersOnTheWay(store, tree, '')).map(names)).toEqual([['a.txt', 'docs', 'src']]);
    expect((await foldersOnTheWay(store, tree, 'src/lib')).map(names)).toEqual([['a.txt', 'docs', 'src'], ['.gitattributes', 'lib'], ['b.ts']]);
    // Stops where a name is missing or not a folder.
    expect(await foldersOnTheWay(store, tree, 'src/none/x')).toHaveLength(2);
    expect(await foldersOnTheWay(store, tree, 'a.txt/x')).toHaveLength(1);
    expect(names((await folderAt(store, tree, 'src/lib'))!)).toEqual(['b.ts']);
    expect(await folderAt(store, tree, 'a.txt')).toBeNull();
    expect(await folderAt(store, tree, 'none')).toBeNull();
    expect(await pathIn(store, tree, 'src/lib/b.ts')).toMatchObject({ name: 'b.ts', mode: '100644' });
    expect(await pathIn(store, tree, 'src/lib')).toMatchObject({ name: 'lib', mode: '40000' });
    expect(await pathIn(store, tree, 'src/none/x')).toBeNull();
    expect(await pathIn(store, tree, 'a.txt/x/y')).toBe('blocked');
    expect(await attributesOnTheWay(store, tree, 'src/lib/b.ts')).toEqual({ found: true, folders: 3 });
    expect(await attributesOnTheWay(store, tree, 'docs/c.md')).toEqual({ found: false, folders: 2 });
    expect(await attributesOnTheWay(store, tree, 'docs/new/d.md')).toEqual({ found: false, folders: 2 });
    expect(await attributesOnTheWay(store, tree, 'a.txt')).toEqual({ found: false, folders: 1 });
  });
});
