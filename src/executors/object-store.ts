/**
 * A repository's objects and refs without a checkout: objects are read through one long-lived
 * `git cat-file --batch`, written in-process (hashed on the event loop; deflated and written by
 * the process's object-writer threads, a burst as one pack), and refs are moved through one
 * long-lived `git update-ref --stdin`, one transaction at a time. Both long-lived gits look in the
 * pack folder again when an object is not where they looked before (git's reprepare), so they see
 * new packs. Now and then a background `git repack --geometric=2 -d -l` folds the small packs
 * (and any loose objects) together without rewriting the big ones.
 */
import { createHash, hash as digestOf } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { PasError } from '../errors.ts';
import { closeCheckoutWatches } from './checkout-changes.ts';
import { GitBatchProcess, lineParser } from './git-batch.ts';
import { git, PAS_AUTHOR, repoKey } from './git-command.ts';
import { ObjectCache } from './object-cache.ts';
import { objectWriter } from './object-writer.ts';
import { QuietWait } from './quiet-wait.ts';

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag';

export interface GitObject {
  oid: string;
  type: ObjectType;
  data: Buffer;
}

export interface TreeEntry {
  /** Octal mode as git writes it: 100644, 100755, 120000 (symlink), 40000 (tree), 160000 (submodule). */
  mode: string;
  name: string;
  oid: string;
}

export const MODE_FILE = '100644';
export const MODE_EXEC = '100755';
export const MODE_SYMLINK = '120000';
export const MODE_TREE = '40000';
export const MODE_SUBMODULE = '160000';

/** Objects this process writes to a repository that make a background fold due (it starts within FOLD_WAIT_MAX_MS). */
const PACK_EVERY = 2_000;
/** New packs in the pack folder (since the last fold) that make a fold due. */
const FOLD_AFTER_PACKS = 8;
/** Objects written between two looks at the pack folder. */
const LOOK_EVERY = 64;
/**
 * A fold that is due waits until no object was written to the repository for this long: the
 * burst of tasks ending together (commits, imported results) is not slowed by a `git repack`
 * taking one of the cores, and the fold runs in the pause after it (while models answer).
 */
const FOLD_QUIET_MS = 200;
/** A fold waits for that pause at most this long (a repository written to without pauses still folds). */
const FOLD_WAIT_MAX_MS = 3_000;
const TREE_CACHE = 4_096;
/** Bytes of blobs and trees kept after a read by id (an object never changes). */
const READ_CACHE_BYTES = 16 * 2 ** 20;
/** Bytes of the objects this store lately wrote (at most TREE_CACHE of them), kept to be read back without git (an object never changes). */
const WRITTEN_CACHE_BYTES = 8 * 2 ** 20;

const LOCK_ERROR = /cannot lock ref|Unable to create '[^']+\.lock'|File exists/i;
/**
 * Failures git words as a lock's ("cannot lock ref …") that are answers about the ref, not a lock
 * held by someone else: a create of a ref that exists, a compare that found another value, a
 * compare against a ref that is gone (git 2.39: "unable to resolve reference"; later gits:
 * "reference is missing but expected"), two updates of one ref in a transaction.
 */
const REF_ANSWER = /already exists|is at .* but expected|unable to resolve reference|reference is missing but expected|multiple updates/i;

/** Whether an update-ref transaction that failed with `message` is worth trying again: a lock held elsewhere, not an answer (REF_ANSWER). */
export function refLockContended(message: string): boolean {
  return LOCK_ERROR.test(message) && !REF_ANSWER.test(message);
}

