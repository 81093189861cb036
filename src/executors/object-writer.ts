/**
 * Git objects written off the event loop: worker threads (two per process) deflate the objects
 * and write them the way git would accept them. The event loop only hashes and formats (the ids
 * are needed at once) and posts the bytes: the objects asked for within one event-loop iteration,
 * by every task, go to the thread holding the fewest as one message (a burst of many bytes is
 * split between the threads). The thread writes a repository's share of a message as ONE pack and
 * its index in `objects/pack` (two files however many objects: a burst of 49 commits is ~100
 * objects, ~100 loose files before), each written to a temporary name, synced (as git syncs packs
 * by default), and renamed in place, the index last; a share of a single object is written as a
 * loose object (temporary file renamed onto its name, read-only, not synced: git's default). Each
 * caller's promise settles when its own object is readable. A thread that dies fails what it held
 * (the callers see PAS_ERR_GIT) and is started again for the next write. The object store folds
 * the small packs together in the background (object-store.ts).
 */
import { Worker } from 'node:worker_threads';
import { PasError } from '../errors.ts';
import { buildPackWithIndex, deflateOptions, packEntryHeader } from './pack-format.ts';

/** An object to write: its id, and its uncompressed bytes (`<type> <size>\0<data>`). */
export interface ObjectToWrite {
  oid: string;
  raw: Buffer;
}

interface Item {
  dir: string;
  oid: string;
  raw: Buffer;
}

interface Reply {
  id: number;
  /** The items that failed, by their place in the batch; null when every one was written. */
  failures: Record<number, { message: string; code?: string }> | null;
}

/**
 * A repository's share of a batch below this many objects is written as loose objects: one task's
 * commit alone (a blob or two, their trees, the commit) costs no sync and leaves no pack to fold;
 * a burst of tasks goes into one synced pack (scripts/bench-object-writer.ts, a loaded machine:
 * 5 objects loose 0.6 ms, as a synced pack 8.6 ms (two syncs); 100 objects loose 50 ms, as a
 * synced pack 26 ms).
 */
export const PACK_FROM = 8;
/** A batch of at least this many bytes is split between the threads (deflating it is most of the work). */
const SPLIT_BYTES = 2 ** 20;
/** Temporary files and index-less packs older than this are left-overs of a killed writer. */
const STALE_MS = 60 * 60 * 1000;

/**
 * The worker's code: plain JavaScript run with `eval` (no loader needed, whatever runs the
 * sources: tsx, vitest), the pack functions given as their source text (`__name` is what a
 * transpiler that keeps function names wraps them in). A folder a concurrent `git repack`'s
 * prune-packed removed between two steps is made again and the write retried.
 */
