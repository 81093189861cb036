/**
 * Reused checkouts: each programmer keeps one checkout per repository,
 * `{workspacesDir}/.checkouts/{repo}-{hash}/{programmerId}`, made once and reset to the task's
 * base for every task that must run something on files (a `verify` command, aider, an agent
 * CLI). A checkout is its own small repository whose `.git/objects` is the repository's own
 * objects folder (a symlink): nothing is copied, what it writes lands in the repository, and
 * making many at once touches no shared admin file (concurrent `git worktree add` does, which is
 * why it had to be serialized). Each checkout's changes are tracked while a task holds it
 * (checkout-changes.ts), and the next task's checkout is restored by its changed paths alone,
 * in-process (checkout-restore.ts); what is not known exactly gets the full reset, `reset --hard
 * <base>` + `clean -ffdx` (untracked and ignored files too): a task never sees what an earlier one
 * left.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PasError } from '../errors.ts';
import { forgetChanges, trackedBase } from './checkout-changes.ts';
import { watchBudget, watchesInUse } from './checkout-watch-budget.ts';
import { CHECKOUT_MARKER, initCheckoutGit, keepGitFiles, restoreGitFiles } from './checkout-git-files.ts';
import { clearOperations } from './checkout-operations.ts';
import { CLEAN, restoreTracked, trackAfterReset } from './checkout-restore.ts';
import { git, gitSequence, repoKey } from './git-command.ts';
import { racyIndexWaitMs, settleIndex } from './index-settle.ts';
import { indexFactsOf, noteIndexHolds } from './index-state.ts';
import { writeIndexTree } from './index-tree.ts';
import { objectStoreFor, type RepoObjectStore } from './object-store.ts';
import { stageChanges } from './stage-changes.ts';
import { assertSafeId } from './worktree.ts';

/** The folder of `workspacesDir` holding the reused checkouts (never swept as an orphan). */
export const CHECKOUTS_DIR = '.checkouts';
const MARKER = CHECKOUT_MARKER;

export interface CheckoutInput {
  repo: string;
  workspacesDir: string;
  programmerId: string;
  /** The commit the checkout is reset to (a full id, or anything `rev-parse` takes). */
  baseCommit: string;
}

export interface CheckoutLease {
  /** Absolute path of the checkout, reset to the base: tracked files as committed, nothing else. */
  path: string;
  baseCommit: string;
  /** Gives the checkout back (the next task of this programmer waits for it, and restores what changed). */
  release(): void;
}

/** Folder of a programmer's checkout of `repo` (its key is the repository's common git dir). */
export async function checkoutPath(repo: string, workspacesDir: string, programmerId: string): Promise<string> {
  assertSafeId('task', programmerId);
  const key = await repoKey(repo);
  const name = path.basename(key === path.join(path.dirname(key), '.git') ? path.dirname(key) : key).replace(/[^A-Za-z0-9._-]/g, '_');
  const hash = createHash('sha1').update(key).digest('hex').slice(0, 10);
  return path.join(path.resolve(workspacesDir), CHECKOUTS_DIR, `${name}-${hash}`, programmerId);
}

const leases = new Map<string, Promise<void>>();

/** Takes the lease of a checkout folder (synchronously): `ready` resolves when the holder before it is done. */
function takeLease(dir: string): { ready: Promise<void>; release: () => void } {
  const previous = leases.get(dir) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const chained = previous.then(() => mine);
  leases.set(dir, chained);
  let released = false;
  return {
    ready: previous,
    release: () => {
      if (released) return;
      released = true;
      release();
      if (leases.get(dir) === chained) leases.delete(dir);
    },
  };
}

/**
 * The programmer's checkout of `repo`, reset to `baseCommit`, held until `release()`: one task
 * at a time per checkout (a task still winding down is waited for). Made at first use.
 */
export async function checkoutFor(input: CheckoutInput): Promise<CheckoutLease> {
  const dir = await checkoutPath(input.repo, input.workspacesDir, input.programmerId);
  const lease = takeLease(dir);
  await lease.ready;
  try {
    const base = await makeReady(dir, await objectStoreFor(input.repo), input);
    // The holder may write anything there: the next one restores it.
    untouched.delete(dir);
    return { path: dir, baseCommit: base, release: lease.release };
  } catch (err) {
    lease.release();
    throw err;
  }
}

/**
 * Checkouts this process made ready that no task has held since (prewarmed), whose index a
 * background settle may still make (index-settle.ts). Every task that takes a checkout removes it
 * from here. Whether one is still exactly its commit's files is known only from its watch
 * (restoreTracked), never from this.
 */
const untouched = new Set<string>();