export class RepoObjectStore {
  private readonly reader: GitBatchProcess;
  private readonly refs: GitBatchProcess;
  private readonly trees = new Map<string, TreeEntry[]>();
  /** Blobs and trees lately read by id (oldest first), within READ_CACHE_BYTES: a task's base trees are read again whole by its result bundle. */
  private readonly readCache = new ObjectCache<GitObject>(READ_CACHE_BYTES, Number.POSITIVE_INFINITY);
  /** Objects this store lately wrote (oldest first), once readable on disk too, within WRITTEN_CACHE_BYTES. */
  private readonly recent = new ObjectCache<GitObject>(WRITTEN_CACHE_BYTES, TREE_CACHE);
  /** Requests made to the long-lived `cat-file` (the reads no cache answered). */
  gitReads = 0;
  /** commit id → its root tree. */
  private readonly commitTrees = new Map<string, string>();
  private readonly refQueue: Array<{ commands: string[]; resolve: () => void; reject: (err: Error) => void }> = [];
  private refBusy = false;
  private written = 0;
  /** Objects written since the last fold started. */
  private sinceFold = 0;
  private folds = 0;
  /** Packs in the pack folder after the last fold. */
  private packsAfterFold: number | undefined;
  /** Objects written that make a background fold due. */
  packEvery = PACK_EVERY;
  /** New packs that make a background fold due. */
  foldAfterPacks = FOLD_AFTER_PACKS;
  /** The background look at the pack folder or fold under way (or waiting for a pause in the writes), if any. */
  packing: Promise<void> | undefined;
  /** The pause in this store's writes a due fold waits for. */
  readonly foldWait = new QuietWait(FOLD_QUIET_MS, FOLD_WAIT_MAX_MS);
  readonly hashBytes: number;

  constructor(
    /** The repository (any folder of it) git runs in. */
    readonly repo: string,
    /** Its objects folder (absolute). */
    readonly objectsDir: string,
    readonly hash: 'sha1' | 'sha256',
    private readonly gcAuto: number,
  ) {
    this.hashBytes = hash === 'sha1' ? 20 : 32;
    this.reader = new GitBatchProcess(repo, ['cat-file', '--batch']);
    // No reflog is made for the refs PAS creates (task and job branches): each would be a folder and
    // a file more per ref in the transaction's critical section; an existing reflog is still appended to.
    this.refs = new GitBatchProcess(repo, ['-c', 'core.logAllRefUpdates=false', 'update-ref', '--stdin']);
  }

  /** Reads an object by id or revision expression (`<commit>^{tree}`, `<rev>:<path>`); null when missing. */
  read(spec: string): Promise<GitObject | null> {
    if (/[\n\r]/.test(spec)) throw new PasError('PAS_ERR_GIT', `object name ${JSON.stringify(spec)} holds a line break`);
    const cached = this.readCache.get(spec) ?? this.recent.get(spec);
    if (cached) return Promise.resolve(cached);
    this.gitReads++;
    const answer = this.reader.request(`${spec}\n`, parseBatchAnswer);
    // A blob or tree read by its id is kept a while: a task reads its files before the model call
    // and again (the lines before) when it commits; a result bundle walks the base's trees again.
    return spec.length === this.hashBytes * 2 ? answer.then((obj) => this.keepRead(spec, obj)) : answer;
  }

  private keepRead(spec: string, obj: GitObject | null): GitObject | null {
    if (obj && (obj.type === 'blob' || obj.type === 'tree') && obj.oid === spec) this.readCache.add(obj);
    return obj;
  }

  /** The commit a revision names (full id), or null. Its tree is remembered for `commitTree`. */
  async resolveCommit(rev: string): Promise<string | null> {
    // A commit's own full id, read before as a commit (a task's base, every task after the first): no git.
    if (rev.length === this.hashBytes * 2 && this.commitTrees.has(rev)) return rev;
    const obj = await this.read(`${rev}^{commit}`);
    if (!obj) return null;
    this.rememberTree(obj);
    return obj.oid;
  }

  /** The root tree of a commit (remembered: a commit never changes). */
  async commitTree(commit: string): Promise<string> {
    const known = this.commitTrees.get(commit);
    if (known) return known;
    const obj = await this.read(commit);
    if (!obj || obj.type !== 'commit') throw new PasError('PAS_ERR_GIT', `${commit} is not a commit in ${this.repo}`, { details: { repo: this.repo, commit } });
    const tree = this.rememberTree(obj);
    if (!tree) throw new PasError('PAS_ERR_GIT', `commit ${commit} names no tree`, { details: { repo: this.repo, commit } });
    return tree;
  }

