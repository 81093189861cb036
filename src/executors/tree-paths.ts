/**
 * Paths looked up in a git tree from the object store: the folders on the way to a path, what is
 * at a path, and whether a `.gitattributes` of the tree applies there. Shared by the restore of a
 * reused checkout (checkout-restore.ts) and the staging from its changed paths (stage-changes.ts).
 */
import { entryNamed } from './object-commit.ts';
import { MODE_TREE, type RepoObjectStore, type TreeEntry } from './object-store.ts';

/** A tree's entries (without a wait when the store has them cached). */
async function entriesOf(store: RepoObjectStore, tree: string): Promise<TreeEntry[]> {
  return store.cachedTree(tree) ?? (await store.readTree(tree));
}

/**
 * The entries of the root of `tree`, then of each folder named by `rel` (posix; '' the root
 * alone), the last one `rel`'s own, as far as each is a folder of the tree: fewer where a name on
 * the way is missing or not a folder.
 */
export async function foldersOnTheWay(store: RepoObjectStore, tree: string, rel: string): Promise<TreeEntry[][]> {
  const out = [await entriesOf(store, tree)];
  if (rel === '') return out;
  for (const name of rel.split('/')) {
    const entry = entryNamed(out.at(-1)!, name);
    if (entry?.mode !== MODE_TREE) break;
    out.push(await entriesOf(store, entry.oid));
  }
  return out;
}

/** The folder holding `rel` ('' for the root) and `rel`'s name in it. */
export function splitPath(rel: string): { parent: string; name: string } {
  const slash = rel.lastIndexOf('/');
  return { parent: slash < 0 ? '' : rel.slice(0, slash), name: rel.slice(slash + 1) };
}

/** The entries of the folder `rel` of `tree` ('' the root), or null when the tree has no folder there. */
export async function folderAt(store: RepoObjectStore, tree: string, rel: string): Promise<TreeEntry[] | null> {
  const folders = await foldersOnTheWay(store, tree, rel);
  return folders.length === (rel === '' ? 1 : rel.split('/').length + 1) ? folders.at(-1)! : null;
}

/**
 * What is at `rel` in `tree`: its entry, null when nothing is there, or `'blocked'` when a folder
 * on the way is something else than a folder there (a file, a symlink, a submodule).
 */
export async function pathIn(store: RepoObjectStore, tree: string, rel: string): Promise<TreeEntry | null | 'blocked'> {
  const { parent, name } = splitPath(rel);
  const folders = await foldersOnTheWay(store, tree, parent);
  const parents = parent === '' ? [] : parent.split('/');
  if (folders.length === parents.length + 1) return entryNamed(folders.at(-1)!, name) ?? null;
  // Stopped at parents[folders.length - 1]: missing there, or not a folder.
  return entryNamed(folders.at(-1)!, parents[folders.length - 1]!) ? 'blocked' : null;
}

/** Whether a folder's entries hold a `.gitattributes`. */
export function holdsAttributesFile(entries: readonly TreeEntry[]): boolean {
  return entryNamed(entries, '.gitattributes') !== undefined;
}

/**
 * Whether a `.gitattributes` of `tree` is in a folder holding `rel` (its parent or one above it,
 * the root included), and how many of those folders (from the root down) are folders of the tree.
 */
export async function attributesOnTheWay(store: RepoObjectStore, tree: string, rel: string): Promise<{ found: boolean; folders: number }> {
  const folders = await foldersOnTheWay(store, tree, splitPath(rel).parent);
  return { found: folders.some(holdsAttributesFile), folders: folders.length };
}
