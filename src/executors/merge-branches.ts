/**
 * Merges a job's task branches into its job branch, one by one, without a worktree: each merge
 * is made in-process when the two sides changed different files (tree-merge.ts), else by `git
 * merge-tree --write-tree` (the merged tree, or the conflicting paths), and its merge commit is
 * written as an object; the job branch moves once at the end (compare-and-swap on its old
 * value). The user's checkout and HEAD are never touched. A conflicting branch is reported with
 * its files and skipped, so later branches still merge. A branch already contained in the job
 * branch is not merged twice.
 */
import type { ErrorData } from '../../machines/domain.ts';
import { codedError, PasError } from '../errors.ts';
import { git } from './git-command.ts';
import { isFullObjectId } from './object-id.ts';
import { objectStoreFor, type RepoObjectStore } from './object-store.ts';
import { trivialMergeTree } from './tree-merge.ts';

export interface MergeBranchesInput {
  repo: string;
  /** e.g. `pas/job-<id>`; created at baseCommit when it does not exist yet. */
  jobBranch: string;
  baseCommit: string;
  branches: readonly string[];
  /** Kept for callers of the worktree-based merge; nothing is written there any more. */
  workspacesDir?: string;
  /** Checked before each branch: a cancelled job merges nothing more. */
  signal?: AbortSignal;
}

export type BranchMergeResult =
  | { branch: string; status: 'merged'; commit: string; alreadyMerged: boolean }
  | { branch: string; status: 'conflict'; files: string[]; error: ErrorData }
  | { branch: string; status: 'failed'; error: ErrorData };

export interface MergeBranchesOutcome {
  jobBranch: string;
  /** The job branch's commit after all merges. */
  head: string;
  results: BranchMergeResult[];
}

const PLAIN_BRANCH = /^[A-Za-z0-9_][A-Za-z0-9._/-]*$/;

export async function mergeTaskBranches(input: MergeBranchesInput): Promise<MergeBranchesOutcome> {
  const { repo, jobBranch } = input;
  // A plain name (what jobBranchName makes) needs no git process to be checked.
  if (!PLAIN_BRANCH.test(jobBranch) || /\.\.|\/\/|\/\.|\.lock(\/|$)|[./]$/.test(jobBranch)) await git(repo, ['check-ref-format', '--branch', jobBranch]);
  const store = await objectStoreFor(repo);
  const ref = `refs/heads/${jobBranch}`;
  const existing = await store.resolveCommit(ref);
  const start = existing ?? (await store.resolveCommit(input.baseCommit));
  if (!start) throw new PasError('PAS_ERR_GIT', `"${input.baseCommit}" is not a commit in ${repo}`, { details: { repo, rev: input.baseCommit } });

  // Which branches the job branch already holds, in one call.
  const wanted = [...new Set(input.branches)].map((b) => `refs/heads/${b}`);
  const contained = new Set<string>();
  if (existing && wanted.length > 0) {
    const out = await git(repo, ['for-each-ref', `--merged=${existing}`, '--format=%(refname)', ...wanted]);
    for (const line of out.stdout.split('\n')) if (line) contained.add(line.slice('refs/heads/'.length));
  }

  let head = start;
  const mergedNow = new Set<string>();
  const results: BranchMergeResult[] = [];
  const save = async () => {
    if (existing === head) return;
    await store.updateRefs([existing ? `update ${ref} ${head} ${existing}` : `create ${ref} ${head}`]);
  };
  for (const branch of input.branches) {
    if (input.signal?.aborted) {
      await save();
      throw new PasError('PAS_ERR_TASK_CANCELLED', `merge into ${jobBranch} stopped: the job was cancelled`, { details: { jobBranch, merged: results.length } });
    }
    const sha = await store.resolveCommit(`refs/heads/${branch}`);
    if (!sha) {
      results.push({ branch, status: 'failed', error: codedError('PAS_ERR_GIT', `"refs/heads/${branch}" is not a commit in ${repo}`, { repo, rev: `refs/heads/${branch}` }) });
      continue;
    }
    if (contained.has(branch) || mergedNow.has(sha) || sha === head) {
      results.push({ branch, status: 'merged', commit: head, alreadyMerged: true });
      continue;
    }
    const merged = await mergeOne(store, repo, head, sha, `pas: merge ${branch} into ${jobBranch}`);
    if ('commit' in merged) {
      head = merged.commit;
      mergedNow.add(sha);
      results.push({ branch, status: 'merged', commit: head, alreadyMerged: false });
    } else if (merged.files.length > 0) {
      results.push({
        branch,
        status: 'conflict',
        files: merged.files,
        error: codedError('PAS_ERR_MERGE_CONFLICT', `${branch} conflicts with ${jobBranch} in ${merged.files.join(', ')}`, { branch, files: merged.files }),
      });
    } else {
      results.push({ branch, status: 'failed', error: codedError('PAS_ERR_GIT', `merging ${branch} failed: ${merged.why}`, { branch }) });
    }
  }
  await save();
  return { jobBranch, head, results };
}

async function mergeOne(store: RepoObjectStore, repo: string, head: string, sha: string, message: string): Promise<{ commit: string } | { files: string[]; why: string }> {
  // Different files changed on each side (what a swarm's subtasks do): merged in-process, no git process.
  const trivial = await trivialMergeTree(store, head, sha);
  if (trivial) return { commit: await store.writeCommit(trivial, [head, sha], message) };
  const out = await git(repo, ['merge-tree', '--write-tree', '-z', '--name-only', '--no-messages', head, sha], { okCodes: [1, 128] });
  const fields = out.stdout.split('\0');
  const tree = fields[0]?.trim() ?? '';
  if (out.exitCode === 0 && isFullObjectId(tree)) {
    return { commit: await store.writeCommit(tree, [head, sha], message) };
  }
  if (out.exitCode !== 1) return { files: [], why: (out.stdout + out.stderr).trim() };
  const files = [...new Set(fields.slice(1).filter((f) => f.length > 0))].sort();
  return { files, why: out.stderr.trim() };
}