  private rememberTree(commit: GitObject): string | undefined {
    const match = /^tree ([0-9a-f]+)$/m.exec(commit.data.toString('utf8', 0, Math.min(commit.data.length, 200)));
    if (!match) return undefined;
    if (this.commitTrees.size >= TREE_CACHE) this.commitTrees.delete(this.commitTrees.keys().next().value!);
    this.commitTrees.set(commit.oid, match[1]!);
    return match[1]!;
  }

  /** A tree's entries when they are cached already (no read, no wait). */
  cachedTree(oid: string): TreeEntry[] | undefined {
    return this.trees.get(oid);
  }

  /** A tree's entries (cached: a tree never changes). */
  async readTree(oid: string): Promise<TreeEntry[]> {
    const cached = this.trees.get(oid);
    if (cached) return cached;
    const obj = await this.read(oid);
    if (!obj || obj.type !== 'tree') throw new PasError('PAS_ERR_GIT', `${oid} is not a tree in ${this.repo}`, { details: { repo: this.repo, oid } });
    const entries = parseTree(obj.data, this.hashBytes);
    if (this.trees.size >= TREE_CACHE) this.trees.delete(this.trees.keys().next().value!);
    this.trees.set(oid, entries);
    return entries;
  }

  /** Writes an object and returns its id once it is readable. */
  async write(type: ObjectType, data: Buffer): Promise<string> {
    const { oid, written } = this.writeSoon(type, data);
    await written;
    return oid;
  }

  /**
   * Starts writing an object: its id now, `written` once it is readable (in a pack with its
   * index, or loose; see object-writer.ts). The objects of one commit are written side by side
   * (none is visible to anyone before a ref names it). The object is written whether or not it
   * is already there: a new object (the usual case) costs no existence check, and the new copy
   * (a new pack, or a loose file renamed over the old one) is fresh, so a concurrent prune of old
   * unreachable objects spares it, as git's own freshening does.
   */
  writeSoon(type: ObjectType, data: Buffer): { oid: string; written: Promise<void> } {
    // The bytes the writer needs are the bytes hashed: one copy, one one-shot digest (no Hash object).
    const raw = Buffer.concat([objectHeader(type, data.length), data]);
    const oid = digestOf(this.hash, raw, 'hex');
    const written = objectWriter.write(this.objectsDir, { oid, raw }).then(() => {
      // Read back soon by who wrote it (a result bundle, a merge on top): served from here, not by git.
      this.recent.add({ oid, type, data: raw.subarray(raw.length - data.length) });
      this.foldWait.note();
      this.sinceFold++;
      if (this.sinceFold >= this.packEvery) this.packInBackground();
      else if (++this.written % LOOK_EVERY === 0) this.foldIfManyPacks();
    });
    return { oid, written };
  }

  /** The id an object would have (nothing written). */
  objectId(type: ObjectType, data: Buffer, header = objectHeader(type, data.length)): string {
    return createHash(this.hash).update(header).update(data).digest('hex');
  }

  async writeTree(entries: readonly TreeEntry[]): Promise<string> {
    return this.write('tree', formatTree(entries));
  }

  /** Writes a commit by PAS with these parents, now. */
  async writeCommit(tree: string, parents: readonly string[], message: string, when = new Date()): Promise<string> {
    const { oid, written } = this.writeCommitSoon(tree, parents, message, when);
    await written;
    return oid;
  }

  /** `writeCommit` started (see `writeSoon`). */
  writeCommitSoon(tree: string, parents: readonly string[], message: string, when = new Date()): { oid: string; written: Promise<void> } {
    const stamp = `${Math.floor(when.getTime() / 1000)} ${timezone(when)}`;
    const who = `${PAS_AUTHOR.name} <${PAS_AUTHOR.email}> ${stamp}`;
    const lines = [`tree ${tree}`, ...parents.map((p) => `parent ${p}`), `author ${who}`, `committer ${who}`, '', message.endsWith('\n') ? message.slice(0, -1) : message];
    return this.writeSoon('commit', Buffer.from(`${lines.join('\n')}\n`, 'utf8'));
  }

