/**
 * After a merge, the task branches the job branch contains are deleted with no git process (the
 * job branch's recent history is read in-process; one git process for whatever is further back);
 * a branch that moved since, or whose work is not in the job branch, is kept.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { gitProcessCount } from '../../../src/executors/git-command.ts';
import { deleteMergedBranches } from '../../../src/executors/merged-branches.ts';
import { mergeTaskBranches } from '../../../src/executors/merge-branches.ts';
import { commitEdits } from '../../../src/executors/object-commit.ts';
import { closeObjectStores, objectStoreFor } from '../../../src/executors/object-store.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

const refs = async (r: TempRepo) => (await gitOut(r.repo, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/pas/J/')).split('\n').filter(Boolean).sort();

describe('deleting merged task branches', () => {
  it.each([
    ['no git process', 256, 0],
    ['one git process when the walk back is cut short', 1, 1],
  ])('deletes the 12 contained branches with %s, and keeps one not merged and one moved after its merge', async (_how, walk, processes) => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const store = await objectStoreFor(f.repo);
    const names: string[] = [];
    for (let i = 0; i < 14; i++) {
      const { commit } = await commitEdits({ repo: f.repo, baseCommit: f.base, edits: new Map([[`f${i}.txt`, Buffer.from(`${i}\n`)]]), message: `task ${i}` });
      names.push(`pas/J/t${i}`);
      await store.updateRefs([`create refs/heads/pas/J/t${i} ${commit}`]);
    }
    // t13 is not merged; t12 is merged, then moves on (a re-dispatched task wrote it again).
    const merged = await mergeTaskBranches({ repo: f.repo, jobBranch: 'pas/job-J', baseCommit: f.base, branches: names.slice(0, 13) });
    expect(merged.results.every((r) => r.status === 'merged')).toBe(true);
    const { commit: moved } = await commitEdits({ repo: f.repo, baseCommit: f.base, edits: new Map([['f12.txt', Buffer.from('again\n')]]), message: 'task 12 again' });
    await store.updateRefs([`update refs/heads/pas/J/t12 ${moved}`]);

    const before = gitProcessCount();
    const deleted = await deleteMergedBranches(f.repo, 'pas/job-J', names, walk);
    expect(gitProcessCount() - before).toBe(processes);
    expect(deleted.sort()).toEqual(names.slice(0, 12).sort());
    expect(await refs(f)).toEqual(['pas/J/t12', 'pas/J/t13']);
    // The job branch keeps every merged task's work.
    expect(await gitOut(f.repo, 'show', 'pas/job-J:f0.txt')).toBe('0');
    // No job branch yet: nothing is deleted, no git process.
    const again = gitProcessCount();
    expect(await deleteMergedBranches(f.repo, 'pas/job-none', names)).toEqual([]);
    expect(gitProcessCount() - again).toBe(0);
  });
});
