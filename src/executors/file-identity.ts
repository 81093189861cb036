/**
 * What a file is now, as one string: inode, size, change and modification times in nanoseconds
 * ('' when it is missing). A file written again (git writes a new one and renames it over) gets
 * another identity, so a cached answer about its content stays valid while the identity does.
 */
import { lstat, stat } from 'node:fs/promises';

/** `link`: a symlink's own identity (lstat), not its target's. */
export async function fileIdentity(file: string, link = false): Promise<string> {
  try {
    const info = await (link ? lstat : stat)(file, { bigint: true });
    return `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
  } catch {
    return '';
  }
}
