/**
 * A checkout's staged tree written in-process from the paths known to have changed since it was
 * exactly its base (a tracker's list): the tree `git add --all && git write-tree` gives, without
 * git walking the whole tree. Only the listed paths are looked at: a tracked file or symlink is
 * hashed as it is on disk (mode from its owner's execute bit), a missing one is deleted, a listed
 * folder is read whole against the base, and a path the base does not have is staged only if git's
 * ignore rules keep it, which one `git ls-files --others --exclude-standard` limited to those new
 * paths answers (no git process when nothing new appeared). Blobs and trees are written through
 * the store; the checkout's index is not touched (it stays the base's).
 *
 * Whenever git could stage something else than the bytes on disk, or the list cannot be trusted,
 * the answer is null and the caller asks git: the settings say so (stage-settings.ts), the index
 * is not exactly the base tree (a task's own `git add`, `git rm`, `git commit`), a `.gitattributes`
 * applies to a staged file (in the base on its folders, root included, or in a new folder) or is
 * itself listed, a submodule is in the base on or under a listed path, a nested repository appears,
 * a name git refuses (`.git` and its NTFS spellings) or a name that is not UTF-8, a fifo or socket,
 * a file over 32 MiB (git streams it), or a listed path whose parent folders are not the base's
 * folders on disk.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import { git } from './git-command.ts';
import { indexHolds } from './index-state.ts';
import { entryNamed, type PathEntry, writeEditedTree } from './object-commit.ts';
import { formatTree, MODE_EXEC, MODE_FILE, MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE, type RepoObjectStore, type TreeEntry } from './object-store.ts';
import { outermost } from './outermost-paths.ts';
import { settingsAllowInProcessStaging } from './stage-settings.ts';
import { attributesOnTheWay, folderAt, splitPath } from './tree-paths.ts';

/** Files larger than this are left to git (read whole here, streamed by git). */
const LARGE_FILE_BYTES = 32 * 2 ** 20;

/** Files up to this size (by their lstat) are read with one synchronous call. */
const SYNC_READ_BYTES = 64 * 1024;

/** Thrown inside to say "git must decide"; stageChanges answers null. */
class AskGit extends Error {}

function askGit(): never {
  throw new AskGit();
}

/** Names git refuses in a path (`.git` as any file system may spell it) or that no tree can hold as read. */
function refusedName(name: string): boolean {
  return /^\.git(?:[. ]+|:.*)?$/i.test(name) || /^git~\d+$/i.test(name) || name.includes('\uFFFD') || name === '.' || name === '..' || name === '';
}

/** A symlink git may refuse or that changes what git reads (`.gitmodules`, `.gitattributes`, `.gitignore`…). */
function refusedSymlink(name: string): boolean {
  return name.toLowerCase().startsWith('.git') || /^gitmod~\d+$/i.test(name);
}

/** What a listed path turned out to be: an entry (null: nothing staged there), a path for git's ignore rules, or a tracked folder read whole. */
type Node = { kind: 'entry'; entry: PathEntry | null } | { kind: 'new' } | { kind: 'folder'; base: string; children: Map<string, Node> };

const NEW: Node = { kind: 'new' };

/** Files staged at new paths, as nested folders of names. */
type Fresh = Map<string, Fresh | PathEntry>;

class Staging {
  /** Object writes started, awaited together at the end. */
  readonly written: Promise<void>[] = [];
  /** Paths the base does not have (or has as another kind), for git's ignore rules. */
  readonly fresh: string[] = [];
  /** Folders found to be folders on disk, every one above them too. */
  private readonly folders = new Set<string>();
  /** Folders whose files' `.gitattributes` question was answered (no). */
  private readonly attributesChecked = new Set<string>();

  constructor(
    readonly dir: string,
    readonly store: RepoObjectStore,
    readonly baseTree: string,
  ) {}

  abs(rel: string): string {
    return path.join(this.dir, rel);
  }

  /** Synchronous: cheaper than a round trip through libuv's thread pool, which under a burst waits behind every other task's calls. */
  async lstat(rel: string): Promise<Stats | null> {
    try {
      return lstatSync(this.abs(rel));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      return askGit();
    }
  }

