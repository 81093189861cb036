/**
 * Loose git objects written off the event loop: worker threads (two per process) deflate each
 * object (zlib level 1, git's default `core.looseCompression`) and writes it the way git does (a
 * temporary file in the object's folder, renamed onto its name, read-only). The event loop only
 * hashes and formats (the ids are needed at once) and posts the bytes: the objects asked for
 * within one event-loop iteration, by every task, go to the thread holding the fewest as one
 * message (a burst is split between the threads), and each caller's promise settles when its own
 * object is there. A thread that dies fails what it held (the callers see PAS_ERR_GIT) and is
 * started again for the next write.
 */
import { Worker } from 'node:worker_threads';
import { PasError } from '../errors.ts';

/** An object to write: its id, and its uncompressed bytes (`<type> <size>\0<data>`). */
export interface LooseObject {
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
 * The worker's code: plain JavaScript run with `eval` (no loader needed, whatever runs the
 * sources: tsx, vitest, a bundle). A folder a concurrent `git repack`'s prune-packed removed
 * between two steps is made again and the write retried.
 */
const WORKER_SOURCE = `
const { parentPort, threadId } = require('node:worker_threads');
const { writeFileSync, renameSync, mkdirSync, rmSync } = require('node:fs');
const { deflateSync } = require('node:zlib');
const path = require('node:path');
const tag = process.pid + '-' + threadId + '-' + Math.random().toString(16).slice(2, 8);
let count = 0;
function writeOne(item) {
  const dir = path.join(item.dir, item.oid.slice(0, 2));
  const file = path.join(dir, item.oid.slice(2));
  const body = deflateSync(item.raw, { level: 1 });
  for (let attempt = 1; ; attempt++) {
    const tmp = path.join(dir, 'tmp_obj_pas_' + tag + '_' + ++count);
    try {
      if (attempt > 1) mkdirSync(dir, { recursive: true });
      writeFileSync(tmp, body, { mode: 0o444 });
      renameSync(tmp, file);
      return;
    } catch (err) {
      rmSync(tmp, { force: true });
      if (err.code !== 'ENOENT' || attempt >= 20) throw err;
    }
  }
}
parentPort.on('message', (batch) => {
  let failures = null;
  let start = 0;
  const oids = batch.oids.split(' ');
  for (let i = 0; i < batch.ends.length; i++) {
    const end = batch.ends[i];
    const oid = oids[i];
    try {
      writeOne({ dir: batch.dirs[batch.dirOf[i]], oid, raw: batch.bytes.subarray(start, end) });
    } catch (err) {
      (failures ??= {})[i] = { message: String(err && err.message ? err.message : err), code: err && err.code };
    }
    start = end;
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
 * Threads per process: a loose object costs mostly file-system waits (open, write, rename in its
 * folder), which overlap across threads; two threads write a burst of objects about twice as fast
 * here as one, and more gain little on two cores.
 */
export const WRITER_THREADS = 2;
/** A batch of at least this many objects per thread is split between the threads. */
const SPLIT_AT = 8;

export class LooseObjectWriter {
  private threads: Array<Thread | undefined> = [];
  private nextId = 0;
  private queued: Pending | undefined;

  constructor(private readonly size = WRITER_THREADS) {}

  /** Threads running now (started at the first writes that need them). */
  get threadsRunning(): number {
    return this.threads.filter((t) => t !== undefined).length;
  }

  /** Writes one object into `objectsDir`; resolves once it is there under its name. */
  write(objectsDir: string, object: LooseObject): Promise<void> {
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
   * Posts what was asked during this event-loop iteration; a big batch (a burst of tasks
   * committing at once) is split so every thread writes a part of it at the same time.
   */
  private post(): void {
    const batch = this.queued;
    this.queued = undefined;
    if (!batch) return;
    const parts = Math.min(this.size, Math.floor(batch.items.length / SPLIT_AT));
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
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'pas-loose-objects' });
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
export const looseObjectWriter = new LooseObjectWriter();
