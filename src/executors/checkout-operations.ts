/**
 * A git operation a task left unfinished in a reused checkout (a merge stopped by `--no-commit` or
 * a conflict, a cherry-pick, a revert, a rebase, a bisect): the next task must not find it in
 * progress. The restore by changed paths falls back to the full reset when any of its files is in
 * `.git`; the full reset removes them all (`reset --hard` removes a merge's, a cherry-pick's and a
 * revert's, not a rebase's, a sequence's or a bisect's: those go as `rebase --abort`, `bisect
 * reset` would remove them).
 */
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
 * Synchronous stats that do not throw when a file is missing (the usual answer): ~20 of them cost
 * less than one round trip through libuv's thread pool, let alone 20 rejected ones.
 */
export async function operationInProgress(dir: string): Promise<boolean> {
  return IN_PROGRESS.some((name) => fileExists(path.join(dir, '.git', name)));
}

/** Removes every file of an operation in progress from the checkout's `.git` (before its full reset). */
export async function clearOperations(dir: string): Promise<void> {
  await Promise.all(IN_PROGRESS.map((name) => rm(path.join(dir, '.git', name), { recursive: true, force: true })));
}
