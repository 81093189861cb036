/**
 * The tree of a checkout's index, written in-process (what `git write-tree` does, without its
 * process): the index file (versions 2 and 3) is read, every folder's tree is built from its
 * entries in index order (git's tree order), and only the trees that differ from the base
 * commit's tree at the same path are written (the others exist already). A folder whose tree id
 * git's own cache-tree extension records as the base's is taken whole, without reading or building
 * it (`git add` keeps the ids of the folders it did not change): only the changed folders' trees
 * are built. An index this reader
 * does not take as it is (another version, a conflict, an intent-to-add or skip-worktree entry,
 * a split index) answers null, and the caller asks git.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { formatTree, MODE_TREE, type RepoObjectStore, type TreeEntry } from './object-store.ts';

interface IndexEntry {
  path: string;
  mode: string;
  oid: string;
}

/** Tree ids git recorded in the index for whole folders ('' the root, else 'a/b/'), with the number of index entries each covers. */
type CacheTree = Map<string, { count: number; oid: string }>;

/** Reads the entries of an index file; null when it is not one this reader takes as it is. */
export function parseIndex(data: Buffer, hashBytes: number): IndexEntry[] | null {
  return readIndex(data, hashBytes)?.entries ?? null;
}

/** An index file's bytes before its trailing hash, when it is an index of version 2 or 3 whose hash holds; else null. */
function indexBody(data: Buffer, hashBytes: number): Buffer | null {
  if (data.length < 12 + hashBytes || data.toString('latin1', 0, 4) !== 'DIRC') return null;
  const version = data.readUInt32BE(4);
  if (version !== 2 && version !== 3) return null;
  // The file ends with the hash of everything before it: a torn or foreign file is not read.
  const body = data.subarray(0, data.length - hashBytes);
  const algorithm = hashBytes === 20 ? 'sha1' : 'sha256';
  return createHash(algorithm).update(body).digest().equals(data.subarray(data.length - hashBytes)) ? body : null;
}

/**
 * An entry's flags that leave it to git: assume-unchanged (assume-valid, 0x8000: git does not look
 * at the file), extended flags (0x4000: intent-to-add, skip-worktree), a conflict stage.
 */
function gitDecides(flags: number): boolean {
  return (flags & 0xc000) !== 0 || ((flags >> 12) & 0x3) !== 0;
}

function readIndex(data: Buffer, hashBytes: number): { entries: IndexEntry[]; cacheTree: CacheTree } | null {
  const body = indexBody(data, hashBytes);
  if (!body) return null;
  const count = data.readUInt32BE(8);
  const entries: IndexEntry[] = [];
  let at = 12;
  for (let i = 0; i < count; i++) {
    const fixed = 40 + hashBytes + 2;
    if (at + fixed > body.length) return null;
    const mode = data.readUInt32BE(at + 24);
    const oid = data.toString('hex', at + 40, at + 40 + hashBytes);
    const flags = data.readUInt16BE(at + 40 + hashBytes);
    if (gitDecides(flags)) return null;
    const nameStart = at + fixed;
    const nul = data.indexOf(0, nameStart);
    if (nul < 0 || nul >= body.length) return null;
    const name = data.toString('utf8', nameStart, nul);
    entries.push({ path: name, mode: mode.toString(8), oid });
    // Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
    at += (fixed + (nul - nameStart) + 8) & ~7;
  }
  // A split index ("link" extension) keeps entries elsewhere: git decides.
  let cacheTree: CacheTree = new Map();
  for (let ext = at; ext + 8 <= body.length; ) {
    const signature = data.toString('latin1', ext, ext + 4);
    if (signature === 'link' || signature === 'sdir') return null;
    const size = data.readUInt32BE(ext + 4);
    if (signature === 'TREE') cacheTree = parseCacheTree(data, ext + 8, Math.min(ext + 8 + size, body.length), hashBytes);
    ext += 8 + size;
  }
  return { entries, cacheTree };
}

