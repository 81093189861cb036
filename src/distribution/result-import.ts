/**
 * The objects of a result bundle taken into the central repository without git, when its pack
 * holds only whole commits, trees and blobs (the bundles workers write): the pack read (trailer,
 * count, sizes), each object hashed and checked as `fetch.fsckObjects` checks it, the result
 * checked to be a plain chain on its base, its connectivity checked (everything a new tree or
 * commit names is in the pack or already in the repository; an entry equal to the parent tree's
 * entry at the same path is there already), then the objects written as loose objects through
 * the repository's in-process writer. Anything else is answered `unsupported`, for git to fetch.
 */
import { MODE_SUBMODULE, MODE_TREE, parseTree, type RepoObjectStore, type TreeEntry } from '../executors/object-store.ts';
import { bundleInvalid } from './bundle-header.ts';
import { checkCommit, checkTree, needsGit, type Checked, type CheckedCommit } from './object-checks.ts';
import { readPack, type ReadObject } from './pack-file.ts';
import { plainChain, walkChanges } from './result-chain.ts';

export interface InProcessImport {
  base: string;
  head: string;
  attemptId: string;
  /** Added to every refusal's details. */
  details: Record<string, unknown>;
  /** The timeline's probe: hears `checked` once the objects are judged, before they are written. */
  onStep?: (step: 'checked') => void;
}

/** Left to git: the reason. */
class Unsupported {
  constructor(readonly reason: string) {}
}

/**
 * Checks the pack of a result bundle and writes its objects (no ref). Answers undefined once
 * they are written, `{ unsupported }` when git must read this pack; refuses a pack git would
 * refuse, or a result that is not a plain chain on `base`, with PAS_ERR_DIST_BUNDLE_INVALID.
 */
export async function importPackInProcess(store: RepoObjectStore, pack: Uint8Array, opts: InProcessImport): Promise<{ unsupported: string } | undefined> {
  const { base, head, details } = opts;
  const refuse = (message: string, extra: Record<string, unknown> = {}) => bundleInvalid(`result bundle of ${opts.attemptId} does not verify: ${message}`, { ...details, ...extra });
  const read = readPack(pack, store.hash);
  if (read.kind === 'invalid') throw refuse(read.problem);
  if (read.kind === 'unsupported') return { unsupported: read.reason };
  const objects = new Map<string, ReadObject>();
  const commits = new Map<string, CheckedCommit>();
  const trees = new Map<string, TreeEntry[]>();
  const take = <T>(oid: string, checked: Checked<T>): T => {
    if ('invalid' in checked) throw refuse(`${oid}: ${checked.invalid}`, { object: oid });
    if ('unsupported' in checked) throw new Unsupported(`${oid}: ${checked.unsupported}`);
    return checked.ok;
  };
  try {
    for (const obj of read.objects) {
      objects.set(obj.oid, obj);
      if (obj.type === 'commit') commits.set(obj.oid, take(obj.oid, checkCommit(obj.data, store.hashBytes * 2)));
      else if (obj.type === 'tree') trees.set(obj.oid, take(obj.oid, checkTree(obj.data, store.hashBytes)));
    }
    const readAny = async (oid: string) => objects.get(oid) ?? (await store.read(oid));
    const chain = await plainChain(readAny, base, head);
    if ('problem' in chain) throw bundleInvalid(chain.problem, { ...details, base, head, ...(chain.commit ? { commit: chain.commit } : {}) });

    // Connectivity, from the oldest commit up; every object of the pack must be reached.
    const reached = new Set<string>();
    const inRepository = async (oid: string, type: string, what: string) => {
      if ((await store.read(oid))?.type !== type) throw refuse(`${what} names ${type} ${oid}, which is neither in the bundle nor in the repository`, { missing: oid });
    };
    const readTree = async (oid: string): Promise<TreeEntry[]> => {
      const known = trees.get(oid);
      if (known) return known;
      const obj = await store.read(oid);
      if (!obj || obj.type !== 'tree') throw refuse(`tree ${oid} is missing`, { missing: oid });
      return parseTree(obj.data, store.hashBytes, 'latin1');
    };
    let parentTree = await store.commitTree(base);
    for (const c of [...chain.commits].reverse()) {
      const commit = commits.get(c.oid);
      // A commit of the chain the repository already holds is whole there.
      if (!commit) {
        parentTree = await store.commitTree(c.oid);
        continue;
      }
      reached.add(c.oid);
      const tree = trees.get(commit.tree);
      if (!tree) await inRepository(commit.tree, 'tree', `commit ${c.oid}`);
      else if (!reached.has(commit.tree)) {
        reached.add(commit.tree);
        await walkChanges(readTree, commit.tree, parentTree, async (entry) => {
          if (entry.mode === MODE_SUBMODULE) return false;
          const name = Buffer.from(entry.name, 'latin1').toString('utf8');
          // git looks into these (.gitmodules, .gitattributes, other spellings of .git): it judges them.
          if (needsGit(entry.name)) throw new Unsupported(`the result changes ${JSON.stringify(name)}`);
          const type = entry.mode === MODE_TREE ? 'tree' : 'blob';
          const obj = objects.get(entry.oid);
          if (!obj) {
            await inRepository(entry.oid, type, `entry ${JSON.stringify(name)}`);
            return false;
          }
          if (obj.type !== type) throw refuse(`entry ${JSON.stringify(name)} names ${entry.oid} as a ${type}, it is a ${obj.type}`, { object: entry.oid });
          const first = !reached.has(entry.oid);
          reached.add(entry.oid);
          return first;
        });
      }
      parentTree = commit.tree;
    }
    const left = [...objects.keys()].filter((oid) => !reached.has(oid));
    if (left.length > 0) return { unsupported: `${left.length} object(s) of the pack are not part of the result` };
  } catch (err) {
    if (err instanceof Unsupported) return { unsupported: err.reason };
    throw err;
  }
  opts.onStep?.('checked');
  await Promise.all([...objects.values()].map((o) => store.writeSoon(o.type, o.data).written));
  return undefined;
}
