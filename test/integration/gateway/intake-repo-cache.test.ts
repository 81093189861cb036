/**
 * The repository checks at intake answer as git does, and the second job naming the same
 * repository costs no git process: its top level is remembered by its `.git` folder, HEAD and the
 * named files are read through the repository's long-lived cat-file. A `.git` replaced since is
 * checked again, and a linked worktree (its own HEAD) still asks git.
 */
import { rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { gitProcessCount } from '../../../src/executors/git-command.ts';
import { closeObjectStores } from '../../../src/executors/object-store.ts';
import { checkRepo, filesToCreate } from '../../../src/gateway/intake-checks.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

const NAMED = ['a.txt', 'src/deep/b.ts', 'src', 'src/deep', 'a.txt/inside', 'new.txt', 'src/new.ts', './a.txt', 'src//deep/b.ts', 'link', 'link/x'];

describe('intake checks of a repository', () => {
  it('find the files to create as ls-tree does, and a second job naming the repository starts no git process', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n', 'src/deep/b.ts': 'b\n' }));
    await symlink('src', path.join(f.repo, 'link'));
    await gitOut(f.repo, 'add', 'link');
    await gitOut(f.repo, 'commit', '-q', '-m', 'a symlink');
    expect(await checkRepo(f.repo)).toBe(f.repo);
    const created = await filesToCreate(f.repo, NAMED);
    expect(created).toEqual(['src', 'src/deep', 'a.txt/inside', 'new.txt', 'src/new.ts', 'link/x']);
    const before = gitProcessCount();
    expect(await checkRepo(f.repo)).toBe(f.repo);
    expect(await filesToCreate(f.repo, NAMED)).toEqual(created);
    expect(gitProcessCount() - before).toBe(0);
  });

  it('checks a repository again once its .git was replaced: an empty one has no commit', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    expect(await checkRepo(f.repo)).toBe(f.repo);
    await closeObjectStores();
    await rm(path.join(f.repo, '.git'), { recursive: true, force: true });
    await gitOut(f.repo, 'init', '-q');
    await expect(checkRepo(f.repo)).rejects.toMatchObject({ code: 'PAS_ERR_BAD_REQUEST', details: { reason: 'no_commit' } });
  });

  it('asks git for a linked worktree, whose HEAD is its own', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    await gitOut(f.repo, 'checkout', '-q', '-b', 'other');
    await gitOut(f.repo, 'rm', '-q', 'a.txt');
    await gitOut(f.repo, 'commit', '-q', '-m', 'drop a');
    await gitOut(f.repo, 'checkout', '-q', 'main');
    const linked = path.join(f.root, 'linked');
    await gitOut(f.repo, 'worktree', 'add', '-q', linked, 'other');
    expect(await checkRepo(linked)).toBe(linked);
    expect(await filesToCreate(linked, ['a.txt'])).toEqual(['a.txt']);
    expect(await filesToCreate(f.repo, ['a.txt'])).toEqual([]);
  });
});
