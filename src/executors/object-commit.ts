/**
 * A task's commit written as objects, without a checkout: the edited files become blobs, the
 * trees on their paths are rewritten (modes kept, deletions dropped, folders left empty removed),
 * and the commit's parent is the task's base. Symlinks and submodules on a path are refused,
 * never followed. KPIs are git's numstat of each changed path, computed in-process.
 */
import type { Kpi } from '../../machines/domain.ts';
import { PasError } from '../errors.ts';
import { numstatOf } from './numstat.ts';
import { formatTree, MODE_FILE, MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE, objectStoreFor, type RepoObjectStore, type TreeEntry } from './object-store.ts';

export interface PathEntry {
  mode: string;
  oid: string;
}

function refuse(rel: string, why: 'symlink' | 'submodule' | 'not-a-folder' | 'folder'): never {
  if (why === 'symlink') {
    throw new PasError('PAS_ERR_FS_PATH_ESCAPE', `refused path ${JSON.stringify(rel)}: a symlink is on its way (symlinks in the repository are never followed)`, {
      details: { path: rel, reason: 'symlink' },
    });
  }
  const message =
    why === 'submodule' ? 'it is inside a submodule' : why === 'not-a-folder' ? 'a parent is not a folder' : 'it is a folder, not a file';
  throw new PasError('PAS_ERR_FS_NOT_ALLOWED', `refused path ${JSON.stringify(rel)}: ${message}`, { details: { path: rel, reason: why } });
}

function checkEntry(rel: string, entry: TreeEntry, last: boolean): void {
  if (entry.mode === MODE_SYMLINK) refuse(rel, 'symlink');
  if (entry.mode === MODE_SUBMODULE) refuse(rel, 'submodule');
  if (!last && entry.mode !== MODE_TREE) refuse(rel, 'not-a-folder');
  if (last && entry.mode === MODE_TREE) refuse(rel, 'folder');
}

/** Trees looked up by name, indexed once (a large folder is searched on every task that touches it). */
const byName = new WeakMap<readonly TreeEntry[], Map<string, TreeEntry>>();

export function entryNamed(entries: readonly TreeEntry[], name: string): TreeEntry | undefined {
  if (entries.length < 16) return entries.find((e) => e.name === name);
  let index = byName.get(entries);
  if (!index) {
    index = new Map();
    for (const e of entries) if (!index.has(e.name)) index.set(e.name, e);
    byName.set(entries, index);
  }
  return index.get(name);
}

/** The file at `rel` (normalized) in a tree: its mode and blob, or null when nothing is there. */
export async function entryAt(store: RepoObjectStore, tree: string, rel: string): Promise<PathEntry | null> {
  const segments = rel.split('/');
  let current = tree;
  for (let i = 0; i < segments.length; i++) {
    const entry = entryNamed(store.cachedTree(current) ?? (await store.readTree(current)), segments[i]!);
    if (!entry) return null;
    checkEntry(rel, entry, i === segments.length - 1);
    if (i === segments.length - 1) return { mode: entry.mode, oid: entry.oid };
    current = entry.oid;
  }
  return null;
}

/** A file's bytes in a tree, or null when absent (symlinks and submodules refused). */
export async function readAt(store: RepoObjectStore, tree: string, rel: string): Promise<Buffer | null> {
  const entry = await entryAt(store, tree, rel);
  return entry ? readBlob(store, entry.oid, rel) : null;
}

/** What a path becomes: new bytes (a blob is written, mode kept), an existing entry, or null (deleted). */
export type Edit = Buffer | null | PathEntry;

export interface FileChange {
  path: string;
  before: Buffer | null;
  after: Buffer | null;
}

/**
 * Writes the tree `base` with `edits` applied (path → new bytes, or null to delete) and returns
 * its id and the paths that really changed (an edit that leaves a file as it was is no change).
 */
export async function writeEditedTree(store: RepoObjectStore, base: string | null, edits: ReadonlyMap<string, Edit>, options: EditOptions = {}): Promise<{ tree: string; changes: FileChange[] }> {
  const written: Promise<void>[] = [];
  const result = await editTree(store, base, edits, written, options);
  await Promise.all(written);
  return result;
}

