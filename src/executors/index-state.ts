/**
 * What a checkout's index holds, known without reading it again: after a full reset or a restore
 * the index holds exactly the base tree (noteIndexHolds records the index file's identity then);
 * otherwise the index is read in-process once (index-tree.ts) and the answer kept while the file
 * keeps its identity. A task's own `git add`, `git rm`, `git commit`, even a `git status` that
 * refreshes it, writes a new file: it is read again. What PAS reads of an index without decoding
 * it (indexFactsOf) is kept the same way, by the file's identity.
 */
import path from 'node:path';
import { fileIdentity, fileStamp } from './file-identity.ts';
import { indexFacts, indexTreeId, type IndexFacts } from './index-tree.ts';
import type { RepoObjectStore } from './object-store.ts';
import { readRegularFile } from './small-file.ts';

/** By checkout folder: the index file's identity, and the tree its entries make then. */
const holds = new Map<string, { identity: string; tree: string }>();

function indexFile(dir: string): string {
  return path.join(dir, '.git', 'index');
}

/** Records that the checkout's index, as it is now, holds exactly the files of `tree` (just reset or restored to it). */
export async function noteIndexHolds(dir: string, tree: string): Promise<void> {
  const identity = fileIdentity(indexFile(dir));
  if (identity === '') holds.delete(dir);
  else holds.set(dir, { identity, tree });
}

/**
 * Records that git wrote the checkout's index again with the same entries (stat data refreshed
 * only, see index-settle.ts): what was known of the file as `before` holds for it now.
 */
export function noteIndexRewritten(dir: string, before: string): void {
  const known = holds.get(dir);
  if (known?.identity !== before) return;
  const identity = fileIdentity(indexFile(dir));
  if (identity === '') holds.delete(dir);
  else holds.set(dir, { identity, tree: known.tree });
}

/** Larger than any index PAS reads in-process (one of a million paths is ~100 MiB): git decides. */
const INDEX_MAX_BYTES = 512 * 1024 * 1024;

/** By index file and hash length: its identity when it was read, and what it held then. */
const factsByFile = new Map<string, { identity: string; facts: IndexFacts }>();

/** More index files than any run has checkouts: the oldest is forgotten (read again if asked). */
const FACTS_MAX = 4096;

/**
 * The file system stamps times from a clock that lags the wall clock by up to a tick: a file
 * changed this long ago or less could change again in place with the same size and times (git's
 * racy rule, applied to the index file itself). Its facts are not kept then.
 */
const STAMP_TICK_MS = 20;

/**
 * What the checkout's index holds (index-tree.ts indexFacts: plain, cache-tree root, newest entry
 * second) and the file's modification time; null when it is missing or unreadable. Read once per
 * identity: after a task, the restore and the settle both ask of the same file (a ~0.7 ms read and
 * hash of 5,000 entries each time otherwise). The index itself, never a symlink's target (it is
 * read with O_NOFOLLOW).
 */
export async function indexFactsOf(dir: string, hashBytes: number): Promise<{ facts: IndexFacts; mtimeMs: number } | null> {
  const file = indexFile(dir);
  const key = `${hashBytes}:${file}`;
  const before = fileStamp(file, true);
  if (!before) return null;
  const known = factsByFile.get(key);
  if (known?.identity === before.identity) return { facts: known.facts, mtimeMs: before.mtimeMs };
  const readAt = Date.now();
  // Small ones (a few hundred files) in synchronous calls; never a fifo or device a task put there (small-file.ts).
  const data = await readRegularFile(file, INDEX_MAX_BYTES).catch(() => null);
  if (!data) return null;
  const facts = Object.freeze(indexFacts(data, hashBytes));
  // Kept only when it was last changed a clock tick before the read. (A file replaced or written
  // while it was read has another identity now: what was read under the old one is never asked for.)
  if (readAt - before.ctimeMs > STAMP_TICK_MS) {
    factsByFile.delete(key);
    if (factsByFile.size >= FACTS_MAX) factsByFile.delete(factsByFile.keys().next().value!);
    factsByFile.set(key, { identity: before.identity, facts });
  }
  return { facts, mtimeMs: before.mtimeMs };
}

/**
 * Whether git's cache-tree root in the checkout's index names `tree` (git's own word that the whole
 * index is that tree: after a reset, a read-tree, a `git status` refresh), and whether the index is
 * plain (index-tree.ts IndexFacts); both false when it is missing.
 */
export async function indexCacheTree(dir: string, store: RepoObjectStore, tree: string): Promise<{ names: boolean; plain: boolean }> {
  const facts = (await indexFactsOf(dir, store.hashBytes))?.facts;
  return { names: !!facts && facts.rootTree === tree, plain: !!facts?.plain };
}

/** True when the checkout's index holds exactly the files of `tree` (no more, no fewer, same modes and blobs). */
export async function indexHolds(dir: string, store: RepoObjectStore, tree: string): Promise<boolean> {
  const identity = fileIdentity(indexFile(dir));
  if (identity === '') return false;
  const known = holds.get(dir);
  if (known?.identity === identity) return known.tree === tree;
  if ((await indexCacheTree(dir, store, tree)).names) {
    holds.set(dir, { identity, tree });
    return true;
  }
  const read = await indexTreeId(store, dir, tree);
  // Unchanged while it was read: the answer holds for this identity.
  if (read && fileIdentity(indexFile(dir)) === identity) holds.set(dir, { identity, tree: read });
  return read === tree;
}
