/**
 * Reading a small local file, and asking whether a file exists, in synchronous calls on the event
 * loop: an open, fstat, read and close cost microseconds, less than a single round trip through
 * libuv's thread pool (fs/promises' readFile is four: open, fstat, read, close), which under a
 * burst of tasks also waits behind every other task's file calls. Only a regular file up to
 * `SMALL_FILE_BYTES` is read this way; anything else (larger, a fifo, a device, a folder) goes
 * through fs/promises as before, so nothing that could block (a fifo without a writer) ever blocks
 * the event loop. Writes are not here: a call that changes the file system (create, truncate,
 * unlink) can wait on its journal while other tasks sync, and belongs in the thread pool (but for
 * an edit a verify command waits for: fs-guard.ts writeOver).
 */
import { close, closeSync, constants, fstatSync, openSync, read, readFileSync, readSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const readAsync = promisify(read);
const closeAsync = promisify(close);

/** Files up to this size are read with synchronous calls. */
export const SMALL_FILE_BYTES = 64 * 1024;

/**
 * The bytes of `file`, as fs/promises' readFile gives them (same errors: ENOENT, EISDIR…), with
 * synchronous calls when it is a regular file of up to `SMALL_FILE_BYTES`.
 */
export async function readFileQuick(file: string): Promise<Buffer> {
  // O_NONBLOCK: opening a fifo returns at once (on a regular file the flag does nothing).
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  let small = false;
  try {
    const st = fstatSync(fd);
    small = st.isFile() && st.size <= SMALL_FILE_BYTES;
    // Up to the size the fstat gave, or less if it shrank meanwhile; to its end when that was 0:
    // what fs/promises' readFile reads.
    if (small) return st.size === 0 ? readFileSync(fd) : readSize(fd, st.size);
  } finally {
    closeSync(fd);
  }
  return readFile(file);
}

function readSize(fd: number, size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  let total = 0;
  while (total < size) {
    const read = readSync(fd, data, total, size - total, null);
    if (read === 0) break;
    total += read;
  }
  return total === size ? data : data.subarray(0, total);
}

/** `readFileQuick`, or null when the file does not exist. */
export async function readFileQuickIfExists(file: string): Promise<Buffer | null> {
  try {
    return await readFileQuick(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Whether `file` exists (following symlinks, as access(F_OK) does), in one synchronous stat that throws nothing for a missing file; any error is a no. */
export function fileExists(file: string): boolean {
  try {
    return statSync(file, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

/**
 * The bytes of `file` when it is a regular file of at most `maxBytes` (not followed when it is a
 * symlink). Anything else throws, without reading: a symlink (ELOOP), a fifo, device, socket or
 * folder (code ENOTREG), a larger file (EFBIG); a missing one, ENOENT. For the files of a
 * checkout's `.git` a task may have replaced: a fifo there never blocks a thread, a link to
 * `/dev/zero` is never read. Small files in synchronous calls; larger ones from the same open file,
 * through the thread pool.
 */
export async function readRegularFile(file: string, maxBytes: number): Promise<Buffer> {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  let size: number;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw fileError('ENOTREG', `${file} is not a regular file`);
    if (st.size > maxBytes) throw fileError('EFBIG', `${file} is larger than ${maxBytes} bytes`);
    size = st.size;
    if (size <= SMALL_FILE_BYTES) return readSize(fd, size);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  try {
    const data = Buffer.allocUnsafe(size);
    let total = 0;
    while (total < size) {
      const { bytesRead } = await readAsync(fd, data, total, size - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return total === size ? data : data.subarray(0, total);
  } finally {
    await closeAsync(fd);
  }
}

function fileError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}