/** Makes the checkout in `dir` if needed and brings it to the input's base (by its changes when watched, else a reset); returns the base commit. */
async function makeReady(dir: string, store: RepoObjectStore, input: CheckoutInput): Promise<string> {
  const base = (await store.resolveCommit(input.baseCommit)) ?? '';
  if (!base) throw new PasError('PAS_ERR_GIT', `"${input.baseCommit}" is not a commit in ${input.repo}`, { details: { repo: input.repo, rev: input.baseCommit } });
  untouched.delete(dir);
  // Even one left untouched since it was made ready: what was written there since (a straggler of
  // a killed run, a user) is heard and undone; with nothing heard this runs no git.
  if (existsSync(path.join(dir, '.git', MARKER)) && (await restoreTracked(dir, store, base))) return base;
  forgetChanges(dir);
  await ensureCheckout(dir, store.objectsDir);
  await restoreGitFiles(dir);
  await dropFlaggedIndex(dir, store.hashBytes);
  await resetCheckout(dir, base);
  await trackAfterReset(dir, store, base);
  // Reset or restored: the index holds the base's files (what an in-process staging checks).
  await noteIndexHolds(dir, await store.commitTree(base));
  return base;
}

/**
 * Makes a programmer's checkout of `repo` at `baseCommit` unless it is made and watched already or
 * in use (a task holds or waits for it): what the start-up prewarm does, in the background. One an
 * earlier run made is reset (and watched) here, not by its first task. A task asking for the
 * checkout meanwhile waits for this one (the lease) and then resets it to its own base. Returns
 * whether it made or reset the checkout.
 */
export async function warmCheckout(input: CheckoutInput): Promise<boolean> {
  const dir = await checkoutPath(input.repo, input.workspacesDir, input.programmerId);
  if (leases.has(dir)) return false;
  const lease = takeLease(dir);
  try {
    const store = await objectStoreFor(input.repo);
    // Made and watched already. One made by an earlier run (or runtime) is not known exactly: it is
    // reset and watched now, in the background, so its first task needs no full reset (unless no
    // watch is left: its tasks reset it anyway, and a reset here would be one more).
    if ((await readFile(path.join(dir, '.git', MARKER), 'utf8').catch(() => '')) === store.objectsDir && (trackedBase(dir) !== null || watchesInUse() >= watchBudget())) return false;
    await makeReady(dir, store, input);
    untouched.add(dir);
    lease.release();
    // Given back first (the prewarm makes the next one meanwhile); settled once the clock allows.
    settleInBackground(dir, store, input.workspacesDir);
    return true;
  } finally {
    lease.release();
  }
}

/** Settles running in the background, by checkout folder (stopSettles cuts their waits short and awaits them). */
const settling = new Map<string, { workspacesDir: string; controller: AbortController; ended: Promise<void> }>();

function settleInBackground(dir: string, store: RepoObjectStore, workspacesDir: string): void {
  if (settling.has(dir)) return;
  const controller = new AbortController();
  const entry = { workspacesDir, controller, ended: Promise.resolve() };
  entry.ended = settleWhenFree(dir, store, controller.signal)
    .catch(() => undefined)
    .finally(() => {
      if (settling.get(dir) === entry) settling.delete(dir);
    });
  settling.set(dir, entry);
}

/**
 * Stops the background settles of checkouts under `workspacesDir` (a runtime stopping): one still
 * waiting for the clock ends at once, untouched; one running its git is waited for.
 */
export async function stopSettles(workspacesDir: string): Promise<void> {
  const mine = [...settling.values()].filter((s) => s.workspacesDir === workspacesDir);
  for (const s of mine) s.controller.abort();
  await Promise.all(mine.map((s) => s.ended));
}

/**
 * Settles the index of a checkout made in the background (index-settle.ts) once the clock has
 * passed its files' second, unless a task has taken it by then (its own `git status` does it) or
 * the settles were stopped.
 */
async function settleWhenFree(dir: string, store: RepoObjectStore, signal: AbortSignal): Promise<void> {
  const wait = await racyIndexWaitMs(dir, store.hashBytes);
  if (wait === null) return;
  // Never what keeps a process alive.
  if (wait > 0) await sleep(wait, undefined, { ref: false, signal }).catch(() => undefined);
  if (signal.aborted || leases.has(dir) || !untouched.has(dir)) return;
  const lease = takeLease(dir);
  try {
    await lease.ready;
    if (untouched.has(dir) && !signal.aborted) await settleIndex(dir, store.hashBytes);
  } finally {
    lease.release();
  }
}