  /**
   * Applies ref updates as one transaction (all or nothing), in order with every other update
   * through this store: `create <ref> <new>` (refused when the ref exists), `update <ref> <new>
   * [<old>]`, `delete <ref> [<old>]`. Requests that arrive while a transaction runs go together
   * in the next one (one lock-and-commit round for many tasks); when such a group fails, each
   * request is retried alone so only its own failure reaches it. A lock held by another git is
   * waited out.
   */
  updateRefs(commands: readonly string[]): Promise<void> {
    for (const c of commands) {
      if (/[\n\r]/.test(c)) throw new PasError('PAS_ERR_GIT', `ref update ${JSON.stringify(c)} holds a line break`);
    }
    return new Promise<void>((resolve, reject) => {
      this.refQueue.push({ commands: [...commands], resolve, reject });
      void this.pumpRefs();
    });
  }

  private async pumpRefs(): Promise<void> {
    if (this.refBusy) return;
    this.refBusy = true;
    try {
      while (this.refQueue.length > 0) {
        const batch = this.refQueue.splice(0);
        try {
          await this.transaction(batch.flatMap((b) => b.commands));
          for (const b of batch) b.resolve();
        } catch (err) {
          if (batch.length === 1) {
            batch[0]!.reject(err as Error);
            continue;
          }
          for (const b of batch) {
            try {
              await this.transaction(b.commands);
              b.resolve();
            } catch (own) {
              b.reject(own as Error);
            }
          }
        }
      }
    } finally {
      this.refBusy = false;
    }
  }

  private async transaction(commands: readonly string[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.refs.request(`start\n${commands.join('\n')}\ncommit\n`, transactionParser);
        return;
      } catch (err) {
        const message = (err as Error).message;
        // "reference already exists" is an answer (create-only), not a lock to wait for.
        if (attempt >= 12 || !refLockContended(message)) {
          throw new PasError('PAS_ERR_GIT', `could not update ${commands.map((c) => c.split(' ')[1]).join(', ')}: ${message}`, {
            details: { repo: this.repo, commands: [...commands] },
          });
        }
        await new Promise((r) => setTimeout(r, Math.min(25 * 2 ** attempt, 1_000)));
      }
    }
  }

  close(): void {
    this.foldWait.close();
    this.reader.close();
    this.refs.close();
  }

  /** Looks at the pack folder (in the background) and folds when it holds `foldAfterPacks` more packs than after the last fold. */
  private foldIfManyPacks(): void {
    if (this.packing || this.gcAuto <= 0) return;
    this.packing = (async () => {
      const packs = await countPacks(this.objectsDir);
      if (packs - (this.packsAfterFold ?? 0) >= this.foldAfterPacks && (await this.foldWait.until())) await this.fold();
    })().finally(() => {
      this.packing = undefined;
    });
  }

  /**
   * Folds in the background, one run at a time: `git repack --geometric=2 -d -l` rolls the packs
   * smaller than half of the next bigger one, and the loose objects, into one new pack (reachable
   * or not: a pack written moments before its commit's ref keeps every object), so the big packs
   * are not rewritten each time and the count of packs stays near log2 of the objects. It deletes
   * only the packs it rolled up and loose objects it packed: a pack written while it runs is not
   * among them. It searches no new deltas (`pack.window=0`; deltas already in the rolled-up packs
   * are kept): on 2 loaded cores, folding 800 new objects into the 5,000-file repository cost
   * ~0.5 s of CPU with git's default window and ~0.02 s without, and its first fold (5,100 loose
   * objects) 7.3 s against 0.7 s, all of it taken from the tasks running meanwhile; a `git gc`
   * deltifies when the user wants the space. Every tenth run `git gc --auto` applies the
   * repository's own settings. Never when the repository turned gc off. A fold that is due starts
   * once FOLD_QUIET_MS passed without a write (FOLD_WAIT_MAX_MS at most; see `foldWait`), never
   * after the store is closed.
   */
  private packInBackground(): void {
    if (this.packing || this.gcAuto <= 0) return;
    this.packing = this.foldWait
      .until()
      .then((now) => (now ? this.fold() : undefined))
      .finally(() => {
        this.packing = undefined;
      });
  }

  private async fold(): Promise<void> {
    // Housekeeping, started by the spawner (no fork of this process): a git that fails or cannot
    // start now (EMFILE) is tried again at the next round.
    const run = (args: string[]) => git(this.repo, args).then(
      () => undefined,
      () => undefined,
    );
    this.folds++;
    this.sinceFold = 0;
    await run(['-c', 'pack.window=0', 'repack', '--geometric=2', '-d', '-l', '-q']);
    if (this.folds % 10 === 0) await run(['-c', `gc.auto=${this.gcAuto}`, '-c', 'gc.autoDetach=false', 'gc', '--auto', '--quiet']);
    this.packsAfterFold = await countPacks(this.objectsDir);
  }
}

