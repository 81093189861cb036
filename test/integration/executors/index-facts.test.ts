/**
 * What PAS reads of a checkout's index (index-state.ts indexFactsOf): read and hashed once while
 * the file keeps its identity (after a task the restore and the settle both ask), read again once
 * git writes it anew, and the same answers as reading it each time.
 */
import { readFileSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { indexFactsOf } from '../../../src/executors/index-state.ts';
import { indexFacts } from '../../../src/executors/index-tree.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

const reads = vi.hoisted(() => ({ files: [] as string[] }));
vi.mock('../../../src/executors/small-file.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/executors/small-file.ts')>();
  return {
    ...real,
    readRegularFile: (file: string, maxBytes: number) => {
      reads.files.push(file);
      return real.readRegularFile(file, maxBytes);
    },
  };
});

let fixture: TempRepo | undefined;
afterEach(async () => {
  reads.files.length = 0;
  vi.useRealTimers();
  await fixture?.cleanup();
  fixture = undefined;
});

const FILES = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`src/d${i % 4}/f${i}.ts`, `export const v${i} = ${i};\n`]));

function indexReads(dir: string): number {
  return reads.files.filter((f) => f === path.join(dir, '.git', 'index')).length;
}

/** Past the file system clock's tick since git last wrote the index: its facts may be kept. */
const pastTheTick = () => new Promise((resolve) => setTimeout(resolve, 30));

describe('the facts of a checkout index', () => {
  it('are read once while the index keeps its identity, and again once git writes it anew', async () => {
    const f = (fixture = await createTempRepo(FILES));
    const index = path.join(f.repo, '.git', 'index');
    await pastTheTick();
    const first = await indexFactsOf(f.repo, 20);
    expect(first?.facts).toEqual(indexFacts(readFileSync(index), 20));
    expect(first?.facts.plain).toBe(true);
    expect(first?.facts.rootTree).toBe(await gitOut(f.repo, 'rev-parse', 'HEAD^{tree}'));
    expect(await indexFactsOf(f.repo, 20)).toEqual(first);
    expect(await indexFactsOf(f.repo, 20)).toEqual(first);
    expect(indexReads(f.repo)).toBe(1);

    // git writes a new index: an entry's stat data refreshed, a new file staged.
    await writeFile(path.join(f.repo, 'src', 'new.ts'), 'export const n = 1;\n');
    await gitOut(f.repo, 'add', 'src/new.ts');
    await pastTheTick();
    const after = await indexFactsOf(f.repo, 20);
    expect(indexReads(f.repo)).toBe(2);
    expect(after?.facts).toEqual(indexFacts(readFileSync(index), 20));
    // `git add` invalidates the cache-tree of the folders it changed, the root's with them.
    expect(after?.facts.rootTree).toBeNull();
    expect(after?.facts.plain).toBe(true);
  });

  it('say an index with a flagged entry is not plain, and a torn or missing one gives no answer to trust', async () => {
    const f = (fixture = await createTempRepo(FILES));
    const index = path.join(f.repo, '.git', 'index');
    await gitOut(f.repo, 'update-index', '--assume-unchanged', 'src/d0/f0.ts');
    expect((await indexFactsOf(f.repo, 20))?.facts).toEqual({ plain: false, rootTree: null, newestSecond: null });

    await gitOut(f.repo, 'update-index', '--no-assume-unchanged', 'src/d0/f0.ts');
    expect((await indexFactsOf(f.repo, 20))?.facts.plain).toBe(true);
    // Cut short: its trailing hash no longer holds.
    await writeFile(index, readFileSync(index).subarray(0, 200));
    expect((await indexFactsOf(f.repo, 20))?.facts).toEqual({ plain: false, rootTree: null, newestSecond: null });
    await rm(index);
    expect(await indexFactsOf(f.repo, 20)).toBeNull();
  });

  it('are read again while the index was changed within a tick of the file system clock before', async () => {
    const f = (fixture = await createTempRepo(FILES));
    const index = path.join(f.repo, '.git', 'index');
    // The clock within a tick of the index's last change: a same-size write in place could still
    // keep its times, so nothing is kept (git's racy rule, for the index file itself).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(statSync(index).ctimeMs + 5);
    await indexFactsOf(f.repo, 20);
    await indexFactsOf(f.repo, 20);
    expect(indexReads(f.repo)).toBe(2);
    vi.setSystemTime(statSync(index).ctimeMs + 100);
    await indexFactsOf(f.repo, 20);
    await indexFactsOf(f.repo, 20);
    expect(indexReads(f.repo)).toBe(3);
    expect((await indexFactsOf(f.repo, 20))?.facts).toEqual(indexFacts(readFileSync(index), 20));
  });
});