/** Makes the checkout when it is missing or was left half made (no marker), e.g. by a crash. */
async function ensureCheckout(dir: string, objectsDir: string): Promise<void> {
  const marker = path.join(dir, '.git', MARKER);
  if (existsSync(marker) && (await readFile(marker, 'utf8').catch(() => '')) === objectsDir) return;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // The objects are the repository's: a gc started in here must never prune or repack them (its config says so).
  await initCheckoutGit(dir);
  await rm(path.join(dir, '.git', 'objects'), { recursive: true, force: true });
  await symlink(objectsDir, path.join(dir, '.git', 'objects'));
  await keepGitFiles(dir);
  await writeFile(marker, objectsDir);
}

/**
 * Removes the checkout's index when `reset --hard` would not make it the base's exactly (a task's
 * assume-unchanged, skip-worktree or intent-to-add entries, which a reset keeps): the reset then
 * writes a fresh one.
 */
async function dropFlaggedIndex(dir: string, hashBytes: number): Promise<void> {
  const index = await indexFactsOf(dir, hashBytes);
  if (index && !index.facts.plain) await rm(path.join(dir, '.git', 'index'), { force: true });
}

/** A lock this old in a checkout this process holds is a crashed git's. */
const CHECKOUT_LOCK_STALE_MS = 3_000;

/**
 * Resets to `base`: tracked files as committed, every untracked and ignored file gone (nested
 * repositories too). A lock file here is a crash's: this process holds the checkout, but a git
 * started by a killed PAS may still be finishing, so a fresh lock is waited out before it goes.
 */
async function resetCheckout(dir: string, base: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    for (const name of ['index.lock', 'HEAD.lock']) await clearCrashedLock(path.join(dir, '.git', name));
    await clearOperations(dir);
    try {
      // One spawn of this process for both (see gitSequence).
      await gitSequence(dir, [['reset', '--hard', '--quiet', '--no-recurse-submodules', base], CLEAN]);
      return;
    } catch (err) {
      // A git of a killed PAS still at work here past the lock's age (a loaded machine) renames
      // its own lock onto the index, ours with it ("Could not write new index file"): once it is
      // done, the reset runs again. A reset that fails for another reason fails the same way again.
      if (attempt >= RESET_ATTEMPTS) throw err;
    }
  }
}

/** Tries of the full reset (see resetCheckout). */
const RESET_ATTEMPTS = 3;

async function clearCrashedLock(file: string): Promise<void> {
  for (;;) {
    let age: number;
    try {
      age = Date.now() - (await stat(file)).mtimeMs;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (age > CHECKOUT_LOCK_STALE_MS) {
      await rm(file, { force: true });
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Makes the checkouts of these programmers now (at start, for a repository known to need them),
 * all at once; each index is settled (index-settle.ts: up to a second's wait, then one git), so
 * the first task's `git status` re-checks and rewrites nothing.
 */
export async function prewarmCheckouts(repo: string, workspacesDir: string, programmerIds: readonly string[], baseCommit = 'HEAD'): Promise<void> {
  await Promise.all(
    programmerIds.map(async (programmerId) => {
      const dir = await checkoutPath(repo, workspacesDir, programmerId);
      const lease = takeLease(dir);
      await lease.ready;
      try {
        // Made (or reset) and given back untouched: the next task at this commit finds nothing to undo (no git).
        const store = await objectStoreFor(repo);
        await makeReady(dir, store, { repo, workspacesDir, programmerId, baseCommit });
        untouched.add(dir);
        // Not a task's time: its index settled (no entry racily clean), whichever way it was made ready.
        await settleIndex(dir, store.hashBytes);
      } finally {
        lease.release();
      }
    }),
  );
}

/**
 * Stages everything in a checkout and writes its tree (objects land in the repository). With
 * `changed`, the paths that alone can differ from `baseTree` since the checkout was last exactly
 * it, the tree is written in-process from them (stage-changes.ts: no whole-tree walk, usually no
 * git process; the index stays the base's). Otherwise, or when that cannot be exact, git stages
 * (its filters and ignore rules apply) and the trees are written in-process from the index
 * (`baseTree`: the checkout's base, whose unchanged subtrees are not written again); an index
 * that reader does not take goes to `git write-tree`. The checkout's git files are written back
 * first (checkout-git-files.ts): what the task set there is never run or followed by this git.
 */
export async function checkoutTree(dir: string, store?: RepoObjectStore, baseTree?: string, changed?: readonly string[] | null): Promise<string> {
  // Staged under the checkout's git files as PAS made them: not a task's fsmonitor, filters or excludes.
  await restoreGitFiles(dir);
  const tree = store && baseTree && changed ? await stageChanges(dir, store, baseTree, changed) : null;
  if (tree !== null) return tree;
  await git(dir, ['add', '--all']);
  return (store ? await writeIndexTree(store, dir, baseTree ?? null) : null) ?? (await git(dir, ['write-tree'])).stdout.trim();
}
