/**
 * The merge git would make, in-process, for the case a swarm makes all day: the task branch is
 * one commit on a commit of the job branch's first-parent line (its merge base), and the two
 * sides changed different files, or made the same change to a file (plain files, modes kept, no file on one side where the other
 * has a folder, no deletion on one side with an addition on the other, where git's rename
 * detection could pair them). The result is the job branch's tree with the task's files taken
 * as they are. Anything else returns null and goes to `git merge-tree`.
 */
import { changedEntries, writeEditedTree, type Edit } from './object-commit.ts';
import { MODE_EXEC, MODE_FILE, type RepoObjectStore } from './object-store.ts';

const FIRST_PARENT_WALK = 64;

/**
 * The parents a commit object names, in order, read as git reads them: only the `parent` lines
 * right after the `tree` line count (a `parent` header further down is not a parent to git).
 */
export function commitParents(data: Buffer): string[] {
  const lines = data.toString('latin1', 0, Math.min(data.length, 64 * 1024)).split('\n');
  if (!lines[0]?.startsWith('tree ')) return [];
  const parents: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const m = /^parent ([0-9a-f]+)$/.exec(lines[i]!);
    if (!m) break;
    parents.push(m[1]!);
  }
  return parents;
}

/** The merged tree of `head` and `branch`, or null when git must decide. */
export async function trivialMergeTree(store: RepoObjectStore, head: string, branch: string): Promise<string | null> {
  const tip = await store.read(branch);
  if (!tip || tip.type !== 'commit') return null;
  const [base, ...more] = commitParents(tip.data);
  if (!base || more.length > 0) return null;
  // The base must be on head's first-parent line: then it is the one merge base.
  let at: string | undefined = head;
  for (let i = 0; at && at !== base && i < FIRST_PARENT_WALK; i++) {
    const commit = await store.read(at);
    at = commit?.type === 'commit' ? commitParents(commit.data)[0] : undefined;
  }
  if (at !== base) return null;

  const [baseTree, headTree, branchTree] = await Promise.all([store.commitTree(base), store.commitTree(head), store.commitTree(branch)]);
  const ours = await changedEntries(store, baseTree, headTree);
  const theirs = await changedEntries(store, baseTree, branchTree);
  if (theirs.size === 0) return headTree;

  const folders = (paths: Iterable<string>) => {
    const set = new Set<string>();
    for (const p of paths) for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) set.add(p.slice(0, i));
    return set;
  };
  const ourFolders = folders(ours.keys());
  const theirFolders = folders(theirs.keys());
  const regular = (mode: string | undefined) => mode === undefined || mode === MODE_FILE || mode === MODE_EXEC;
  const adds = (m: typeof ours) => [...m.values()].some((c) => !c.before && c.after);
  const deletes = (m: typeof ours) => [...m.values()].some((c) => c.before && !c.after);
  if ((deletes(ours) && adds(theirs)) || (deletes(theirs) && adds(ours))) return null;

  const edits = new Map<string, Edit>();
  for (const [path, change] of theirs) {
    const mine = ours.get(path);
    // Both sides made the same change (same content and mode, or both deleted it): git takes it as is.
    if (mine && mine.after?.oid === change.after?.oid && mine.after?.mode === change.after?.mode) continue;
    if (mine || ourFolders.has(path) || !regular(change.before?.mode) || !regular(change.after?.mode)) return null;
    for (const folder of folders([path])) if (ours.has(folder)) return null;
    edits.set(path, change.after ? { mode: change.after.mode, oid: change.after.oid } : null);
  }
  for (const path of ours.keys()) if (theirFolders.has(path)) return null;
  return (await writeEditedTree(store, headTree, edits)).tree;
}