const WORKER_SOURCE = `
var __name = (fn) => fn;
const { parentPort, threadId, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { deflateSync, crc32 } = require('node:zlib');
const { createHash } = require('node:crypto');
const path = require('node:path');
const lib = { deflateSync, crc32, createHash };
const { packFrom, sync } = workerData;
const STALE_MS = ${STALE_MS};
${deflateOptions.toString()}
${packEntryHeader.toString()}
${buildPackWithIndex.toString()}
const tag = process.pid + '-' + threadId + '-' + Math.random().toString(16).slice(2, 8);
let count = 0;
const swept = new Set();
/** Writes bytes to a new read-only file, synced when asked (git syncs packs and their indexes, not loose objects). */
function writeNew(file, bytes, sync) {
  const fd = fs.openSync(file, 'wx', 0o444);
  try {
    fs.writeFileSync(fd, bytes);
    if (sync) fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
/** Runs a write into a folder, making the folder again (up to 20 times) if it is gone. */
function inFolder(dir, write) {
  for (let attempt = 1; ; attempt++) {
    try {
      if (attempt > 1) fs.mkdirSync(dir, { recursive: true });
      return write();
    } catch (err) {
      if (err.code !== 'ENOENT' || attempt >= 20) throw err;
    }
  }
}
function writeLoose(objectsDir, oid, raw) {
  const dir = path.join(objectsDir, oid.slice(0, 2));
  const body = deflateSync(raw, deflateOptions(raw.length));
  inFolder(dir, () => {
    const tmp = path.join(dir, 'tmp_obj_pas_' + tag + '_' + ++count);
    try {
      writeNew(tmp, body, false);
      fs.renameSync(tmp, path.join(dir, oid.slice(2)));
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  });
}
/** Left-overs of a killed writer (git ignores them): temporary files, and packs whose index never came. */
function sweep(packDir) {
  if (swept.has(packDir)) return;
  swept.add(packDir);
  let names;
  try {
    names = fs.readdirSync(packDir);
  } catch {
    return;
  }
  const old = Date.now() - STALE_MS;
  for (const name of names) {
    const orphan = name.startsWith('pack-') && name.endsWith('.pack') && !names.includes(name.slice(0, -5) + '.idx');
    if (!orphan && !name.startsWith('tmp_pack_pas_') && !name.startsWith('tmp_idx_pas_')) continue;
    try {
      const file = path.join(packDir, name);
      if (fs.statSync(file).mtimeMs < old) fs.rmSync(file, { force: true });
    } catch {}
  }
}
/** One pack and its index: the pack renamed in place first, its index last (git finds packs by their index). */
function writePack(objectsDir, objects) {
  const packDir = path.join(objectsDir, 'pack');
  const built = buildPackWithIndex(objects, lib);
  const base = path.join(packDir, 'pack-' + built.name);
  inFolder(packDir, () => {
    sweep(packDir);
    const tmpPack = path.join(packDir, 'tmp_pack_pas_' + tag + '_' + ++count);
    const tmpIdx = path.join(packDir, 'tmp_idx_pas_' + tag + '_' + count);
    try {
      writeNew(tmpPack, built.pack, sync);
      writeNew(tmpIdx, built.idx, sync);
      fs.renameSync(tmpPack, base + '.pack');
      fs.renameSync(tmpIdx, base + '.idx');
    } catch (err) {
      fs.rmSync(tmpPack, { force: true });
      fs.rmSync(tmpIdx, { force: true });
      throw err;
    }
  });
}
function failure(err) {
  return { message: String(err && err.message ? err.message : err), code: err && err.code };
}
parentPort.on('message', (batch) => {
  let failures = null;
  const oids = batch.oids.split(' ');
  const groups = new Map();
  let start = 0;
  for (let i = 0; i < batch.ends.length; i++) {
    const end = batch.ends[i];
    const d = batch.dirOf[i];
    let group = groups.get(d);
    if (!group) groups.set(d, (group = { at: [], objects: [] }));
    group.at.push(i);
    group.objects.push({ oid: oids[i], raw: batch.bytes.subarray(start, end) });
    start = end;
  }
  for (const [d, group] of groups) {
    const dir = batch.dirs[d];
    if (group.objects.length < packFrom) {
      group.objects.forEach((object, k) => {
        try {
          writeLoose(dir, object.oid, object.raw);
        } catch (err) {
          (failures ??= {})[group.at[k]] = failure(err);
        }
      });
      continue;
    }
    try {
      writePack(dir, group.objects);
    } catch (err) {
      const why = failure(err);
      for (const i of group.at) (failures ??= {})[i] = why;
    }
  }
  parentPort.postMessage({ id: batch.id, failures });
});
`;

interface Pending {
  items: Item[];
  settle: Array<{ resolve: () => void; reject: (err: Error) => void }>;
}

/**
 * A worker thread and the batches posted to it, not answered yet. Each thread keeps its own: a
 * thread that is replaced (stopped, or died) fails only what it held, not what its successor holds.
 */
interface Thread {
  worker: Worker;
  inFlight: Map<number, Pending>;
}

/** Objects a thread holds (what a new batch is balanced on). */
function objectsHeld(thread: Thread): number {
  let n = 0;
  for (const batch of thread.inFlight.values()) n += batch.items.length;
  return n;
}

/**
 * Threads per process: a batch of many bytes is deflated by both at once (one pack each), and a
 * thread waiting on the disk (a sync) does not hold the next batch; more gain little on two cores.
 */
export const WRITER_THREADS = 2;

export class ObjectWriter {
  private threads: Array<Thread | undefined> = [];
  private nextId = 0;
  private queued: Pending | undefined;

  constructor(
    private readonly size = WRITER_THREADS,
    /** How a thread writes (benchmarks compare the choices; the process's writer keeps the defaults). */
    private readonly options: { packFrom?: number; sync?: boolean } = {},
  ) {}

  /** Threads running now (started at the first writes that need them). */
  get threadsRunning(): number {
    return this.threads.filter((t) => t !== undefined).length;
  }