export interface EditOptions {
  /**
   * The edits are whole entries (or null) put in place of whatever is at their path, a folder or a
   * symlink too (a checkout's staged state, see stage-changes.ts): nothing is checked or read, and
   * no changes are listed.
   */
  replace?: boolean;
}

/** writeEditedTree with the object writes started, not awaited: they are pushed to `written`. */
async function editTree(store: RepoObjectStore, base: string | null, edits: ReadonlyMap<string, Edit>, written: Promise<void>[], options: EditOptions = {}): Promise<{ tree: string; changes: FileChange[] }> {
  const soon = (type: 'blob' | 'tree', data: Buffer): string => {
    const object = store.writeSoon(type, data);
    // Awaited by the caller (all together); never an unhandled rejection meanwhile.
    object.written.catch(() => undefined);
    written.push(object.written);
    return object.oid;
  };
  const changes: FileChange[] = [];
  const rewrite = async (tree: string | null, prefix: string, group: ReadonlyMap<string, Edit>): Promise<string | null> => {
    // The tree's entries as read (shared, never changed) and what this edit puts in their place
    // (null: removed); the new list is made once, at the end, in the old order.
    const entries = tree ? (store.cachedTree(tree) ?? (await store.readTree(tree))) : [];
    const replaced = new Map<string, TreeEntry | null>();
    const current = (name: string): TreeEntry | undefined => (replaced.has(name) ? (replaced.get(name) ?? undefined) : entryNamed(entries, name));
    const files = new Map<string, Edit>();
    const folders = new Map<string, Map<string, Edit>>();
    for (const [rel, content] of group) {
      const slash = rel.indexOf('/');
      if (slash < 0) files.set(rel, content);
      else {
        const head = rel.slice(0, slash);
        let sub = folders.get(head);
        if (!sub) folders.set(head, (sub = new Map()));
        sub.set(rel.slice(slash + 1), content);
      }
    }
    for (const [name, sub] of folders) {
      const full = `${prefix}${name}`;
      const existing = current(name);
      if (existing) checkEntry(`${full}/${[...sub.keys()][0]}`, existing, false);
      const next = await rewrite(existing?.oid ?? null, `${full}/`, sub);
      if (next === (existing?.oid ?? null)) continue;
      replaced.set(name, next === null ? null : { mode: MODE_TREE, name, oid: next });
    }
    for (const [name, content] of files) {
      const full = `${prefix}${name}`;
      const existing = current(name);
      if (options.replace && !Buffer.isBuffer(content)) {
        if (content ? existing?.oid === content.oid && existing.mode === content.mode : !existing) continue;
        replaced.set(name, content && { mode: content.mode, name, oid: content.oid });
        continue;
      }
      if (existing) checkEntry(full, existing, true);
      if (content !== null && !Buffer.isBuffer(content)) {
        // An entry taken as it is (a merge): no blob to write, no line counts.
        if (existing && existing.oid === content.oid && existing.mode === content.mode) continue;
        replaced.set(name, { mode: content.mode, name, oid: content.oid });
        continue;
      }
      const before = existing ? await readBlob(store, existing.oid, full) : null;
      if (content === null) {
        if (!existing) continue;
        replaced.set(name, null);
        changes.push({ path: full, before, after: null });
        continue;
      }
      if (before && before.equals(content)) continue;
      const oid = soon('blob', content);
      replaced.set(name, { mode: existing?.mode ?? MODE_FILE, name, oid });
      changes.push({ path: full, before, after: content });
    }
    if (replaced.size === 0) return tree;
    const kept: TreeEntry[] = [];
    for (const e of entries) {
      const next = replaced.has(e.name) ? replaced.get(e.name) : e;
      if (next) kept.push(next);
    }
    for (const [name, entry] of replaced) if (entry && !entryNamed(entries, name)) kept.push(entry);
    // git stores no empty folder: a folder whose last file went is dropped from its parent.
    if (kept.length === 0 && prefix !== '') return null;
    return soon('tree', formatTree(kept));
  };
  const tree = (await rewrite(base, '', edits)) ?? soon('tree', formatTree([]));
  changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { tree, changes };
}

