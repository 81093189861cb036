/**
 * What a file is now, as one string: inode, size, change and modification times in nanoseconds
 * ('' when it is missing). A file written again (git writes a new one and renames it over) gets
 * another identity, so a cached answer about its content stays valid while the identity does.
 */
import { statSync } from 'node:fs';

/**
 * Synchronous: one stat of a local file costs less than a round trip through libuv's thread pool,
 * which under a burst of tasks waits behind every other task's file calls (a settings check asks ~9).
 */
export function fileIdentity(file: string): string {
  try {
    const info = statSync(file, { bigint: true, throwIfNoEntry: false });
    return info ? `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}` : '';
  } catch {
    return '';
  }
}
