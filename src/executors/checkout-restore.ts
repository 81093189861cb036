/**
 * The cheap way back to a task's base for a reused checkout whose state this process knows
 * exactly. When a task staged everything in its checkout (`git add --all`, which scans the whole
 * tree once) and nothing ran there afterwards, the checkout is its base plus the differences
 * between the base tree and the staged tree, plus ignored files nobody listed. The next task at
 * the same base then needs no whole-tree `reset --hard`: only those paths are checked out from
 * the base (`checkout --no-overlay`: changed, deleted, added, mode and symlink changes alike,
 * through git's own smudge filters), and `clean -ffdx` removes what git never staged (ignored
 * files, nested repositories, empty folders). Anything unknown answers false and the caller does
 * the full reset: another base, another process's checkout (none is known after a restart), a
 * lock file, an index or HEAD changed since the staging (a process of the task's still at work),
 * a tracked file that no longer matches the index once the staged paths are back (the same,
 * writing without staging).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { gitSequence } from './git-command.ts';
import { fileIdentity } from './file-identity.ts';
import { changedEntries } from './object-commit.ts';
import type { RepoObjectStore } from './object-store.ts';
import { outermost } from './outermost-paths.ts';

/** Removes every untracked and ignored file and folder, nested repositories too. */
export const CLEAN: readonly string[] = ['clean', '-ffdxq'];

/**
 * Fails (exit 1) unless every tracked file matches the index: content, mode, type, presence. A
 * file touched but unchanged counts as different too (only a full reset more). Submodules are not
 * looked into: the full reset does not restore them either.
 */
const TRACKED_UNCHANGED: readonly string[] = ['diff-files', '--quiet', '--ignore-submodules'];

/** A staging: the tree, the index file's identity then, and whether the index was left at the base (staged in-process) rather than holding the tree. */
interface Staged {
  tree: string;
  index: string;
  indexAtBase: boolean;
}

/** A checkout as its last holder left it: the base and its last staging. */
interface StagedCheckout extends Staged {
  base: string;
}

/** Staged trees seen by checkoutTree, by checkout folder (the holder confirms one at release). */
const staged = new Map<string, Staged>();
/** Checkouts given back right after their staging, by folder: what the next task may restore cheaply. */
const known = new Map<string, StagedCheckout>();

/** The identity of a checkout's index file as it is now ('' when missing). */
function indexIdentity(dir: string): Promise<string> {
  return fileIdentity(path.join(dir, '.git', 'index'));
}

/**
 * Notes a whole-tree staging whose tree is `tree`: the index was just written with it, or (`indexAtBase`)
 * the tree was written in-process and the index left holding the base.
 */
export async function noteStaged(dir: string, tree: string, indexAtBase = false): Promise<void> {
  staged.set(dir, { tree, index: await indexIdentity(dir), indexAtBase });
}

/**
 * The holder gives the checkout back at `base`. `stagedTree`: the tree it staged last, with nothing
 * run in the checkout since; without it (or another tree than the one staged) nothing is known.
 */
export function noteReleased(dir: string, base: string, stagedTree: string | undefined): void {
  const last = staged.get(dir);
  staged.delete(dir);
  known.delete(dir);
  if (stagedTree && last && last.tree === stagedTree) known.set(dir, { ...last, base });
}

/** Forgets what is known of a checkout (it is taken, reset or remade). */
export function forgetCheckout(dir: string): void {
  known.delete(dir);
  staged.delete(dir);
}

/** The commit HEAD of the checkout names (detached, or through a loose branch ref), or null. */
async function headOf(dir: string): Promise<string | null> {
  try {
    const head = (await readFile(path.join(dir, '.git', 'HEAD'), 'utf8')).trim();
    if (!head.startsWith('ref: ')) return head;
    return (await readFile(path.join(dir, '.git', head.slice(5)), 'utf8')).trim();
  } catch {
    return null;
  }
}

/**
 * Brings a known checkout back to `base` by its staged differences alone; false (nothing done, or
 * a failure part way) when the caller must do the full reset.
 */
export async function restoreStaged(dir: string, store: RepoObjectStore, base: string): Promise<boolean> {
  const state = known.get(dir);
  known.delete(dir);
  if (!state || state.base !== base) return false;
  for (const name of ['index.lock', 'HEAD.lock']) {
    if (await stat(path.join(dir, '.git', name)).then(() => true, () => false)) return false;
  }
  if ((await indexIdentity(dir)) !== state.index || (await headOf(dir)) !== base) return false;
  try {
    const baseTree = await store.commitTree(base);
    const changed = await changedEntries(store, baseTree, state.tree);
    let paths = outermost([...changed.keys()]);
    // An index left at the base knows nothing of the added files (no pathspec of git's would match
    // them): they are untracked, and the clean removes them.
    if (state.indexAtBase) paths = paths.filter((p) => [...changed].some(([rel, { before }]) => before && (rel === p || rel.startsWith(`${p}/`))));
    const checkout = ['--literal-pathspecs', 'checkout', '--no-overlay', '--quiet', '--no-recurse-submodules', base, '--pathspec-from-file=-', '--pathspec-file-nul'];
    // One spawn of this process for all (see gitSequence). The check (exit 1 on any difference)
    // makes a failure, hence the full reset, of a tracked file changed after the staging without
    // the index knowing: a process of the task's that outlived it (setsid, nohup) still writing.
    await gitSequence(dir, paths.length > 0 ? [checkout, TRACKED_UNCHANGED, CLEAN] : [TRACKED_UNCHANGED, CLEAN], paths.length > 0 ? { input: `${paths.join('\0')}\0` } : {});
    return true;
  } catch {
    return false;
  }
}