/** A blob's bytes (`rel` names it in the error when it is missing). */
export async function readBlob(store: RepoObjectStore, oid: string, rel: string): Promise<Buffer> {
  const blob = await store.read(oid);
  if (!blob) throw new PasError('PAS_ERR_GIT', `blob ${oid} of ${rel} is missing from ${store.repo}`);
  return blob.data;
}

/** numstat over the changed files: a binary file counts as changed with no lines. */
export function kpiOf(changes: readonly FileChange[]): Kpi {
  const kpi: Kpi = { files_changed: 0, lines_added: 0, lines_removed: 0 };
  for (const c of changes) {
    const stat = numstatOf(c.before, c.after);
    kpi.files_changed += 1;
    kpi.lines_added += stat.added;
    kpi.lines_removed += stat.removed;
  }
  return kpi;
}

export interface CommitEditsInput {
  repo: string;
  baseCommit: string;
  /** Normalized repository-relative path → new bytes (null deletes the file). */
  edits: ReadonlyMap<string, Buffer | null>;
  message: string;
}

export interface CommitEditsResult {
  /** The new commit, or the base when nothing changed. */
  commit: string;
  changed: boolean;
  /** The paths that changed, sorted. */
  paths: string[];
  kpi: Kpi;
}

/** Commits `edits` on top of `baseCommit` as PAS, as objects only (no checkout, no ref). */
export async function commitEdits(input: CommitEditsInput): Promise<CommitEditsResult> {
  const store = await objectStoreFor(input.repo);
  const baseTree = await store.commitTree(input.baseCommit);
  // The blobs, trees and the commit are written side by side; all are there before this returns.
  const written: Promise<void>[] = [];
  try {
    const { tree, changes } = await editTree(store, baseTree, input.edits, written);
    if (changes.length === 0 || tree === baseTree) {
      return { commit: input.baseCommit, changed: false, paths: [], kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 } };
    }
    const commit = store.writeCommitSoon(tree, [input.baseCommit], input.message);
    written.push(commit.written);
    const kpi = kpiOf(changes);
    await Promise.all(written);
    return { commit: commit.oid, changed: true, paths: changes.map((c) => c.path), kpi };
  } finally {
    await Promise.allSettled(written);
  }
}

/**
 * The files that differ between two trees (recursively, no rename detection, as `git diff
 * --no-renames` sees them), with both sides' bytes; a mode change alone counts as a change.
 */
export async function diffTrees(store: RepoObjectStore, a: string | null, b: string | null): Promise<FileChange[]> {
  const blobOf = async (entry: TreeEntry | undefined, rel: string) => (entry && entry.mode !== MODE_SUBMODULE ? readBlob(store, entry.oid, rel) : null);
  const changes: FileChange[] = [];
  for (const [rel, { before, after }] of await changedEntries(store, a, b)) changes.push({ path: rel, before: await blobOf(before, rel), after: await blobOf(after, rel) });
  changes.sort((p, q) => (p.path < q.path ? -1 : p.path > q.path ? 1 : 0));
  return changes;
}

/** The file-level entries that differ between two trees (folders walked, not listed), by path. */
export async function changedEntries(store: RepoObjectStore, a: string | null, b: string | null): Promise<Map<string, { before?: TreeEntry; after?: TreeEntry }>> {
  const out = new Map<string, { before?: TreeEntry; after?: TreeEntry }>();
  const walk = async (left: string | null, right: string | null, prefix: string): Promise<void> => {
    if (left === right) return;
    const l = new Map((left ? await store.readTree(left) : []).map((e) => [e.name, e]));
    const r = new Map((right ? await store.readTree(right) : []).map((e) => [e.name, e]));
    for (const name of new Set([...l.keys(), ...r.keys()])) {
      const x = l.get(name);
      const y = r.get(name);
      if (x && y && x.oid === y.oid && x.mode === y.mode) continue;
      const rel = `${prefix}${name}`;
      await walk(x?.mode === MODE_TREE ? x.oid : null, y?.mode === MODE_TREE ? y.oid : null, `${rel}/`);
      const xFile = x && x.mode !== MODE_TREE ? x : undefined;
      const yFile = y && y.mode !== MODE_TREE ? y : undefined;
      if (xFile || yFile) out.set(rel, { ...(xFile ? { before: xFile } : {}), ...(yFile ? { after: yFile } : {}) });
    }
  };
  await walk(a, b, '');
  return out;
}
