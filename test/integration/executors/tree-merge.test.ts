/**
 * The in-process merge gives git's own tree (`git merge-tree --write-tree`) whenever it answers,
 * and leaves every case where the two sides touch the same file, folder, or could be a rename to git.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { git } from '../../../src/executors/git-command.ts';
import { commitEdits } from '../../../src/executors/object-commit.ts';
import { closeObjectStores, objectStoreFor } from '../../../src/executors/object-store.ts';
import { trivialMergeTree } from '../../../src/executors/tree-merge.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import { seededRng } from '../../support/seeded-rng.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

const PATHS = ['a.txt', 'b.txt', 'src/x.ts', 'src/y.ts', 'src/deep/z.ts', 'lib/w.ts', 'docs/readme.md'];

describe('in-process merges', () => {
  it('give the same tree as git merge-tree, and defer to git when the sides overlap', async () => {
    const r = seededRng(4242);
    const files = Object.fromEntries(PATHS.map((p, i) => [p, `line 1 of ${p}\nline 2\nline ${i}\n`]));
    const f = (fixture = await createTempRepo(files));
    const store = await objectStoreFor(f.repo);
    let trivial = 0;
    let deferred = 0;
    for (let round = 0; round < 40; round++) {
      const edits = () => {
        const m = new Map<string, Buffer | null>();
        for (let i = 0; i < 1 + r.int(3); i++) {
          const roll = r.next();
          const target = roll < 0.15 ? `${r.pick(['', 'src/', 'new/', 'src/deep/'])}n${r.int(6)}.txt` : r.pick(PATHS);
          m.set(target, roll > 0.9 ? null : Buffer.from(`changed ${round} ${r.int(1000)}\nline 2\n`));
        }
        return m;
      };
      // The job branch: the base plus one or two merged-like commits on its first-parent line.
      const head1 = await commitEdits({ repo: f.repo, baseCommit: f.base, edits: edits(), message: 'head 1' });
      const head = r.next() < 0.5 ? head1.commit : (await commitEdits({ repo: f.repo, baseCommit: head1.commit, edits: edits(), message: 'head 2' })).commit;
      const branch = await commitEdits({ repo: f.repo, baseCommit: r.next() < 0.7 ? f.base : head1.commit, edits: edits(), message: 'task' });
      if (!branch.changed) continue;

      const ours = await trivialMergeTree(store, head, branch.commit);
      const theirs = await git(f.repo, ['merge-tree', '--write-tree', '-z', '--name-only', '--no-messages', head, branch.commit], { okCodes: [1] });
      if (ours === null) {
        deferred++;
        continue;
      }
      trivial++;
      expect({ round, clean: theirs.exitCode }).toEqual({ round, clean: 0 });
      expect({ round, tree: ours }).toEqual({ round, tree: theirs.stdout.split('\0')[0] });
    }
    // Both kinds happened: the comparison is not vacuous.
    expect(trivial).toBeGreaterThan(5);
    expect(deferred).toBeGreaterThan(3);
    await git(f.repo, ['fsck', '--strict', '--no-dangling']);
  }, 60_000);

  it('merge in-process a file both sides changed the same way (and one both deleted), as git does, and defer when the same file differs', async () => {
    const f = (fixture = await createTempRepo({ 'README.md': 'one\n', 'a.txt': 'a\n', 'b.txt': 'b\n', 'gone.txt': 'g\n' }));
    const store = await objectStoreFor(f.repo);
    const same = { 'README.md': Buffer.from('one, edited\n'), 'gone.txt': null };
    const head = await commitEdits({ repo: f.repo, baseCommit: f.base, edits: new Map([...Object.entries(same), ['a.txt', Buffer.from('a2\n')]]), message: 'first task' });
    const task = await commitEdits({ repo: f.repo, baseCommit: f.base, edits: new Map([...Object.entries(same), ['b.txt', Buffer.from('b2\n')]]), message: 'second task' });
    const ours = await trivialMergeTree(store, head.commit, task.commit);
    const theirs = await git(f.repo, ['merge-tree', '--write-tree', '-z', '--name-only', '--no-messages', head.commit, task.commit]);
    expect(ours).toBe(theirs.stdout.split('\0')[0]);
    const other = await commitEdits({ repo: f.repo, baseCommit: f.base, edits: new Map([['README.md', Buffer.from('one, edited otherwise\n')]]), message: 'third task' });
    expect(await trivialMergeTree(store, head.commit, other.commit)).toBeNull();
  });
});