/**
 * The index's cache-tree extension: depth first, each folder as its name, NUL, entry count
 * (negative: invalidated, no id follows), space, subfolder count, newline, tree id. Anything
 * unexpected gives an empty map: the trees are then all built.
 */
function parseCacheTree(data: Buffer, start: number, end: number, hashBytes: number): CacheTree {
  const out: CacheTree = new Map();
  let at = start;
  const read = (dir: string | null): boolean => {
    const nul = data.indexOf(0, at);
    const nl = nul < 0 ? -1 : data.indexOf(10, nul + 1);
    if (nul < 0 || nl < 0 || nl >= end) return false;
    const path = dir === null ? '' : `${dir}${data.toString('utf8', at, nul)}/`;
    const [count, subtrees] = data.toString('latin1', nul + 1, nl).split(' ').map(Number) as [number, number];
    if (!Number.isInteger(count) || !Number.isInteger(subtrees) || subtrees < 0) return false;
    at = nl + 1;
    if (count >= 0) {
      if (at + hashBytes > end) return false;
      out.set(path, { count, oid: data.toString('hex', at, at + hashBytes) });
      at += hashBytes;
    }
    for (let i = 0; i < subtrees; i++) if (!read(path)) return false;
    return true;
  };
  return at < end && read(null) ? out : new Map();
}

/**
 * Writes the trees of the index of the checkout `dir` (a git folder `.git` in it) and returns the
 * root tree's id, or null when git must do it (see parseIndex). `baseTree` is a tree whose
 * subtrees are known to exist (the checkout's base): equal trees are not written again.
 */
export async function writeIndexTree(store: RepoObjectStore, dir: string, baseTree: string | null): Promise<string | null> {
  return indexTree(store, dir, baseTree, true);
}

/**
 * The root tree id of the checkout's index, nothing written (null when git must say, see
 * parseIndex): equal to a commit's tree when the index holds exactly that commit's files.
 */
export function indexTreeId(store: RepoObjectStore, dir: string, baseTree: string | null): Promise<string | null> {
  return indexTree(store, dir, baseTree, false);
}

async function indexTree(store: RepoObjectStore, dir: string, baseTree: string | null, write: boolean): Promise<string | null> {
  let data: Buffer;
  try {
    data = await readFile(path.join(dir, '.git', 'index'));
  } catch {
    return null;
  }
  const index = readIndex(data, store.hashBytes);
  if (!index) return null;
  const { entries, cacheTree } = index;
  const written: Promise<void>[] = [];
  // Entries come in index order: a folder's entries are contiguous, its subfolders' inside them.
  let next = 0;
  const build = async (prefix: string, known: string | null): Promise<string> => {
    // Unchanged since the base as git itself recorded it: the folder's entries are skipped whole.
    const cached = cacheTree.get(prefix);
    const end = cached ? next + cached.count : -1;
    if (cached && cached.oid === known && cached.count > 0 && end <= entries.length && entries[end - 1]!.path.startsWith(prefix) && (end === entries.length || !entries[end]!.path.startsWith(prefix))) {
      next = end;
      return known;
    }
    const knownEntries = known ? new Map((await store.readTree(known)).map((e) => [e.name, e])) : undefined;
    const own: TreeEntry[] = [];
    while (next < entries.length && entries[next]!.path.startsWith(prefix)) {
      const rest = entries[next]!.path.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash < 0) {
        own.push({ mode: entries[next]!.mode, name: rest, oid: entries[next]!.oid });
        next++;
        continue;
      }
      const name = rest.slice(0, slash);
      const before = knownEntries?.get(name);
      const oid = await build(`${prefix}${name}/`, before?.mode === MODE_TREE ? before.oid : null);
      own.push({ mode: MODE_TREE, name, oid });
    }
    const body = formatTree(own);
    const oid = store.objectId('tree', body);
    if (write && oid !== known) {
      const object = store.writeSoon('tree', body);
      object.written.catch(() => undefined);
      written.push(object.written);
    }
    return oid;
  };
  const root = await build('', baseTree);
  await Promise.all(written);
  return root;
}

