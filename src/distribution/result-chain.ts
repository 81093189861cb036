/**
 * The shape of a task's result: a plain chain of commits on top of its base (each with one
 * parent, the oldest's parent the base), and what each commit of it adds: the entries of its tree
 * that differ from its parent's at the same path. The worker writes a result bundle from these,
 * the central process checks one with them.
 */
import { MODE_TREE, type TreeEntry } from '../executors/object-store.ts';
import { commitParents } from '../executors/tree-merge.ts';

/** A result bundle longer than this many commits on top of its base is refused. */
export const MAX_RESULT_COMMITS = 1000;

export type ReadObject = (oid: string) => Promise<{ type: string; data: Buffer } | null>;

export interface ChainCommit {
  oid: string;
  data: Buffer;
  /** Its one parent (the base for the oldest). */
  parent: string;
}

/**
 * base..head as a plain chain, newest first, or why it is not one: head is the base, an object
 * of it is not a commit, a commit has no parent (a root: not built on base) or several, or
 * base is not reached within MAX_RESULT_COMMITS commits.
 */
export async function plainChain(read: ReadObject, base: string, head: string): Promise<{ commits: ChainCommit[] } | { problem: string; commit?: string }> {
  if (head === base) return { problem: 'the result bundle holds no commit on top of its base' };
  const commits: ChainCommit[] = [];
  for (let at = head; ; ) {
    const commit = await read(at);
    if (!commit || commit.type !== 'commit') return { problem: `${at} of the result is not a commit`, commit: at };
    const parents = commitParents(commit.data);
    if (parents.length === 0) return { problem: `result ${head} is not built on base ${base}` };
    if (parents.length > 1) return { problem: `commit ${at} of the result has ${parents.length} parents; a result is a plain chain on top of its base`, commit: at };
    commits.push({ oid: at, data: commit.data, parent: parents[0]! });
    if (parents[0] === base) return { commits };
    if (commits.length >= MAX_RESULT_COMMITS) return { problem: `result ${head} is not built on base ${base} within ${MAX_RESULT_COMMITS} commits` };
    at = parents[0]!;
  }
}

/**
 * Walks what `tree` changes against `old` (null: against nothing): `visit` sees each entry that
 * is not the same (mode and id) as the entry of its name in the old tree, with that old entry;
 * a changed subtree is walked too (against the old entry when that was a tree) when `visit`
 * answers true. Unchanged subtrees are never read.
 */
export async function walkChanges(
  readTree: (oid: string) => Promise<TreeEntry[]>,
  tree: string,
  old: string | null,
  visit: (entry: TreeEntry, before: TreeEntry | undefined) => boolean | Promise<boolean>,
): Promise<void> {
  const stack: Array<[string, string | null]> = [[tree, old]];
  while (stack.length > 0) {
    const [at, was] = stack.pop()!;
    if (at === was) continue;
    const [entries, previous] = await Promise.all([readTree(at), was ? readTree(was) : []]);
    const before = new Map(previous.map((e) => [e.name, e]));
    for (const entry of entries) {
      const prior = before.get(entry.name);
      if (prior && prior.mode === entry.mode && prior.oid === entry.oid) continue;
      if ((await visit(entry, prior)) && entry.mode === MODE_TREE) stack.push([entry.oid, prior?.mode === MODE_TREE ? prior.oid : null]);
    }
  }
}
