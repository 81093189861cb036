/**
 * The cheap way back to a task's base for a reused checkout whose changes are tracked
 * (checkout-changes.ts): only the paths that changed while the last task held it, plus those that
 * differ between its previous base and the new one, are made equal to the base, in-process from
 * the object store: a blob written with its mode (100644, 100755), a symlink for 120000, a whole
 * subtree for a folder, and whatever the base does not have there removed (untracked and ignored
 * files, nested repositories, empty folders alike). No git process and no walk of the tree on the
 * common path.
 *
 * git is asked only for what it must do itself:
 * - HEAD and the index: when git ran in the checkout (its `.git` changed), HEAD must still name
 *   the previous base and the index hold exactly its files (git's cache-tree root names the base's
 *   tree: what a `git status` refresh leaves, read in-process); otherwise, and for another base, `git read-tree -i -m <base>` (entries that
 *   kept their id keep their stat data, the cache-tree is the base's whole) and, when HEAD must
 *   move, `git update-ref HEAD <base>`, in one spawn. Files written in-process leave their index
 *   entries' stat data stale: the next `git status` re-hashes those files once (a file each) and
 *   writes the index again, unless the task changed them again (measured with git's trace2).
 *   Refreshing their stat data in-process would not spare that write: an entry whose file was
 *   written in the same second as the index is racily clean (index-settle.ts), which git also
 *   re-hashes and ends by writing the index; only waiting for the next second would, on the
 *   task's path;
 * - files under a `.gitattributes` (or whenever the checkout's settings could make git write other
 *   bytes: stage-settings.ts, attributes files outside the tree included) go through
 *   `git checkout --no-overlay`, so git's filters apply.
 *
 * Anything not known exactly answers false and the caller does the full reset: an untracked or
 * unknown checkout (after a restart, a watch that could not be made, possibly dropped events), a
 * lock file, a submodule under a changed path, a write by someone else while the restore ran.
 */