  /** The base entry at a listed path; its folders must be the base's folders, and folders on disk. */
  async baseEntryAt(rel: string): Promise<TreeEntry | undefined> {
    const { parent, name } = splitPath(rel);
    const folder = await folderAt(this.store, this.baseTree, parent);
    if (!folder) askGit();
    await this.realFolder(parent);
    return entryNamed(folder, name);
  }

  /** Asks git unless the folder and every folder above it is a folder on disk (not a symlink to one). */
  private async realFolder(rel: string): Promise<void> {
    if (rel === '' || this.folders.has(rel)) return;
    const slash = rel.lastIndexOf('/');
    if (slash >= 0) await this.realFolder(rel.slice(0, slash));
    if (!(await this.lstat(rel))?.isDirectory()) askGit();
    this.folders.add(rel);
  }

  /** Reads what is at `rel` on disk against the base's entry there. */
  async inspect(rel: string, base: TreeEntry | undefined): Promise<Node> {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    if (refusedName(name) || name === '.gitattributes' || base?.mode === MODE_SUBMODULE) askGit();
    const st = await this.lstat(rel);
    if (!st) return { kind: 'entry', entry: null };
    if (st.isFile() || st.isSymbolicLink()) {
      if (!base || base.mode === MODE_TREE) return this.noteFresh(rel);
      return { kind: 'entry', entry: await this.blob(rel, st, base) };
    }
    if (!st.isDirectory()) askGit();
    if (!base || base.mode !== MODE_TREE) return this.noteFresh(rel);
    const names = await readdir(this.abs(rel)).catch(askGit);
    // A repository made over tracked files: what git makes of it is git's to say.
    if (names.some((n) => n.toLowerCase() === '.git')) askGit();
    const before = await this.store.readTree(base.oid);
    const children = new Map<string, Node>();
    const onDisk = new Set(names);
    for (const entry of before) {
      if (entry.mode === MODE_SUBMODULE) askGit();
      if (!onDisk.has(entry.name)) children.set(entry.name, { kind: 'entry', entry: null });
    }
    const byName = new Map(before.map((e) => [e.name, e]));
    for (const child of names) children.set(child, await this.inspect(`${rel}/${child}`, byName.get(child)));
    return { kind: 'folder', base: base.oid, children };
  }

  private noteFresh(rel: string): Node {
    this.fresh.push(rel);
    return NEW;
  }

  /** The blob entry of a file or symlink as git stages it; written unless it is the base's. */
  async blob(rel: string, st: Stats, base: TreeEntry | undefined): Promise<PathEntry> {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    if (st.isSymbolicLink() && refusedSymlink(name)) askGit();
    // git streams a large file; this would hold it whole in memory.
    if (st.size > LARGE_FILE_BYTES) askGit();
    await this.checkAttributes(rel);
    const data = st.isSymbolicLink() ? await readlink(this.abs(rel), { encoding: 'buffer' }).catch(askGit) : st.size <= SYNC_READ_BYTES ? this.readSmall(rel) : await readFile(this.abs(rel)).catch(askGit);
    const mode = st.isSymbolicLink() ? MODE_SYMLINK : st.mode & 0o100 ? MODE_EXEC : MODE_FILE;
    const oid = this.store.objectId('blob', data);
    if (oid !== base?.oid) this.write('blob', data);
    return { mode, oid };
  }

  /** A small file read in one synchronous call (see lstat). */
  private readSmall(rel: string): Buffer {
    try {
      return readFileSync(this.abs(rel));
    } catch {
      return askGit();
    }
  }

  write(type: 'blob' | 'tree', data: Buffer): string {
    const object = this.store.writeSoon(type, data);
    object.written.catch(() => undefined);
    this.written.push(object.written);
    return object.oid;
  }

  /** Asks git when a `.gitattributes` applies to the file at `rel`: in the base on its folders, or on disk in a folder the base lacks. */
  private async checkAttributes(rel: string): Promise<void> {
    const { parent } = splitPath(rel);
    if (this.attributesChecked.has(parent)) return;
    const { found, folders } = await attributesOnTheWay(this.store, this.baseTree, rel);
    if (found) askGit();
    // The folders the base lacks, on disk (a `.gitattributes` written since in a folder of the base is a listed path itself, see inspect).
    const names = parent === '' ? [] : parent.split('/');
    for (let i = folders; i <= names.length; i++) if (await this.lstat([...names.slice(0, i), '.gitattributes'].join('/'))) askGit();
    this.attributesChecked.add(parent);
  }

