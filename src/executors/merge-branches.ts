/**
 * Merges a job's task branches into its job branch, one by one, in a dedicated merge worktree
 * (the user's checkout and HEAD are never touched). A conflicting merge is aborted cleanly and
 * reported with its files, so later branches still merge. A branch already contained in the job
 * branch is not merged twice.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ErrorData } from '../../machines/domain.ts';
import { codedError, isPasError, PasError, toErrorData } from '../errors.ts';
import { git } from './git-command.ts';
import { MERGE_DIR, removeWorktreeDir, resolveBaseCommit } from './worktree.ts';

export interface MergeBranchesInput {
  repo: string;
  /** e.g. `pas/job-<id>`; created at baseCommit when it does not exist yet. */
  jobBranch: string;
  baseCommit: string;
  branches: readonly string[];
  /** Where to put the merge worktree; a temporary folder when omitted. */
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

export async function mergeTaskBranches(input: MergeBranchesInput): Promise<MergeBranchesOutcome> {
  const { repo, jobBranch } = input;
  await git(repo, ['check-ref-format', '--branch', jobBranch]);
  const exists = await git(repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${jobBranch}`], { okCodes: [1] });
  if (exists.exitCode !== 0) {
    const base = await resolveBaseCommit(repo, input.baseCommit);
    await git(repo, ['branch', '--quiet', jobBranch, base], { lock: 'shared' });
  }

  const dir = input.workspacesDir
    ? path.join(path.resolve(input.workspacesDir), MERGE_DIR, jobBranch.replace(/[^A-Za-z0-9._-]/g, '_'))
    : path.join(await mkdtemp(path.join(os.tmpdir(), 'pas-merge-')), 'worktree');
  await removeWorktreeDir(repo, dir);
  await mkdir(path.dirname(dir), { recursive: true });
  await git(repo, ['worktree', 'add', '--quiet', dir, jobBranch], { lock: 'exclusive' });

  const results: BranchMergeResult[] = [];
  try {
    for (const branch of input.branches) {
      if (input.signal?.aborted) {
        throw new PasError('PAS_ERR_TASK_CANCELLED', `merge into ${jobBranch} stopped: the job was cancelled`, { details: { jobBranch, merged: results.length } });
      }
      results.push(await mergeOne(dir, jobBranch, branch));
    }
    return { jobBranch, head: await resolveBaseCommit(dir), results };
  } finally {
    await removeWorktreeDir(repo, dir);
    if (!input.workspacesDir) await rm(path.dirname(dir), { recursive: true, force: true });
  }
}

async function mergeOne(dir: string, jobBranch: string, branch: string): Promise<BranchMergeResult> {
  let sha: string;
  try {
    sha = await resolveBaseCommit(dir, `refs/heads/${branch}`);
  } catch (err) {
    if (!isPasError(err)) throw err;
    return { branch, status: 'failed', error: toErrorData(err) };
  }
  const contained = await git(dir, ['merge-base', '--is-ancestor', sha, 'HEAD'], { okCodes: [1] });
  if (contained.exitCode === 0) return { branch, status: 'merged', commit: await resolveBaseCommit(dir), alreadyMerged: true };

  const merge = await git(dir, ['merge', '--no-ff', '--no-edit', '-m', `pas: merge ${branch} into ${jobBranch}`, sha], {
    lock: 'shared',
    okCodes: [1, 128],
  });
  if (merge.exitCode === 0) return { branch, status: 'merged', commit: await resolveBaseCommit(dir), alreadyMerged: false };

  const unmerged = await git(dir, ['diff', '--name-only', '--diff-filter=U', '-z']);
  const files = unmerged.stdout.split('\0').filter((f) => f.length > 0).sort();
  const inProgress = await git(dir, ['rev-parse', '--verify', '--quiet', 'MERGE_HEAD'], { okCodes: [1] });
  if (inProgress.exitCode === 0) await git(dir, ['merge', '--abort'], { lock: 'shared' });
  else await git(dir, ['reset', '--hard', '--quiet', 'HEAD'], { lock: 'shared' });

  const why = (merge.stdout + merge.stderr).trim();
  if (files.length === 0) {
    return { branch, status: 'failed', error: codedError('PAS_ERR_GIT', `merging ${branch} failed: ${why}`, { branch }) };
  }
  return {
    branch,
    status: 'conflict',
    files,
    error: codedError('PAS_ERR_MERGE_CONFLICT', `${branch} conflicts with ${jobBranch} in ${files.join(', ')}`, { branch, files }),
  };
}
