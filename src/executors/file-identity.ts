/**
 * What a file is now, as one string: inode, size, change and modification times in nanoseconds
 * ('' when it is missing). A file written again (git writes a new one and renames it over) gets
 * another identity, so a cached answer about its content stays valid while the identity does.
 */
import { lstatSync, statSync } from 'node:fs';

/**
 * Synchronous: one stat of a local file costs less than a round trip through libuv's thread pool,
 * which under a burst of tasks waits behind every other task's file calls (a settings check asks ~9).
 * `link`: a symlink's own identity (lstat), not its target's.
 */
export function fileIdentity(file: string, link = false): string {
  return fileStamp(file, link)?.identity ?? '';
}

/** fileIdentity with the file's modification and change times; null when it is missing. */
export function fileStamp(file: string, link = false): { identity: string; mtimeMs: number; ctimeMs: number } | null {
  try {
    const info = (link ? lstatSync : statSync)(file, { bigint: true, throwIfNoEntry: false });
    if (!info) return null;
    return { identity: `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`, mtimeMs: Number(info.mtimeNs / 1_000_000n), ctimeMs: Number(info.ctimeNs / 1_000_000n) };
  } catch {
    return null;
  }
}
