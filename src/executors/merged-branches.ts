/**
 * What a job branch already holds, asked of git itself: after a restart the journal may not know
 * of a merge git did just before the kill, and a merged task branch may already be deleted. A
 * task whose commit is an ancestor of the job branch is merged, whatever the journal says.
 */
import { git } from './git-command.ts';
import { objectStoreFor } from './object-store.ts';

/** The commits of `commits` the branch `branch` contains (none when the branch does not exist yet). */
export async function commitsInBranch(repo: string, branch: string, commits: readonly string[]): Promise<Set<string>> {
  const held = new Set<string>();
  const exists = await git(repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { okCodes: [1] });
  if (exists.exitCode !== 0) return held;
  for (const commit of new Set(commits)) {
    // 0: an ancestor; 1: not; 128: no such commit (a task branch deleted and its commit pruned).
    const r = await git(repo, ['merge-base', '--is-ancestor', commit, `refs/heads/${branch}`], { okCodes: [1, 128] });
    if (r.exitCode === 0) held.add(commit);
  }
  return held;
}

/**
 * Deletes the task branches whose tip `jobBranch` now contains (their work is merged; the job
 * branch keeps it). A branch that moved or is not contained is kept. Returns the deleted ones.
 * One git process whatever the number of branches: which of them the job branch contains, with
 * their tips, in one `for-each-ref`; the deletions go through the repository's long-lived
 * `update-ref` (each only if the branch still points where it did).
 */
export async function deleteMergedBranches(repo: string, jobBranch: string, branches: readonly string[]): Promise<string[]> {
  const wanted = [...new Set(branches)];
  if (wanted.length === 0) return [];
  const store = await objectStoreFor(repo);
  const head = await store.resolveCommit(`refs/heads/${jobBranch}`);
  if (!head) return [];
  const out = await git(repo, ['for-each-ref', `--merged=${head}`, '--format=%(refname) %(objectname)', ...wanted.map((b) => `refs/heads/${b}`)]);
  const tips = new Map<string, string>();
  for (const line of out.stdout.split('\n')) {
    const [ref, sha] = line.split(' ');
    if (ref && sha) tips.set(ref.slice('refs/heads/'.length), sha);
  }
  const deleted = await Promise.all(
    wanted.map(async (branch) => {
      const sha = tips.get(branch);
      if (!sha) return undefined;
      try {
        // Only if it still points where it did (a re-dispatched task may have moved it meanwhile).
        await store.updateRefs([`delete refs/heads/${branch} ${sha}`]);
        return branch;
      } catch {
        return undefined;
      }
    }),
  );
  return deleted.filter((b): b is string => b !== undefined);
}
