/**
 * The files a task's editor sees. Two kinds behind one interface: `BaseCommitFiles` reads the
 * task's base commit through the object store and keeps the edits in memory (no checkout; they
 * are committed as objects), `CheckoutFiles` reads and writes a checkout through the fs guard.
 * Both apply fs_allowlist the same way; the commit-backed one refuses symlinks and submodules on
 * a path outright.
 */
import { rm } from 'node:fs/promises';
import type { FsAllowlist } from '../config/schemas.ts';
import { FsGuard, normalizeRelativePath, notAllowed, WRITE_NOW_MAX_BYTES, type FsAccess } from './fs-guard.ts';
import { entryAt, readBlob, type PathEntry } from './object-commit.ts';
import type { RepoObjectStore } from './object-store.ts';

export interface TaskFiles {
  /** Checks `rel` against the allowlist (and what is on its path) for `access`; returns it normalized. */
  check(rel: string, access: FsAccess): Promise<string>;
  /** The file's text, or null when it does not exist. */
  read(rel: string): Promise<string | null>;
  write(rel: string, content: string): Promise<void>;
}

export class BaseCommitFiles implements TaskFiles {
  private readonly guard: FsGuard;
  private readonly edits = new Map<string, Buffer | null>();

  constructor(
    private readonly store: RepoObjectStore,
    /** The base commit's root tree. */
    private readonly tree: string,
    allowlist: FsAllowlist,
  ) {
    // Only the guard's allowlist matching is used: nothing here touches the filesystem.
    this.guard = new FsGuard('/nonexistent-checkout', allowlist);
  }

  async check(rel: string, access: FsAccess): Promise<string> {
    return (await this.checked(rel, access)).normalized;
  }

  async read(rel: string): Promise<string | null> {
    const { normalized, entry } = await this.checked(rel, 'read');
    if (this.edits.has(normalized)) return this.edits.get(normalized)?.toString('utf8') ?? null;
    return entry ? (await readBlob(this.store, entry.oid, normalized)).toString('utf8') : null;
  }

  /** `rel` normalized and allowed, and what the base tree holds there (a symlink, a submodule or a file where a folder should be throws). */
  private async checked(rel: string, access: FsAccess): Promise<{ normalized: string; entry: PathEntry | null }> {
    const normalized = normalizeRelativePath(rel);
    if (!this.guard.allows(normalized, access)) throw notAllowed(rel, normalized, access);
    return { normalized, entry: await entryAt(this.store, this.tree, normalized) };
  }

  async write(rel: string, content: string): Promise<void> {
    const normalized = await this.check(rel, 'write');
    this.edits.set(normalized, Buffer.from(content, 'utf8'));
  }

  /** What was written: path → bytes (null = deleted). */
  written(): ReadonlyMap<string, Buffer | null> {
    return this.edits;
  }
}

export class CheckoutFiles implements TaskFiles {
  private readonly guard: FsGuard;

  constructor(
    readonly root: string,
    allowlist: FsAllowlist,
  ) {
    this.guard = new FsGuard(root, allowlist);
  }

  async check(rel: string, access: FsAccess): Promise<string> {
    await this.guard.resolve(rel, access);
    return normalizeRelativePath(rel);
  }

  read(rel: string): Promise<string | null> {
    return this.guard.readFileIfExists(rel);
  }

  write(rel: string, content: string): Promise<void> {
    return this.guard.writeFile(rel, content);
  }
}

/** Puts in-memory edits into a checkout (through its guard) so a command can run on them. */
export async function writeEditsTo(root: string, allowlist: FsAllowlist, edits: ReadonlyMap<string, Buffer | null>): Promise<void> {
  const guard = new FsGuard(root, allowlist);
  // The verify command waits for these writes: small ones are written now (fs-guard.ts), up to
  // WRITE_NOW_MAX_BYTES in all, so a large edit never holds the event loop for long.
  let nowLeft = WRITE_NOW_MAX_BYTES;
  for (const [rel, content] of edits) {
    if (content === null) {
      await rm(await guard.resolve(rel, 'write'), { force: true });
      continue;
    }
    const now = content.length <= nowLeft;
    if (now) nowLeft -= content.length;
    // The guard makes the parent folders, once the path is allowed and leads nowhere outside.
    await guard.writeFile(rel, content, now);
  }
}

/** `files` further limited to what `allowlist` permits (an executor's own allowlist over the task's). */
export function restrictTo(files: TaskFiles, allowlist: FsAllowlist): TaskFiles {
  return new RestrictedFiles(files, allowlist);
}

class RestrictedFiles implements TaskFiles {
  private readonly guard: FsGuard;

  constructor(
    private readonly files: TaskFiles,
    allowlist: FsAllowlist,
  ) {
    this.guard = new FsGuard('/nonexistent-checkout', allowlist);
  }

  async check(rel: string, access: FsAccess): Promise<string> {
    return this.files.check(this.allowed(rel, access), access);
  }

  // The files behind check the path again (their own allowlist, what is on the path) as they read or write.
  async read(rel: string): Promise<string | null> {
    return this.files.read(this.allowed(rel, 'read'));
  }

  async write(rel: string, content: string): Promise<void> {
    return this.files.write(this.allowed(rel, 'write'), content);
  }

  private allowed(rel: string, access: FsAccess): string {
    const normalized = normalizeRelativePath(rel);
    if (!this.guard.allows(normalized, access)) throw notAllowed(rel, normalized, access);
    return normalized;
  }
}
