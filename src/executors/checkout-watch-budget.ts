/**
 * How many inotify watches the reused checkouts of this process may hold together. The kernel's
 * limit, `fs.inotify.max_user_watches`, is per user and shared with everything else the user runs
 * (`tsc -w`, vite, an IDE's file watcher), which fail outright (ENOSPC) when it is reached; a
 * checkout PAS cannot watch only costs a full reset per task. So PAS takes a share, not the lot:
 * by default a quarter of the limit read at start (2,048 of the 8,192 of older kernels: every
 * folder of ~40 checkouts of a repository of 50 folders), `programmer_pool.yaml`
 * `checkouts.max_watches` otherwise (0: no checkout is watched).
 */
import { readFileSync } from 'node:fs';

/** The share of fs.inotify.max_user_watches taken when the config names no budget. */
export const DEFAULT_WATCH_SHARE = 1 / 4;
/** The limit assumed when /proc does not say (the default of kernels before 5.11). */
const ASSUMED_USER_WATCHES = 8_192;

function userWatchLimit(): number {
  try {
    const n = Number.parseInt(readFileSync('/proc/sys/fs/inotify/max_user_watches', 'utf8'), 10);
    return Number.isInteger(n) && n > 0 ? n : ASSUMED_USER_WATCHES;
  } catch {
    return ASSUMED_USER_WATCHES;
  }
}

/** The default budget: a quarter of the user's limit, read now. */
export function defaultWatchBudget(): number {
  return Math.floor(userWatchLimit() * DEFAULT_WATCH_SHARE);
}

let budget: number | null = null;
let inUse = 0;

/** Sets the budget (the runtime, from its config; tests); null: the default, read again from /proc. */
export function setWatchBudget(n: number | null): void {
  budget = n ?? defaultWatchBudget();
}

/** The budget in force (read at first use when none was set). */
export function watchBudget(): number {
  budget ??= defaultWatchBudget();
  return budget;
}

/** Watches held now by every checkout of this process. */
export function watchesInUse(): number {
  return inUse;
}

/** Whether `n` more watches fit in the budget (nothing is taken). */
export function watchesFit(n: number): boolean {
  return inUse + n <= watchBudget();
}

/** Takes one watch from the budget; false (nothing taken) when it is spent. */
export function takeWatch(): boolean {
  if (!watchesFit(1)) return false;
  inUse++;
  return true;
}

/** Gives back `n` watches (closed). */
export function giveBackWatches(n: number): void {
  inUse = Math.max(0, inUse - n);
}
