/**
 * What a job branch already holds, asked of git itself: after a restart the journal may not know
 * of a merge git did just before the kill, and a merged task branch may already be deleted. A
 * task whose commit is an ancestor of the job branch is merged, whatever the journal says.
 */
import { git } from './git-command.ts';

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
 */
export async function deleteMergedBranches(repo: string, jobBranch: string, branches: readonly string[]): Promise<string[]> {
  const deleted: string[] = [];
  for (const branch of branches) {
    const tip = await git(repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], { okCodes: [1] });
    const sha = tip.stdout.trim();
    if (tip.exitCode !== 0 || !sha) continue;
    const contained = await git(repo, ['merge-base', '--is-ancestor', sha, `refs/heads/${jobBranch}`], { okCodes: [1, 128] });
    if (contained.exitCode !== 0) continue;
    // Only if it still points where it did (a re-dispatched task may have moved it meanwhile).
    const del = await git(repo, ['update-ref', '-d', `refs/heads/${branch}`, sha], { lock: 'shared', okCodes: [1, 128] });
    if (del.exitCode === 0) deleted.push(branch);
  }
  return deleted;
}
