/**
 * Branch names, the base commit, and per-task git worktrees: `{workspacesDir}/{jobId}/{taskId}`
 * on branch `pas/<jobId>/<taskId>`. Tasks no longer get a worktree each (run-task.ts commits as
 * objects or through a reused checkout, checkouts.ts); the worktree helpers stay for callers and
 * tests, and the sweep still removes what earlier runs and versions left in `workspacesDir`.
 */
import { mkdir, readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Kpi } from '../../machines/domain.ts';
import { PasError } from '../errors.ts';
import { GitBatchProcess, lineParser } from './git-batch.ts';
import { git, repoKey } from './git-command.ts';
import { isFullObjectId } from './object-id.ts';

export interface TaskWorktree {
  /** Absolute path of the worktree. */
  path: string;
  branch: string;
  baseCommit: string;
}

export interface CreateWorktreeInput {
  repo: string;
  workspacesDir: string;
  jobId: string;
  taskId: string;
  baseCommit: string;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Job and task ids become path segments and ref components; only plain names are accepted. */
export function assertSafeId(kind: 'job' | 'task', id: string): void {
  if (!SAFE_ID.test(id) || id.includes('..') || id.endsWith('.lock') || id.endsWith('.')) {
    throw new PasError('PAS_ERR_GIT', `${kind} id "${id}" cannot name a branch or a folder (letters, digits, . _ -)`, {
      details: { [`${kind}Id`]: id },
    });
  }
}

export function taskBranchName(jobId: string, taskId: string): string {
  return `pas/${jobId}/${taskId}`;
}

/** The branch a job's task branches are merged into. */
export function jobBranchName(jobId: string): string {
  return `pas/job-${jobId}`;
}

export function taskWorktreePath(workspacesDir: string, jobId: string, taskId: string): string {
  return path.join(path.resolve(workspacesDir), jobId, taskId);
}

/** Long-lived `cat-file --batch-check` per folder: HEAD is read where the caller stands (a worktree has its own). */
const revReaders = new Map<string, GitBatchProcess>();

/** The commit HEAD points at in `repo` (the default base of a job); no process per call. */
export async function resolveBaseCommit(repo: string, rev = 'HEAD'): Promise<string> {
  const where = path.resolve(repo);
  if (!existsSync(where)) {
    throw new PasError('PAS_ERR_GIT', `repository ${repo} does not exist`, { details: { repo, rev } });
  }
  let reader = revReaders.get(where);
  if (!reader) revReaders.set(where, (reader = new GitBatchProcess(where, ['cat-file', '--batch-check'])));
  const sha = /[\n\r]/.test(rev) ? '' : await reader.request(`${rev}^{commit}\n`, (buffer) => {
    const line = lineParser(buffer);
    if (!line) return null;
    const match = /^(\S+) commit \d+$/.exec(line.value);
    return { value: match && isFullObjectId(match[1]!) ? match[1]! : '', used: line.used };
  }).catch(() => '');
  if (!sha) {
    throw new PasError('PAS_ERR_GIT', `"${rev}" is not a commit in ${repo} (an empty repository has no base commit)`, {
      details: { repo, rev },
    });
  }
  return sha;
}

/**
 * Creates (or re-creates, for a retried task) the task's worktree on its own branch at the base
 * commit. The user's checkout and HEAD are never touched.
 */
export async function createTaskWorktree(input: CreateWorktreeInput): Promise<TaskWorktree> {
  assertSafeId('job', input.jobId);
  assertSafeId('task', input.taskId);
  // A full SHA (what a job's plan carries) needs no rev-parse: `worktree add` rejects a bad one.
  const base = input.baseCommit && isFullObjectId(input.baseCommit) ? input.baseCommit : await resolveBaseCommit(input.repo, input.baseCommit);
  const dir = taskWorktreePath(input.workspacesDir, input.jobId, input.taskId);
  const branch = taskBranchName(input.jobId, input.taskId);

  // A retried task finds its earlier folder; a fresh one has nothing to clear.
  if (existsSync(dir)) await removeWorktreeDir(input.repo, dir);
  await mkdir(path.dirname(dir), { recursive: true });
  // Exclusive: git's worktree admin files are not safe against a concurrent add, remove or list.
  const add = () => git(input.repo, ['worktree', 'add', '--quiet', '-B', branch, dir, base], { lock: 'exclusive' });
  try {
    await add();
  } catch (err) {
    // An entry left by a crash whose folder is gone ("missing but already registered"): prune, retry once.
    if (!/already registered|already exists/.test((err as Error).message)) throw err;
    await removeWorktreeDir(input.repo, dir);
    await add();
  }
  return { path: dir, branch, baseCommit: base };
}

export interface StagedChanges {
  /** Paths (relative to the worktree) staged: changed, added or deleted. */
  paths: string[];
  /** Files and lines of the staged change against the worktree's base (HEAD). */
  kpi: Kpi;
}

/**
 * Stages everything in the worktree and reads the staged paths and their line counts in one
 * `diff --cached --numstat` (the worktree's HEAD is the task's base, so this is the task's diff).
 */
export async function stageAll(worktree: string): Promise<StagedChanges> {
  await git(worktree, ['add', '--all']);
  const out = await git(worktree, ['diff', '--cached', '--numstat', '--no-renames', '-z']);
  const paths: string[] = [];
  for (const record of out.stdout.split('\0')) {
    const match = /^(?:\d+|-)\t(?:\d+|-)\t(.+)$/s.exec(record);
    if (match) paths.push(match[1]!);
  }
  return { paths, kpi: parseNumstat(out.stdout) };
}

/** Commits what stageAll staged (nothing staged: the base stands) and returns the commit. */
export async function commitStaged(worktree: string, message: string, staged: StagedChanges): Promise<CommitResult> {
  // The commit touches only this worktree's index and its own branch: no repository lock.
  // The message goes through stdin: a long task text would pass the argument-size limit as `-m`.
  if (staged.paths.length > 0) await git(worktree, ['commit', '--quiet', '--no-verify', '-F', '-'], { input: message });
  return { commit: await resolveBaseCommit(worktree), changed: staged.paths.length > 0 };
}

export interface CommitResult {
  commit: string;
  /** False when the worktree had nothing to commit (commit is then the base). */
  changed: boolean;
}

/** Stages everything in the worktree and commits it as PAS <pas@localhost>. */
export async function commitWorktree(worktree: string, message: string): Promise<CommitResult> {
  return commitStaged(worktree, message, await stageAll(worktree));
}

/** `git diff --numstat base..ref` as KPIs; a binary file counts as changed with no lines. */
export async function diffKpi(repo: string, base: string, ref: string): Promise<Kpi> {
  const out = await git(repo, ['diff', '--numstat', '--no-renames', '-z', `${base}..${ref}`]);
  return parseNumstat(out.stdout);
}

/** Parses `git diff --numstat -z` output ("added\tremoved\tpath\0" records, "-" for binary). */
export function parseNumstat(text: string): Kpi {
  const kpi: Kpi = { files_changed: 0, lines_added: 0, lines_removed: 0 };
  for (const record of text.split('\0')) {
    const match = /^(\d+|-)\t(\d+|-)\t/.exec(record);
    if (!match) continue;
    kpi.files_changed += 1;
    if (match[1] !== '-') kpi.lines_added += Number(match[1]);
    if (match[2] !== '-') kpi.lines_removed += Number(match[2]);
  }
  return kpi;
}

export interface RemoveWorktreeInput {
  repo: string;
  worktree: string;
  /** Also delete this branch (a task that did not complete: its branch holds nothing to merge). */
  deleteBranch?: string;
}

export async function removeTaskWorktree(input: RemoveWorktreeInput): Promise<void> {
  // The task's own worktree is registered and present: remove it directly (one git call); anything
  // unexpected falls back to the careful path.
  const direct = await git(input.repo, ['worktree', 'remove', '--force', '--force', input.worktree], { lock: 'exclusive', okCodes: [128] });
  if (direct.exitCode !== 0 || existsSync(input.worktree)) await removeWorktreeDir(input.repo, input.worktree);
  if (input.deleteBranch) {
    const exists = await git(input.repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${input.deleteBranch}`], { okCodes: [1] });
    if (exists.exitCode === 0) await git(input.repo, ['branch', '--quiet', '-D', input.deleteBranch], { lock: 'shared' });
  }
}

/** Unregisters and deletes a worktree folder whether or not git still knows it. */
export async function removeWorktreeDir(repo: string, dir: string): Promise<void> {
  const real = await realOrResolved(dir);
  const registered = (await listWorktrees(repo)).some((w) => w.path === real || w.path === path.resolve(dir));
  const present = existsSync(dir);
  if (registered && present) await git(repo, ['worktree', 'remove', '--force', '--force', dir], { lock: 'exclusive' });
  await rm(dir, { recursive: true, force: true });
  // `worktree remove` drops its own admin entry. Only a stale pair (a folder git does not know, or an
  // entry whose folder is gone) needs the repository-wide prune; a fresh task's path needs nothing.
  if (registered !== present) await git(repo, ['worktree', 'prune'], { lock: 'exclusive' });
}

export interface WorktreeEntry {
  path: string;
  head?: string;
  branch?: string;
}

export async function listWorktrees(repo: string): Promise<WorktreeEntry[]> {
  // Shared with other readers, never beside a `worktree add`/`remove` (exclusive): git reads every
  // admin entry and fails on one half made ("failed to read .git/worktrees/<x>/commondir").
  const out = await git(repo, ['worktree', 'list', '--porcelain', '-z'], { lock: 'shared' });
  const entries: WorktreeEntry[] = [];
  let current: WorktreeEntry | undefined;
  for (const field of out.stdout.split('\0')) {
    if (field.startsWith('worktree ')) {
      current = { path: path.resolve(field.slice('worktree '.length)) };
      entries.push(current);
    } else if (current && field.startsWith('HEAD ')) {
      current.head = field.slice(5);
    } else if (current && field.startsWith('branch ')) {
      current.branch = field.slice('branch refs/heads/'.length);
    }
  }
  return entries;
}

/**
 * Removes what a crash left behind in `workspacesDir` for this repository: worktrees git still
 * lists and folders it forgot, except tasks in `keep`. Folders that belong to another repository
 * are left alone. Returns the removed paths.
 */
export async function cleanupOrphanWorktrees(
  repo: string,
  workspacesDir: string,
  keep: ReadonlySet<string>,
  options: { keepMerges?: boolean } = {},
): Promise<string[]> {
  const root = await realOrResolved(workspacesDir);
  const removed: string[] = [];
  await git(repo, ['worktree', 'prune'], { lock: 'exclusive' });

  const merges = path.join(root, MERGE_DIR);
  const inside = (p: string) => p.startsWith(root + path.sep);
  // While the runtime runs, a job may be merging in `.merge/`: only a sweep after a crash takes those.
  // The programmers' reused checkouts are reset before each use, never orphans.
  const checkouts = path.join(root, CHECKOUTS_FOLDER);
  const spared = (p: string) =>
    keep.has(path.basename(p)) || p === checkouts || p.startsWith(checkouts + path.sep) || (options.keepMerges === true && (p === merges || p.startsWith(merges + path.sep)));
  for (const entry of await listWorktrees(repo)) {
    if (!inside(entry.path) || spared(entry.path)) continue;
    await git(repo, ['worktree', 'remove', '--force', '--force', entry.path], { lock: 'exclusive' });
    await rm(entry.path, { recursive: true, force: true });
    removed.push(entry.path);
  }

  const ours = await repoKey(repo);
  for (const jobDir of await subdirs(root)) {
    if (spared(jobDir)) continue;
    for (const taskDir of await subdirs(jobDir)) {
      if (spared(taskDir) || removed.includes(taskDir)) continue;
      const owner = await worktreeOwner(taskDir);
      if (owner !== null && owner !== ours) continue;
      await rm(taskDir, { recursive: true, force: true });
      removed.push(taskDir);
    }
    if ((await readdir(jobDir)).length === 0) await rm(jobDir, { recursive: true, force: true });
  }
  await git(repo, ['worktree', 'prune'], { lock: 'exclusive' });
  return removed;
}

/** The folder of `workspacesDir` holding the reused checkouts (checkouts.ts; named here to avoid an import cycle). */
const CHECKOUTS_FOLDER = '.checkouts';

/** The folder of `workspacesDir` that holds the jobs' merge worktrees (before merges needed none). */
export const MERGE_DIR = '.merge';

/** The real path of `p` when it exists (so /tmp symlinks compare equal), else its absolute form. */
export async function realOrResolved(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return path.resolve(p);
    throw err;
  }
}

async function subdirs(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const dirs: string[] = [];
  for (const name of names) {
    const full = path.join(dir, name);
    if ((await stat(full)).isDirectory()) dirs.push(full);
  }
  return dirs;
}

/**
 * The common git dir a worktree folder points to through its `.git` file, or null when it has
 * none or points nowhere (an orphan).
 */
async function worktreeOwner(dir: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path.join(dir, '.git'), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') return null;
    throw err;
  }
  const match = /^gitdir:\s*(.+)$/m.exec(text);
  if (!match?.[1]) return null;
  const gitdir = path.resolve(dir, match[1].trim());
  // <common>/worktrees/<name> → <common>
  const common = path.dirname(path.dirname(gitdir));
  try {
    return await repoKey(common);
  } catch {
    return null;
  }
}
