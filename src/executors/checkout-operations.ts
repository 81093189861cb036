/**
 * A git operation a task left unfinished in a reused checkout (a merge stopped by `--no-commit` or
 * a conflict, a cherry-pick, a revert, a rebase, a bisect): the next task must not find it in
 * progress. The restore by changed paths falls back to the full reset when any of its files is in
 * `.git`; the full reset removes them all (`reset --hard` removes a merge's, a cherry-pick's and a
 * revert's, not a rebase's, a sequence's or a bisect's: those go as `rebase --abort`, `bisect
 * reset` would remove them).
 */
import { readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileExists } from './small-file.ts';

/** The files and folders of `.git` that say an operation is in progress. */
const IN_PROGRESS = [
  'MERGE_HEAD',
  'MERGE_MSG',
  'MERGE_MODE',
  'MERGE_RR',
  'AUTO_MERGE',
  'SQUASH_MSG',
  'CHERRY_PICK_HEAD',
  'REVERT_HEAD',
  'REBASE_HEAD',
  'sequencer',
  'rebase-merge',
  'rebase-apply',
  'BISECT_LOG',
  'BISECT_START',
  'BISECT_NAMES',
  'BISECT_TERMS',
  'BISECT_EXPECTED_REV',
  'BISECT_ANCESTORS_OK',
  'BISECT_RUN',
  'BISECT_FIRST_PARENT',
  'BISECT_HEAD',
  'refs/bisect',
];

/**
 * Whether the checkout in `dir` has a git operation in progress (any of its files in `.git`).
 * One listing of `.git` (one synchronous call: less than a round trip through libuv's thread pool,
 * let alone ~20 rejected ones), then a stat of each name found there (it must exist as access()
 * sees it: a dangling symlink does not count) and of `refs/bisect`.
 */
export async function operationInProgress(dir: string): Promise<boolean> {
  const git = path.join(dir, '.git');
  let names: Set<string>;
  try {
    names = new Set(readdirSync(git));
  } catch {
    // Not a folder, or unreadable: each name checked on its own, as before.
    return IN_PROGRESS.some((name) => fileExists(path.join(git, name)));
  }
  return IN_PROGRESS.some((name) => (name.includes('/') || names.has(name)) && fileExists(path.join(git, name)));
}

/** Removes every file of an operation in progress from the checkout's `.git` (before its full reset). */
export async function clearOperations(dir: string): Promise<void> {
  await Promise.all(IN_PROGRESS.map((name) => rm(path.join(dir, '.git', name), { recursive: true, force: true })));
}
