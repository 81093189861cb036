/**
 * The fsync of a SQLite write-ahead log done off the event loop: the journal commits a group of
 * writes without SQLite's own fsync (`synchronous=NORMAL` for that transaction) and asks this for
 * an `fdatasync` of the `-wal` file on libuv's thread pool, which makes those frames as durable as
 * `synchronous=FULL` would have (an fsync flushes the file, whichever descriptor asks). Requests
 * that arrive while a sync runs share the next one. `syncNow` does it synchronously, for callers
 * that must be durable when they return.
 *
 * A failed fsync is final (as in Postgres): on Linux the kernel may drop the dirty pages and let
 * the next fsync "succeed", so no retry can prove the frames durable. The syncer then stays failed:
 * it reports the error once (`onFailure`), rejects every waiter, and every later request, syncNow
 * and settled throws or rejects PAS_ERR_JOURNAL. (Failing to open the file is not: nothing was
 * lost yet, and the next request tries again.)
 */
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import { PasError } from '../errors.ts';

interface Waiter {
  upTo: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class WalSync {
  private fd: number | undefined;
  /** Commits asked to be made durable so far (a counter). */
  private requested = 0;
  /** Commits known durable. */
  private done = 0;
  private running = false;
  private closed = false;
  private waiters: Waiter[] = [];
  /** Why the last attempt to open the file failed (cleared by the next fsync that succeeds). */
  private failure: PasError | undefined;
  /** Why an fsync failed: set once, never cleared. */
  private broken: PasError | undefined;
  /** fdatasyncs done so far (tests, diagnostics). */
  syncs = 0;

  /** `file`: the journal's `-wal` file (it exists once the journal is open in WAL mode). */
  constructor(
    private readonly file: string,
    /** Told once, when an fsync fails (default: a process warning). */
    private readonly onFailure: (err: PasError) => void = (err) => process.emitWarning(err),
  ) {}

  /** The fsync error that put this syncer in its failed state, if one did. */
  get failed(): PasError | undefined {
    return this.broken;
  }

  /** A commit was made without an fsync: make it durable soon (throws once an fsync has failed). */
  request(): void {
    if (this.closed) return;
    if (this.broken) throw this.broken;
    this.requested++;
    this.pump();
  }

  /** Whether a commit is still waiting for its fsync. */
  get pending(): boolean {
    return this.done < this.requested;
  }

  /** Resolves once every commit requested so far is on disk (rejects when its fsync failed). */
  settled(): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (!this.pending || this.closed) return Promise.resolve();
    if (this.failure && !this.running) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiters.push({ upTo: this.requested, resolve, reject });
    });
  }

  /** Makes every commit so far durable before it returns (on the calling thread). */
  syncNow(): void {
    if (this.broken) throw this.broken;
    if (!this.pending || this.closed) return;
    const upTo = this.requested;
    const fd = this.descriptor();
    try {
      fdatasyncSync(fd);
    } catch (err) {
      throw this.breakDown(err);
    }
    this.syncs++;
    this.finish(upTo);
  }

  /** Stops syncing; waiters are told the journal's own close made everything durable. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.finish(this.requested);
    // A sync under way closes the descriptor when it ends.
    if (!this.running) this.release();
  }

  private pump(): void {
    if (this.running || this.closed || this.broken || !this.pending) return;
    let fd: number;
    try {
      fd = this.descriptor();
    } catch (err) {
      this.fail(this.requested, err);
      return;
    }
    this.running = true;
    const upTo = this.requested;
    fdatasync(fd, (err) => {
      this.running = false;
      if (this.closed) {
        this.release();
        return;
      }
      if (err) {
        this.breakDown(err);
        return;
      }
      this.syncs++;
      this.finish(upTo);
      this.pump();
    });
  }

  private descriptor(): number {
    this.fd ??= openSync(this.file, 'r');
    return this.fd;
  }

  private release(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Nothing to keep: the descriptor was only for fsync.
    }
    this.fd = undefined;
  }

  private finish(upTo: number): void {
    this.failure = undefined;
    if (upTo > this.done) this.done = upTo;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.upTo <= this.done) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** An fsync failed: the failed state (reported once, every waiter rejected, nothing retried). */
  private breakDown(err: unknown): PasError {
    if (this.broken) return this.broken;
    const error = new PasError('PAS_ERR_JOURNAL', `journal fsync of ${this.file} failed; commits since the last good fsync may be lost and the journal refuses further use: ${err instanceof Error ? err.message : String(err)}`, {
      details: { file: this.file },
      cause: err,
    });
    this.broken = error;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(error);
    try {
      this.onFailure(error);
    } catch {
      // Reporting must not undo the failed state.
    }
    return error;
  }

  private fail(upTo: number, err: unknown): void {
    // Opening the file failed (no fsync did): the commits stay pending and the next request or syncNow tries again.
    const error = new PasError('PAS_ERR_JOURNAL', `journal fsync of ${this.file} failed: ${err instanceof Error ? err.message : String(err)}`, { details: { file: this.file }, cause: err });
    this.failure = error;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.upTo <= upTo) w.reject(error);
      else still.push(w);
    }
    this.waiters = still;
  }
}
