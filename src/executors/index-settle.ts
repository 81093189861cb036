/**
 * A freshly reset checkout's index made one no `git status` must re-check or write again.
 *
 * git's racy-git rule: an index entry whose file was modified in the same second as the index
 * file was written (or later) is "racily clean": its stat data cannot tell a later same-size
 * write within that second, so every git that reads the index re-hashes that file, and `git
 * status` writes the whole index again to end it (git's usual build compares whole seconds: no
 * USE_NSEC). `git reset --hard` writes the files and then the index within a second or so: most
 * of a fresh checkout's entries are racy, and the first `git status` of each checkout (a task's
 * verify command) re-hashes them and rewrites the index (measured: up to 2,001 of 5,000 entries
 * re-checked and the index written in 44 of 49 first statuses; none after).
 *
 * `settleIndex` does that once where it costs no task anything (the prewarm, or a checkout made
 * in the background): once the clock has passed the newest entry's second, `git update-index -q
 * --refresh --force-write-index` re-checks the racy entries by content (a file changed since git
 * recorded it is seen there and its entry smudged, as git does) and writes the index in a later
 * second than every file, so none is racy any more. Any later write of a file is seen by its
 * stat data alone (its modification second differs from the recorded one).
 */
import path from 'node:path';
import { git } from './git-command.ts';
import { indexFactsOf, noteIndexRewritten } from './index-state.ts';
import { fileIdentity } from './file-identity.ts';

/** Past the second boundary by the file system's coarse clock (it lags the wall clock by a tick of a few ms). */
const CLOCK_SLACK_MS = 20;

let beforeRefresh: ((dir: string) => Promise<void> | void) | null = null;

/** Tests: runs once the racy entries are known, before the wait and the refresh (a write then is one git must still see). */
export function setBeforeSettleHook(hook: typeof beforeRefresh): void {
  beforeRefresh = hook;
}

/**
 * The longest wait for the clock: an entry further ahead than this was stamped by a clock that
 * stepped back (or a file system with another clock), and waiting for it could hold the checkout
 * for any time: git decides then.
 */
const WAIT_MAX_MS = 2000;

/**
 * How long to wait before the index of the checkout `dir` can be settled: null when no entry is
 * racily clean (or PAS does not read that index, or the wait would pass WAIT_MAX_MS: git decides),
 * else the milliseconds until the clock has passed the newest entry's second (0 or less: now).
 */
export async function racyIndexWaitMs(dir: string, hashBytes: number): Promise<number | null> {
  const index = await indexFactsOf(dir, hashBytes);
  if (!index) return null;
  const newest = index.facts.newestSecond;
  if (newest === null || newest < Math.floor(index.mtimeMs / 1000)) return null;
  const wait = (newest + 1) * 1000 + CLOCK_SLACK_MS - Date.now();
  return wait > WAIT_MAX_MS ? null : wait;
}

/**
 * Makes the index of the checkout `dir` hold no racily clean entry: waits (at most about a
 * second, never more than WAIT_MAX_MS) for the clock to pass the newest entry's second, then has
 * git refresh and write it. Does nothing when no entry is racy, or for an index PAS does not read
 * (git decides then). Answers whether the index was written. The caller holds the checkout.
 */
export async function settleIndex(dir: string, hashBytes: number): Promise<boolean> {
  const identity = fileIdentity(path.join(dir, '.git', 'index'));
  const wait = await racyIndexWaitMs(dir, hashBytes);
  if (wait === null) return false;
  const until = Date.now() + wait;
  await beforeRefresh?.(dir);
  const left = until - Date.now();
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  // git's own refresh: racy entries re-hashed, a changed one smudged; written even when unchanged.
  await git(dir, ['update-index', '-q', '--refresh', '--force-write-index'], { okCodes: [0, 1] });
  noteIndexRewritten(dir, identity);
  return true;
}