  /** Writes one object into `objectsDir`; resolves once git can read it there (its pack and index in place, or its loose file). */
  write(objectsDir: string, object: ObjectToWrite): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.queued) {
        this.queued = { items: [], settle: [] };
        setImmediate(() => this.post());
      }
      this.queued.items.push({ dir: objectsDir, oid: object.oid, raw: object.raw });
      this.queued.settle.push({ resolve, reject });
    });
  }

  /** Stops the threads; the writes they still held fail (an object it wrote meanwhile is unreferenced). */
  async close(): Promise<void> {
    const threads = this.threads.filter((t): t is Thread => t !== undefined);
    this.threads = [];
    for (const thread of threads) this.failHeld(thread, new Error('the object writer was stopped'));
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  /**
   * Posts what was asked during this event-loop iteration; a batch of many bytes is split so
   * every thread deflates a part of it at the same time (a pack each).
   */
  private post(): void {
    const batch = this.queued;
    this.queued = undefined;
    if (!batch) return;
    let bytes = 0;
    for (const item of batch.items) bytes += item.raw.length;
    const parts = Math.min(this.size, Math.floor(bytes / SPLIT_BYTES), Math.floor(batch.items.length / (this.options.packFrom ?? PACK_FROM)));
    if (parts <= 1) return this.postPart(batch);
    const per = Math.ceil(batch.items.length / parts);
    for (let at = 0; at < batch.items.length; at += per) {
      this.postPart({ items: batch.items.slice(at, at + per), settle: batch.settle.slice(at, at + per) });
    }
  }

  private postPart(batch: Pending): void {
    const id = ++this.nextId;
    let thread: Thread | undefined;
    try {
      thread = this.start();
      const worker = thread.worker;
      thread.inFlight.set(id, batch);
      worker.ref();
      // One message of flat fields (a structured clone of one object per item costs ~0.7 µs
      // each): the objects' bytes in one buffer, moved (not copied) to the worker (a Buffer may be
      // a view of a shared pool, which a clone would copy whole), where each ends, their ids in
      // one string, and each one's folder by index.
      const { items } = batch;
      let total = 0;
      for (const item of items) total += item.raw.length;
      const bytes = new Uint8Array(total);
      const ends = new Uint32Array(items.length);
      const dirs: string[] = [];
      const dirOf = new Uint32Array(items.length);
      const oids: string[] = [];
      let at = 0;
      items.forEach((item, i) => {
        bytes.set(item.raw, at);
        at += item.raw.length;
        ends[i] = at;
        oids.push(item.oid);
        let d = dirs.indexOf(item.dir);
        if (d < 0) d = dirs.push(item.dir) - 1;
        dirOf[i] = d;
      });
      worker.postMessage({ id, oids: oids.join(' '), ends, dirs, dirOf, bytes }, [bytes.buffer, ends.buffer, dirOf.buffer]);
    } catch (err) {
      if (thread?.inFlight.delete(id) && thread.inFlight.size === 0) thread.worker.unref();
      this.failBatch(batch, err);
    }
  }

  /** The thread holding the fewest objects (an idle slot is started first). */
  private start(): Thread {
    let best: Thread | undefined;
    for (let slot = 0; slot < this.size; slot++) {
      const thread = this.threads[slot];
      if (!thread) return this.startIn(slot);
      if (!best || objectsHeld(thread) < objectsHeld(best)) best = thread;
    }
    return best!;
  }

  private startIn(slot: number): Thread {
    const workerData = { packFrom: this.options.packFrom ?? PACK_FROM, sync: this.options.sync ?? true };
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'pas-object-writer', workerData });
    const thread: Thread = { worker, inFlight: new Map() };
    worker.on('message', (reply: Reply) => {
      const batch = thread.inFlight.get(reply.id);
      if (!batch) return;
      thread.inFlight.delete(reply.id);
      if (thread.inFlight.size === 0) worker.unref();
      batch.settle.forEach((caller, i) => {
        const failure = reply.failures?.[i];
        if (!failure) caller.resolve();
        else {
          const item = batch.items[i]!;
          caller.reject(new PasError('PAS_ERR_GIT', `could not write object ${item.oid} into ${item.dir}: ${failure.message}`, { details: { oid: item.oid, objectsDir: item.dir, code: failure.code } }));
        }
      });
    });
    const lost = (why: unknown) => {
      if (this.threads[slot] === thread) this.threads[slot] = undefined;
      this.failHeld(thread, why);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the object writer thread exited (code ${code})`)));
    this.threads[slot] = thread;
    return thread;
  }

  /** Fails every batch a thread still held, and forgets them. */
  private failHeld(thread: Thread, why: unknown): void {
    const held = [...thread.inFlight.values()];
    thread.inFlight.clear();
    for (const batch of held) this.failBatch(batch, why);
  }

  private failBatch(batch: Pending, why: unknown): void {
    const message = why instanceof Error ? why.message : String(why);
    batch.settle.forEach((caller, i) => {
      const item = batch.items[i]!;
      caller.reject(new PasError('PAS_ERR_GIT', `could not write object ${item.oid} into ${item.dir}: ${message}`, { details: { oid: item.oid, objectsDir: item.dir }, cause: why }));
    });
  }
}

/** The process's one writer (its thread starts at the first write). */
export const objectWriter = new ObjectWriter();