/**
 * What PAS reads of an index file without decoding its entries, in one pass (one hash, one walk;
 * entries are skipped by their name length). Nothing of a file this reader does not take (another
 * version, a torn file whose hash fails, a conflict or extended entry): not plain, nulls.
 */
export interface IndexFacts {
  /**
   * Whether it is an index git's `reset --hard` makes the base's exactly: version 2 or 3, no entry
   * flagged assume-unchanged, skip-worktree or intent-to-add, no conflict (`reset` and `read-tree
   * -m` keep an entry's flags: a task's `update-index --assume-unchanged` would outlive it).
   */
  plain: boolean;
  /**
   * The root tree id git's cache-tree extension records for the whole index, or null (none, the
   * root invalidated, not every entry covered, a split index, not plain).
   */
  rootTree: string | null;
  /** The latest modification second any entry records for its file (-1 when it has none), or null when not plain. */
  newestSecond: number | null;
}

const NOT_PLAIN: IndexFacts = Object.freeze({ plain: false, rootTree: null, newestSecond: null });

/** An index file's facts: its hash checked once (~0.35 ms for 5,000 entries). */
export function indexFacts(data: Buffer, hashBytes: number): IndexFacts {
  const body = indexBody(data, hashBytes);
  if (!body) return NOT_PLAIN;
  let newest = -1;
  // Each entry: ctime seconds, ctime nanoseconds, mtime seconds (offset 8), ...
  const at = plainEntriesEnd(data, body, hashBytes, (entry) => (newest = Math.max(newest, data.readUInt32BE(entry + 8))));
  if (at === null) return NOT_PLAIN;
  return { plain: true, rootTree: rootTreeAfter(data, body, at, hashBytes), newestSecond: newest };
}

/** The root of the cache-tree extension among the extensions from `at` (see IndexFacts.rootTree). */
function rootTreeAfter(data: Buffer, body: Buffer, at: number, hashBytes: number): string | null {
  const count = data.readUInt32BE(8);
  for (let ext = at; ext + 8 <= body.length; ) {
    const signature = data.toString('latin1', ext, ext + 4);
    const size = data.readUInt32BE(ext + 4);
    if (signature === 'link' || signature === 'sdir') return null;
    if (signature === 'TREE') {
      // The root comes first: an empty name, NUL, "<entries> <subtrees>\n", its id.
      const start = ext + 8;
      const nl = data.indexOf(10, start);
      if (data[start] !== 0 || nl < 0 || nl + 1 + hashBytes > body.length) return null;
      const covered = Number(data.toString('latin1', start + 1, nl).split(' ')[0]);
      return covered === count ? data.toString('hex', nl + 1, nl + 1 + hashBytes) : null;
    }
    ext += 8 + size;
  }
  return null;
}

/**
 * Where an index's entries end, skipped by their name length (none decoded); null when one is left
 * to git (see gitDecides). `visit` is called with each entry's offset (its fixed-offset stat data).
 */
function plainEntriesEnd(data: Buffer, body: Buffer, hashBytes: number, visit?: (at: number) => void): number | null {
  const count = data.readUInt32BE(8);
  const fixed = 40 + hashBytes + 2;
  let at = 12;
  for (let i = 0; i < count; i++) {
    if (at + fixed > body.length) return null;
    const flags = data.readUInt16BE(at + 40 + hashBytes);
    if (gitDecides(flags)) return null;
    visit?.(at);
    let nameLength = flags & 0xfff;
    if (nameLength === 0xfff) {
      const nul = data.indexOf(0, at + fixed);
      if (nul < 0) return null;
      nameLength = nul - at - fixed;
    }
    at += (fixed + nameLength + 8) & ~7;
  }
  return at;
}
