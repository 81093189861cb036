/**
 * `artifacts/receipts/{run_id}.jsonl` (CONTRACT §7): one JSON line per programmer task,
 * appended durably and in call order, group-committed: the lines that arrive while a batch is
 * being written go together in the next one, and each append resolves only once its own line is
 * on disk.
 *
 * A batch is one `write` on a descriptor opened O_APPEND | O_DSYNC (the write returns once the
 * data and the file's new size are on disk, as a write then fdatasync would): one trip through
 * libuv's thread pool, where open, write, fsync and close took four, each waiting for a turn of
 * an event loop that is busy when many tasks end together. The descriptor stays open while
 * batches keep coming and is closed after a second without one; a file at the path that is gone
 * or another file than the one open (removed, rotated) is opened anew before the next batch, in
 * a folder made (again) if there is none. A file opened afresh that does not end with a line
 * break (a batch torn by a full disk, a crash mid-write) gets one first: the torn line stays
 * alone, and every whole receipt after it stays a line of its own.
 */
import { close, constants, fdatasync, fstatSync, open, readSync, statSync, write } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PasError } from '../errors.ts';
import { redactedJson } from '../redaction.ts';
import type { Receipt } from './types.ts';

/** Where the platform has O_DSYNC (Linux, macOS), a write returns once it is durable; elsewhere each batch is fdatasynced. */
const DSYNC: number | undefined = constants.O_DSYNC;
/** Flags of the receipts file: appends, durable when the write returns (with DSYNC); readable for its last byte. */
const APPEND_DURABLY = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | (DSYNC ?? 0);
/** How long the file stays open after its last batch (a burst of ending tasks opens it once). */
const IDLE_CLOSE_MS = 1_000;

export interface ReceiptWriterOptions {
  /** How long the file stays open after its last batch (default 1 s). */
  idleCloseMs?: number;
}

export class ReceiptWriter {
  readonly file: string;
  /** The open receipts file, while batches keep coming. */
  private fd: number | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleCloseMs: number;
  private tail: Promise<void> = Promise.resolve();
  /** Lines waiting for the next batch, and the callers waiting on them. */
  private batch: { lines: string[]; done: Promise<void> } | undefined;
  /** Durable writes done so far (one per batch). */
  durableWrites = 0;

  constructor(
    readonly dir: string,
    readonly runId: string,
    options: ReceiptWriterOptions = {},
  ) {
    this.idleCloseMs = options.idleCloseMs ?? IDLE_CLOSE_MS;
    if (!/^[A-Za-z0-9._-]+$/.test(runId) || runId.startsWith('.')) {
      throw new PasError('PAS_ERR_BAD_REQUEST', `run id "${runId}" is not a safe file name`, { details: { runId } });
    }
    this.file = path.join(dir, `${runId}.jsonl`);
  }

  /** Appends one receipt (secret values scrubbed); resolves once it is on disk. Appends run in call order. */
  append(receipt: Receipt): Promise<void> {
    return this.appendLine(redactedJson(receipt));
  }

  /** Appends a receipt already serialized by `redactedJson` (no line break); as `append`. */
  appendLine(json: string): Promise<void> {
    const line = `${json}\n`;
    if (this.batch) {
      this.batch.lines.push(line);
      return this.batch.done;
    }
    const lines = [line];
    // The batch starts writing once the one before it is on disk; until then it takes more lines.
    const done = this.tail.then(() => {
      if (this.batch?.lines === lines) this.batch = undefined;
      return this.writeBatch(lines.join(''));
    });
    this.batch = { lines, done };
    // Keep the chain alive after a failed batch; the failure still reaches its callers.
    this.tail = done.catch(() => undefined);
    return done;
  }

  private async writeBatch(text: string): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    try {
      const { fd, fresh } = await this.descriptor();
      const bytes = Buffer.from(fresh && endsMidLine(fd) ? `\n${text}` : text);
      // A regular file takes the whole write at once; a short one (a full disk on its way) goes on.
      for (let at = 0; at < bytes.length; ) {
        const wrote = await writeAt(fd, bytes, at);
        if (wrote === 0) throw new Error('the file took none of the bytes written');
        at += wrote;
      }
      if (DSYNC === undefined) await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
      this.durableWrites++;
      this.idleTimer = setTimeout(() => this.release(), this.idleCloseMs).unref();
    } catch (err) {
      // The next batch starts from a fresh descriptor.
      this.release();
      throw new PasError('PAS_ERR_JOURNAL', `could not append a receipt to ${this.file}: ${err instanceof Error ? err.message : String(err)}`, {
        details: { file: this.file },
        cause: err,
      });
    }
  }

  /** The descriptor of the file now at the path: the one open, or a fresh one (none open, or that one gone or replaced). */
  private async descriptor(): Promise<{ fd: number; fresh: boolean }> {
    if (this.fd !== undefined) {
      const named = statSync(this.file, { throwIfNoEntry: false });
      const opened = fstatSync(this.fd);
      if (named && named.ino === opened.ino && named.dev === opened.dev) return { fd: this.fd, fresh: false };
      this.release();
    }
    const openFile = () => new Promise<number>((resolve, reject) => open(this.file, APPEND_DURABLY, 0o666, (err, fd) => (err ? reject(err) : resolve(fd))));
    try {
      this.fd = await openFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // No folder yet (the first batch), or removed since: made, and the file with it.
      await mkdir(this.dir, { recursive: true });
      this.fd = await openFile();
    }
    return { fd: this.fd, fresh: true };
  }

  /** Closes the file (idle, failed, or no longer the one at the path); the next batch opens it again. */
  private release(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.fd === undefined) return;
    close(this.fd, () => undefined);
    this.fd = undefined;
  }

  /** Every receipt written so far (after pending appends finish). */
  async read(): Promise<Receipt[]> {
    await this.tail;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return text
      .split('\n')
      .filter((line) => line.trim().length > 0)
      .map((line) => JSON.parse(line) as Receipt);
  }
}

/** Whether the file open as `fd` ends inside a line (its last byte is not a line break). */
function endsMidLine(fd: number): boolean {
  const { size } = fstatSync(fd);
  if (size === 0) return false;
  const last = Buffer.alloc(1);
  return readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
}

/** Writes `bytes` from `at` at the end of the file `fd` (O_APPEND); resolves with how many went. */
function writeAt(fd: number, bytes: Buffer, at: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, bytes, at, bytes.length - at, null, (err, written) => (err ? reject(err) : resolve(written))));
}