import { lstatSync, mkdirSync, symlinkSync, type Stats } from 'node:fs';
import { readdir, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { changedPaths, gitTouched, rewatch, trackCheckout, trackedBase } from './checkout-changes.ts';
import { restoreGitFiles } from './checkout-git-files.ts';
import { fileIdentity } from './file-identity.ts';
import { operationInProgress } from './checkout-operations.ts';
import { gitSequence } from './git-command.ts';
import { indexCacheTree } from './index-state.ts';
import { changedEntries } from './object-commit.ts';
import { MODE_EXEC, MODE_FILE, MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE, type RepoObjectStore, type TreeEntry } from './object-store.ts';
import { outermost } from './outermost-paths.ts';
import { isInside } from './fs-guard.ts';
import { fileExists, readRegularFile } from './small-file.ts';
import { settingsAllowInProcessStaging } from './stage-settings.ts';
import { attributesOnTheWay, foldersOnTheWay, holdsAttributesFile, pathIn, splitPath } from './tree-paths.ts';

/** Removes every untracked and ignored file and folder, nested repositories too. */
export const CLEAN: readonly string[] = ['clean', '-ffdxq'];

/** Restores by changed paths that succeeded, and those that answered false (the full reset followed), in this process. */
export const restoreCounts = { tracked: 0, untracked: 0 };

let afterRemove: ((dir: string, paths: readonly string[]) => Promise<void> | void) | null = null;

/** Tests: runs between the restore's removals and the flush that follows (a late write of the last task's). */
export function setAfterRemoveHook(hook: typeof afterRemove): void {
  afterRemove = hook;
}

/** What the restore cannot do itself: the caller does the full reset. */
class Unknown extends Error {}

/** Starts tracking a checkout just reset to `base` (all of its folders watched). */
export async function trackAfterReset(dir: string, store: RepoObjectStore, base: string): Promise<void> {
  const folders: string[] = [];
  await foldersOf(store, await store.commitTree(base), '', folders);
  trackCheckout(dir, base, folders);
  // Asked now, while git runs here anyway, so no restore waits for it.
  await settingsAllowInProcessStaging(dir);
}

/**
 * Every folder of a tree (posix, relative, under `prefix`), submodules' too: git makes their
 * folder empty, and what is written there must be heard (the restore then falls back).
 */
async function foldersOf(store: RepoObjectStore, tree: string, prefix: string, out: string[]): Promise<void> {
  const entries = store.cachedTree(tree) ?? (await store.readTree(tree));
  const subtrees: Promise<void>[] = [];
  for (const e of entries) {
    if (e.mode !== MODE_TREE && e.mode !== MODE_SUBMODULE) continue;
    out.push(`${prefix}${e.name}`);
    if (e.mode === MODE_TREE) subtrees.push(foldersOf(store, e.oid, `${prefix}${e.name}/`, out));
  }
  await Promise.all(subtrees);
}

/**
 * Brings a tracked checkout to `base` by its changed paths alone; false (nothing known, or a
 * failure part way) when the caller must do the full reset.
 */
export async function restoreTracked(dir: string, store: RepoObjectStore, base: string): Promise<boolean> {
  const done = await restoreByChanges(dir, store, base);
  if (done) restoreCounts.tracked++;
  else restoreCounts.untracked++;
  return done;
}

async function restoreByChanges(dir: string, store: RepoObjectStore, base: string): Promise<boolean> {
  const previous = trackedBase(dir);
  if (!previous) return false;
  const changed = await changedPaths(dir);
  if (!changed) return false;
  try {
    // Before any git runs here: the checkout's config and excludes as PAS made them.
    await restoreGitFiles(dir);
    const [previousTree, baseTree] = await Promise.all([store.commitTree(previous), store.commitTree(base)]);
    const between = previous === base ? [] : await Promise.all([...(await changedEntries(store, previousTree, baseTree)).keys()].map((rel) => divergence(store, previousTree, baseTree, rel)));
    const paths = outermost([...new Set([...changed, ...between])]);
    // HEAD is moved to another base, or back after a commit made in the checkout; the index is
    // read from the base (single-tree read-tree -i -m: stat data kept where the id is the same, git's
    // cache-tree of the base written whole) unless it still is exactly the base's files.
    let moveHead = previous !== base;
    let readIndex = moveHead;
    if (gitTouched(dir)) {
      for (const name of ['index.lock', 'HEAD.lock']) {
        if (fileExists(path.join(dir, '.git', name))) return false;
      }
      // A merge, cherry-pick, revert, rebase or bisect left unfinished: the full reset ends it.
      if (await operationInProgress(dir)) return false;
      if ((await headOf(dir)) !== previous) moveHead = readIndex = true;
      // Only git's own word (its cache-tree root, what a `git status` refresh keeps) spares the
      // read-tree: decoding a whole index that git add changed costs more than the spawn.
      else {
        const { names, plain } = await indexCacheTree(dir, store, previousTree);
        if (!names) readIndex = true;
        // read-tree -m keeps an entry's assume-unchanged or skip-worktree flag: the full reset drops them.
        if (readIndex && !plain) return false;
      }
    }
    // Settings that could make git write other bytes than the blob's (eol, attributes files outside the tree): git checks out.
    const filtered = paths.length > 0 && !(await settingsAllowInProcessStaging(dir));
    const written: Array<{ file: string; identity: string }> = [];
    const viaGit: string[] = [];
    const folders: string[] = [];
    const expected: Array<{ rel: string; entry: TreeEntry | null }> = [];
    for (const rel of paths) {
      const entry = await entryIn(store, baseTree, rel);
      expected.push({ rel, entry });
      if (entry?.mode === MODE_SUBMODULE) return false;
      await remove(path.join(dir, rel));
      if (!entry) continue;
      if (entry.mode === MODE_TREE) {
        folders.push(rel);
        await foldersOf(store, entry.oid, `${rel}/`, folders);
      }
      if (filtered || (await attributesApply(store, baseTree, rel, entry))) viaGit.push(rel);
      else await writeEntry(store, path.join(dir, rel), entry, written);
    }
    const commands: string[][] = [];
    if (viaGit.length > 0) commands.push(['--literal-pathspecs', 'checkout', '--no-overlay', '--quiet', '--no-recurse-submodules', base, '--pathspec-from-file=-', '--pathspec-file-nul']);
    if (readIndex) commands.push(['read-tree', '-i', '-m', base]);
    if (moveHead) commands.push(['update-ref', '-m', 'pas: restored to the base', 'HEAD', base]);
    if (commands.length > 0) await gitSequence(dir, commands, viaGit.length > 0 ? { input: `${viaGit.join('\0')}\0` } : {});
    await afterRemove?.(dir, paths);
    // A process of the last task's still writing where the restore wrote: unknown (checked when
    // the restore's own events are all heard, see rewatch).
    if (!(await rewatch(dir, base, paths, folders, () => written.every(({ file, identity }) => identityOf(file) === identity)))) return false;
    // Its events are taken for the restore's own: what is at the restored paths is checked against the base.
    for (const { rel, entry } of expected) if (!(await holdsBase(store, path.join(dir, rel), entry))) return false;
    return true;
  } catch {
    // Unknown, a file system error, a git failure: whatever state it left, the full reset follows.
    return false;
  }
}

/**
 * The outermost folder on the way to `rel` that is not a folder in both trees (a folder added or
 * removed between two bases is written or removed whole), else `rel` itself.
 */
async function divergence(store: RepoObjectStore, a: string, b: string, rel: string): Promise<string> {
  const { parent } = splitPath(rel);
  if (parent === '') return rel;
  const [x, y] = await Promise.all([foldersOnTheWay(store, a, parent), foldersOnTheWay(store, b, parent)]);
  // The root, then as many folders on the way as are folders in both trees.
  const shared = Math.min(x.length, y.length);
  const segments = rel.split('/');
  return shared === segments.length ? rel : segments.slice(0, shared).join('/');
}

/** What a path is in a tree: its entry, or null when absent; Unknown when a parent is not a folder there. */
async function entryIn(store: RepoObjectStore, tree: string, rel: string): Promise<TreeEntry | null> {
  const entry = await pathIn(store, tree, rel);
  if (entry === 'blocked') throw new Unknown(`${rel}: a parent is not a folder in the base`);
  return entry;
}

/** Writes a tree entry at `file` (nothing is there): a blob with its mode, a symlink, a folder whole. */
async function writeEntry(store: RepoObjectStore, file: string, entry: TreeEntry, written: Array<{ file: string; identity: string }>): Promise<void> {
  if (entry.mode === MODE_TREE) {
    mkdirSync(file);
    const entries = store.cachedTree(entry.oid) ?? (await store.readTree(entry.oid));
    await Promise.all(entries.map((e) => writeEntry(store, path.join(file, e.name), e, written)));
    return;
  }
  if (entry.mode !== MODE_FILE && entry.mode !== MODE_EXEC && entry.mode !== MODE_SYMLINK) throw new Unknown(`${file}: a submodule`);
  const blob = await store.read(entry.oid);
  if (!blob || blob.type !== 'blob') throw new Unknown(`${entry.oid} is not a blob`);
  if (entry.mode === MODE_SYMLINK) symlinkSync(blob.data, file);
  // Created as git creates it: 0666 or 0777 less the umask. Through the thread pool: a create can
  // wait on the file system's journal while other tasks sync (see remove).
  else await writeFile(file, blob.data, { mode: entry.mode === MODE_EXEC ? 0o777 : 0o666, flag: 'wx' });
  written.push({ file, identity: identityOf(file) });
}

/**
 * Whether what is at `file` is still what the restore made of `entry`: nothing where the base has
 * nothing, a folder holding exactly the tree's names (recursively); files are checked by identity.
 */
async function holdsBase(store: RepoObjectStore, file: string, entry: TreeEntry | null): Promise<boolean> {
  if (!entry) {
    try {
      return lstatSync(file, { throwIfNoEntry: false }) === undefined;
    } catch {
      return false;
    }
  }
  if (entry.mode !== MODE_TREE) return true;
  const names = await readdir(file).catch(() => null);
  const entries = store.cachedTree(entry.oid) ?? (await store.readTree(entry.oid));
  const present = new Set(names);
  if (!names || names.length !== entries.length || !entries.every((e) => present.has(e.name))) return false;
  for (const e of entries) if (e.mode === MODE_TREE && !(await holdsBase(store, path.join(file, e.name), e))) return false;
  return true;
}

/**
 * Removes what is at `file`: a file or symlink with one unlink, a folder (possibly large) with rm.
 * The lstat is synchronous (microseconds); the unlink goes through the thread pool: a call that
 * changes the file system (unlink, create, truncate) can wait on its journal while other tasks
 * sync, and on the event loop that wait held every task (the restore's main-thread time per task
 * fell from 0.37–0.55 to 0.19–0.24 ms at P = 10 when its unlink and create moved off it).
 */
async function remove(file: string): Promise<void> {
  let info: Stats | undefined;
  try {
    info = lstatSync(file, { throwIfNoEntry: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw err;
  }
  if (!info) return;
  if (info.isDirectory()) await rm(file, { recursive: true, force: true });
  else {
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** A file's (or symlink's own) identity: a chmod changes its change time. */
function identityOf(file: string): string {
  return fileIdentity(file, true);
}

/** Whether a `.gitattributes` of the base applies at `rel` (in a parent folder, or in the folder written). */
async function attributesApply(store: RepoObjectStore, tree: string, rel: string, entry: TreeEntry): Promise<boolean> {
  if ((await attributesOnTheWay(store, tree, rel)).found) return true;
  return entry.mode === MODE_TREE && (await holdsAttributes(store, entry.oid));
}

/** Whether a `.gitattributes` is anywhere in a tree. */
async function holdsAttributes(store: RepoObjectStore, tree: string): Promise<boolean> {
  const entries = store.cachedTree(tree) ?? (await store.readTree(tree));
  if (holdsAttributesFile(entries)) return true;
  for (const e of entries) if (e.mode === MODE_TREE && (await holdsAttributes(store, e.oid))) return true;
  return false;
}

/** HEAD and a loose ref are a line; anything larger there is not git's. */
const HEAD_MAX_BYTES = 4096;

/** The commit HEAD of the checkout names (detached, or through a loose branch ref), or null. */
async function headOf(dir: string): Promise<string | null> {
  try {
    // Regular files only, never followed or read when a task made them a fifo, device or link (unknown then).
    const head = (await readRegularFile(path.join(dir, '.git', 'HEAD'), HEAD_MAX_BYTES)).toString('utf8').trim();
    if (!head.startsWith('ref: ')) return head;
    const gitDir = path.join(dir, '.git');
    const ref = path.join(gitDir, head.slice(5));
    if (ref === gitDir || !isInside(gitDir, ref)) return null;
    return (await readRegularFile(ref, HEAD_MAX_BYTES)).toString('utf8').trim();
  } catch {
    return null;
  }
}
