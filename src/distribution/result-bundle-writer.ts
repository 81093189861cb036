/**
 * A task's result as a git bundle written in-process, without `git bundle create`: the header
 * (`-<base>`, one head) and a pack of the objects base..commit adds, each commit of the chain
 * walked against its parent's tree (unchanged subtrees skipped), objects read through the
 * clone's long-lived cat-file and written whole (no deltas). Real git reads it (`git bundle
 * verify`, `git fetch`); the central process imports it without git (result-import.ts).
 */
import { PasError } from '../errors.ts';
import { MODE_SUBMODULE, MODE_TREE, parseTree, type RepoObjectStore, type TreeEntry } from '../executors/object-store.ts';
import { formatBundleHeader } from './bundle-header.ts';
import { commitTreeOf } from './object-checks.ts';
import { writePack, type PackObject, type PackObjectType } from './pack-file.ts';
import { plainChain, walkChanges } from './result-chain.ts';

/**
 * The bundle of base..commit with the one head `ref`, or null when the result is not a plain
 * chain of commits on base (then `git bundle create` cuts it, and the central process judges it).
 */
export async function writeResultBundle(store: RepoObjectStore, base: string, commit: string, ref: string): Promise<Buffer | null> {
  const chain = await plainChain((oid) => store.read(oid), base, commit);
  if (!('commits' in chain)) return null;
  const missing = (oid: string, type: string) => new PasError('PAS_ERR_GIT', `${type} ${oid} of result ${commit} is not in ${store.repo}`, { details: { repo: store.repo, oid, commit } });
  // Objects to send in order, with the bytes already read (trees read by the walk, the commits).
  const objects = new Map<string, { type: PackObjectType; data?: Buffer }>();
  const trees = new Map<string, { data: Buffer; entries: TreeEntry[] }>();
  const readTree = async (oid: string): Promise<TreeEntry[]> => {
    const known = trees.get(oid);
    if (known) return known.entries;
    const obj = await store.read(oid);
    if (!obj || obj.type !== 'tree') throw missing(oid, 'tree');
    // Names byte for byte (latin1): names that are not UTF-8 stay distinct.
    const entries = parseTree(obj.data, store.hashBytes, 'latin1');
    trees.set(oid, { data: obj.data, entries });
    return entries;
  };
  let parentTree = await store.commitTree(base);
  for (const c of [...chain.commits].reverse()) {
    objects.set(c.oid, { type: 'commit', data: c.data });
    const tree = commitTreeOf(c.data);
    if (!tree) throw new PasError('PAS_ERR_GIT', `commit ${c.oid} names no tree`, { details: { repo: store.repo, commit: c.oid } });
    if (tree !== parentTree && !objects.has(tree)) {
      objects.set(tree, { type: 'tree' });
      await walkChanges(readTree, tree, parentTree, (entry) => {
        // A submodule's commit is not in this repository: a tree names it, nothing carries it.
        if (entry.mode === MODE_SUBMODULE || objects.has(entry.oid)) return false;
        objects.set(entry.oid, { type: entry.mode === MODE_TREE ? 'tree' : 'blob' });
        return true;
      });
    }
    parentTree = tree;
  }
  const pack: PackObject[] = await Promise.all(
    [...objects].map(async ([oid, o]) => {
      const known = o.data ?? trees.get(oid)?.data;
      if (known) return { type: o.type, data: known };
      const obj = await store.read(oid);
      if (!obj || obj.type !== o.type) throw missing(oid, o.type);
      return { type: o.type, data: obj.data };
    }),
  );
  const header = formatBundleHeader(store.hash, [base], [{ commit, ref }]);
  return Buffer.concat([header, writePack(pack, store.hash)]);
}
