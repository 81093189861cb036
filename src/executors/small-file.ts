/**
 * Reading and writing a small local file in synchronous calls, on the event loop: one open, stat,
 * read or write and close cost microseconds, less than a single round trip through libuv's thread
 * pool (fs/promises' readFile is four: open, fstat, read, close), which under a burst of tasks
 * also waits behind every other task's file calls. Only a regular file up to `SMALL_FILE_BYTES`
 * goes this way; anything else (larger, a fifo, a device, a folder) goes through fs/promises as
 * before, so nothing that could block (a fifo without a writer) ever blocks the event loop.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';

/** Files up to this size are read or written with synchronous calls. */
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

/**
 * Writes `data` to `file` opened with `flags` (O_WRONLY and the caller's: O_CREAT, O_TRUNC,
 * O_NOFOLLOW…) and `mode`, as one synchronous open, write and close when `data` is small and
 * `file` turns out to be a regular file; otherwise (a fifo, a device, more data) through a
 * fs/promises file handle opened with the same flags, as before.
 */
export async function writeFileQuick(file: string, data: Buffer, flags: number, mode: number): Promise<void> {
  if (data.length <= SMALL_FILE_BYTES) {
    let fd: number | undefined;
    try {
      // O_NONBLOCK: a fifo without a reader fails (ENXIO) instead of blocking the event loop.
      fd = openSync(file, flags | constants.O_NONBLOCK, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    }
    if (fd !== undefined) {
      let regular = false;
      try {
        regular = fstatSync(fd).isFile();
        if (regular) {
          for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset, data.length - offset);
        }
      } finally {
        closeSync(fd);
      }
      if (regular) return;
    }
  }
  const handle = await open(file, flags, mode);
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
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