/** Packs in an objects folder (by their index: what git reads). */
export async function countPacks(objectsDir: string): Promise<number> {
  const names = await readdir(path.join(objectsDir, 'pack')).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith('pack-') && n.endsWith('.idx')).length;
}

function timezone(when: Date): string {
  const offset = -when.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
}

/** `<oid> <type> <size>\n<data>\n` or `<spec> missing\n` (also `ambiguous`). */
function parseBatchAnswer(buffer: Buffer): { value: GitObject | null; used: number } | null {
  const line = lineParser(buffer);
  if (!line) return null;
  const parts = line.value.split(' ');
  if (parts.length === 2 && (parts[1] === 'missing' || parts[1] === 'ambiguous')) return { value: null, used: line.used };
  const [oid, type, sizeText] = parts;
  const size = Number(sizeText);
  if (!oid || !type || !Number.isInteger(size)) throw new PasError('PAS_ERR_GIT', `git cat-file answered ${JSON.stringify(line.value)}`);
  if (buffer.length < line.used + size + 1) return null;
  const data = Buffer.from(buffer.subarray(line.used, line.used + size));
  return { value: { oid, type: type as ObjectType, data }, used: line.used + size + 1 };
}

/** Reads "start: ok" then "commit: ok". */
function transactionParser(buffer: Buffer): { value: true; used: number } | null {
  const first = lineParser(buffer);
  if (!first) return null;
  const second = lineParser(buffer.subarray(first.used));
  if (!second) return null;
  if (first.value !== 'start: ok' || second.value !== 'commit: ok') {
    throw new PasError('PAS_ERR_GIT', `git update-ref answered ${JSON.stringify(`${first.value}\n${second.value}`)}`);
  }
  return { value: true, used: first.used + second.used };
}

/**
 * A tree's entries. Names are read as UTF-8; with `names: 'latin1'` each byte of a name is one
 * character, so names that are not UTF-8 stay distinct and compare in git's byte order.
 */
export function parseTree(data: Buffer, hashBytes: number, names: 'utf8' | 'latin1' = 'utf8'): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    const nul = data.indexOf(0, space);
    if (space < 0 || nul < 0 || nul + 1 + hashBytes > data.length) throw new PasError('PAS_ERR_GIT', 'a tree object is malformed');
    entries.push({ mode: data.toString('latin1', i, space), name: data.toString(names, space + 1, nul), oid: data.toString('hex', nul + 1, nul + 1 + hashBytes) });
    i = nul + 1 + hashBytes;
  }
  return entries;
}

/** UTF-16 surrogates: where JavaScript's string order and UTF-8 byte order can disagree. */
const SURROGATE = /[\uD800-\uDFFF]/;

/** What git hashes (and a loose object holds) before an object's bytes: `<type> <size>\0`. */
export function objectHeader(type: string, size: number): Buffer {
  return Buffer.from(`${type} ${size}\0`, 'latin1');
}

/**
 * A tree object's bytes, entries in git's order. Entries already in that order (a tree read from
 * git with entries replaced in place, the usual commit) are written as they are; otherwise each
 * entry's sort key is made once (not per comparison; names compare as strings, which is UTF-8
 * byte order unless a name holds a character beyond the BMP). The bytes go into one buffer: a
 * folder of thousands of files is re-formatted on every commit that touches it.
 */