  /** The new paths' files git's ignore rules keep, each staged as a blob, as a tree of names. */
  async freshFiles(): Promise<Fresh> {
    const out: Fresh = new Map();
    if (this.fresh.length === 0) return out;
    // Far more than a task makes: the argument list would grow past what a process takes.
    if (this.fresh.reduce((n, p) => n + p.length + 1, 0) > 64 * 1024) askGit();
    const listed = (await git(this.dir, ['--literal-pathspecs', 'ls-files', '--others', '--exclude-standard', '-z', '--', ...this.fresh]).catch(askGit)).stdout.split('\0');
    for (const rel of listed) {
      if (rel === '') continue;
      const names = rel.split('/');
      // A nested repository (listed as a folder) becomes a gitlink or an error: git's to do.
      if (rel.endsWith('/') || names.some(refusedName) || names.at(-1) === '.gitattributes') askGit();
      const st = await this.lstat(rel);
      if (!st || !(st.isFile() || st.isSymbolicLink())) askGit();
      const entry = await this.blob(rel, st, undefined);
      let folder = out;
      for (const name of names.slice(0, -1)) {
        let next = folder.get(name);
        if (!next) folder.set(name, (next = new Map()));
        if (!(next instanceof Map)) askGit();
        folder = next;
      }
      folder.set(names.at(-1)!, entry);
    }
    return out;
  }

  /** The entry a node stages at `rel` (null: nothing there). */
  resolve(node: Node, rel: string, fresh: Fresh): PathEntry | null {
    if (node.kind === 'entry') return node.entry;
    if (node.kind === 'new') {
      let at: Fresh | PathEntry | undefined = fresh;
      for (const name of rel.split('/')) at = at instanceof Map ? at.get(name) : undefined;
      return at instanceof Map ? this.freshTree(at) : (at ?? null);
    }
    const entries: TreeEntry[] = [];
    for (const [name, child] of node.children) {
      const entry = this.resolve(child, `${rel}/${name}`, fresh);
      if (entry) entries.push({ name, ...entry });
    }
    return this.tree(entries, node.base);
  }

  /** The tree of a folder of fresh files. */
  private freshTree(folder: Fresh): PathEntry | null {
    const entries: TreeEntry[] = [];
    for (const [name, item] of folder) {
      const entry = item instanceof Map ? this.freshTree(item) : item;
      if (entry) entries.push({ name, ...entry });
    }
    return this.tree(entries, null);
  }

  /** A folder's tree entry from its entries (null when empty: git records no empty folder); written unless it is `known`. */
  private tree(entries: TreeEntry[], known: string | null): PathEntry | null {
    if (entries.length === 0) return null;
    const body = formatTree(entries);
    const oid = this.store.objectId('tree', body);
    if (oid !== known) this.write('tree', body);
    return { mode: MODE_TREE, oid };
  }
}

/**
 * The tree `git add --all && git write-tree` would give for the checkout in `dir`, given that only
 * `paths` (repository-relative, posix; a folder stands for everything under it) may differ from
 * `baseTree`, the tree the checkout was last exactly. Its objects are written through `store`.
 * Null when it cannot be exact: the caller then stages with git.
 */
export async function stageChanges(dir: string, store: RepoObjectStore, baseTree: string, paths: readonly string[]): Promise<string | null> {
  const staging = new Staging(dir, store, baseTree);
  try {
    if (paths.some((p) => p.startsWith('/') || p.endsWith('/') || p.split('/').some(refusedName))) return null;
    if (!(await settingsAllowInProcessStaging(dir)) || !(await indexHolds(dir, store, baseTree))) return null;
    const listed = outermost([...new Set(paths)]);
    const nodes = new Map<string, Node>();
    for (const rel of listed) nodes.set(rel, await staging.inspect(rel, await staging.baseEntryAt(rel)));
    const fresh = await staging.freshFiles();
    const edits = new Map<string, PathEntry | null>();
    for (const [rel, node] of nodes) edits.set(rel, staging.resolve(node, rel, fresh));
    const { tree } = await writeEditedTree(store, baseTree, edits, { replace: true });
    await Promise.all(staging.written);
    return tree;
  } catch (err) {
    await Promise.allSettled(staging.written);
    if (err instanceof AskGit) return null;
    throw err;
  }
}
