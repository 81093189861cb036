/**
 * What a job branch already holds, asked of git itself (its recent history read in-process first): after a restart the journal may not know
 * of a merge git did just before the kill, and a merged task branch may already be deleted. A
 * task whose commit is an ancestor of the job branch is merged, whatever the journal says.
 */
import { git } from './git-command.ts';
import { objectStoreFor, type RepoObjectStore } from './object-store.ts';
import { commitParents } from './tree-merge.ts';

/** The commits of `commits` the branch `branch` contains (none when the branch does not exist yet). */
export async function commitsInBranch(repo: string, branch: string, commits: readonly string[]): Promise<Set<string>> {
  const held = new Set<string>();
  const store = await objectStoreFor(repo);
  const head = await store.resolveCommit(`refs/heads/${branch}`);
  if (!head) return held;
  const near = await nearAncestors(store, head, commits);
  for (const commit of new Set(commits)) {
    if (near.found.has(commit)) {
      held.add(commit);
      continue;
    }
    if (near.complete) continue;
    // 0: an ancestor; 1: not; 128: no such commit (a task branch deleted and its commit pruned).
    const r = await git(repo, ['merge-base', '--is-ancestor', commit, `refs/heads/${branch}`], { okCodes: [1, 128] });
    if (r.exitCode === 0) held.add(commit);
  }
  return held;
}

/**
 * Deletes the task branches whose tip `jobBranch` now contains (their work is merged; the job
 * branch keeps it). A branch that moved or is not contained is kept. Returns the deleted ones.
 * No git process when the job branch's recent history holds the tips (what a merge just made),
 * else one `for-each-ref` for all the rest; the deletions go through the repository's long-lived
 * `update-ref` (each only if the branch still points where it did). `walk`: commits read back
 * from the job branch's head before git is asked.
 */
export async function deleteMergedBranches(repo: string, jobBranch: string, branches: readonly string[], walk = NEAR_WALK): Promise<string[]> {
  const wanted = [...new Set(branches)];
  if (wanted.length === 0) return [];
  const store = await objectStoreFor(repo);
  const head = await store.resolveCommit(`refs/heads/${jobBranch}`);
  if (!head) return [];
  const tips = new Map<string, string>();
  for (const branch of wanted) {
    const sha = await store.resolveCommit(`refs/heads/${branch}`);
    if (sha) tips.set(branch, sha);
  }
  // What was just merged is found a few commits back from the job branch's head, in-process;
  // anything not found there is asked of git (one process for all).
  const near = await nearAncestors(store, head, [...tips.values()], walk);
  const far = wanted.filter((b) => tips.has(b) && !near.found.has(tips.get(b)!));
  if (near.complete) for (const branch of far) tips.delete(branch);
  else if (far.length > 0) {
    const out = await git(repo, ['for-each-ref', `--merged=${head}`, '--format=%(refname)', ...far.map((b) => `refs/heads/${b}`)]);
    const contained = new Set(out.stdout.split('\n').filter(Boolean).map((ref) => ref.slice('refs/heads/'.length)));
    for (const branch of far) if (!contained.has(branch)) tips.delete(branch);
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

/** Commits read at most, walking back from a job branch's head, before git is asked instead. */
const NEAR_WALK = 256;

/**
 * Which of `commits` are reachable from `head` within its last NEAR_WALK commits (all parents),
 * read through the object store: a job branch's merges name their task commits as parents, so
 * what was merged is found without a git process. `complete` when the whole history was walked
 * (then what was not found is not an ancestor); otherwise not found means "ask git".
 */
async function nearAncestors(store: RepoObjectStore, head: string, commits: readonly string[], walk = NEAR_WALK): Promise<{ found: Set<string>; complete: boolean }> {
  const wanted = new Set(commits);
  const found = new Set<string>();
  const seen = new Set<string>([head]);
  const queue = [head];
  for (let read = 0; queue.length > 0 && found.size < wanted.size && read < walk; read++) {
    const at = queue.shift()!;
    if (wanted.has(at)) found.add(at);
    const commit = await store.read(at);
    if (commit?.type !== 'commit') continue;
    for (const parent of commitParents(commit.data)) {
      if (seen.has(parent)) continue;
      seen.add(parent);
      queue.push(parent);
    }
  }
  for (const at of queue) if (wanted.has(at)) found.add(at);
  return { found, complete: queue.length === 0 };
}