export function formatTree(entries: readonly TreeEntry[]): Buffer {
  const ordered = inGitOrder(entries) ? entries : sortedForGit(entries);
  // At most 3 bytes of UTF-8 per UTF-16 unit: one buffer of the upper bound, cut to what was written.
  let bound = 0;
  for (const e of ordered) bound += e.mode.length + 1 + e.name.length * 3 + 1 + e.oid.length / 2 + 1;
  const out = Buffer.allocUnsafe(bound);
  let at = 0;
  for (const e of ordered) {
    at += out.write(e.mode, at, 'latin1');
    out[at++] = 0x20;
    at += out.write(e.name, at, 'utf8');
    out[at++] = 0;
    const written = out.write(e.oid, at, 'hex');
    // An id that is not whole hex would leave uninitialised bytes in the object: never written.
    if (written * 2 !== e.oid.length) throw new PasError('PAS_ERR_GIT', `tree entry "${e.name}" has a malformed object id`, { details: { name: e.name, oid: e.oid } });
    at += written;
  }
  return out.subarray(0, at);
}

/** Whether the entries are strictly in git's order already (a name beyond the BMP is left to sortedForGit). */
function inGitOrder(entries: readonly TreeEntry[]): boolean {
  let previous = '';
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const key = e.mode === MODE_TREE ? `${e.name}/` : e.name;
    if ((i > 0 && !(previous < key)) || SURROGATE.test(key)) return false;
    previous = key;
  }
  return true;
}

function sortedForGit(entries: readonly TreeEntry[]): TreeEntry[] {
  const keyed = entries.map((e) => ({ e, key: e.mode === MODE_TREE ? `${e.name}/` : e.name }));
  if (keyed.some((k) => SURROGATE.test(k.key))) keyed.sort((a, b) => Buffer.compare(Buffer.from(a.key, 'utf8'), Buffer.from(b.key, 'utf8')));
  else keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map((k) => k.e);
}

// ── one store per repository ────────────────────────────────────────────────

const stores = new Map<string, Promise<RepoObjectStore>>();
/** The store by the absolute path it was asked for (every task asks twice; resolving the path costs ~5 µs). */
const storeOfPath = new Map<string, Promise<RepoObjectStore>>();

/** The object store of the repository `repo` belongs to (one per repository per process). */
export function objectStoreFor(repo: string): Promise<RepoObjectStore> {
  const known = storeOfPath.get(repo);
  if (known) return known;
  const store = storeOf(repo);
  // A relative path means another folder after a chdir: only absolute ones are remembered.
  if (path.isAbsolute(repo)) {
    storeOfPath.set(repo, store);
    store.catch(() => storeOfPath.delete(repo));
  }
  return store;
}

function storeOf(repo: string): Promise<RepoObjectStore> {
  return repoKey(repo).then((key) => {
    let store = stores.get(key);
    if (!store) {
      store = (async () => {
        const out = await git(key, ['rev-parse', '--git-path', 'objects', '--show-object-format']);
        const [objects, format] = out.stdout.trim().split('\n');
        // The repository's own gc.auto (PAS's command line turns it off for every other command).
        const gc = await git(key, ['config', '--show-scope', '--get-all', 'gc.auto'], { okCodes: [1] });
        const configured = gc.stdout.split('\n').filter((l) => l && !l.startsWith('command')).pop()?.split('\t')[1];
        const gcAuto = configured === undefined ? 6_700 : Number.parseInt(configured, 10) || 0;
        const hash = format === 'sha256' ? 'sha256' : 'sha1';
        return new RepoObjectStore(key, path.resolve(key, objects ?? 'objects'), hash, gcAuto);
      })();
      store.catch(() => stores.delete(key));
      stores.set(key, store);
    }
    return store;
  });
}

/**
 * Closes every store's processes and the watches of the checkouts (tests, shutdown); a background
 * fold still running is waited for first, so no git of a store is left writing in its repository.
 */
export async function closeObjectStores(): Promise<void> {
  closeCheckoutWatches();
  const all = [...stores.values()];
  stores.clear();
  storeOfPath.clear();
  for (const s of all) {
    const store = await s.catch(() => undefined);
    // A fold still waiting for a pause in the writes is not started now, nor any later one.
    store?.foldWait.close();
    await store?.packing?.catch(() => undefined);
    store?.close();
  }
}
