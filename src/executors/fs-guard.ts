/**
 * What a programmer may read and write: only files inside its own worktree that match
 * fs_allowlist.yaml (deny wins over read/write; `.git` is always denied). Paths are relative,
 * plain and normalized: `..`, absolute paths, NUL and control characters, bidi controls,
 * look-alike dots and slashes, and anything NFC normalization would change are refused, and so
 * are symlinks that lead outside. A refused write writes nothing.
 *
 * Paths are checked with synchronous lstats (microseconds each, less than a round trip through
 * libuv's thread pool) and small files read the same way (small-file.ts); a write, which creates
 * or truncates, goes through the thread pool (it can wait on the file system's journal), unless
 * its caller waits for nothing else (a verify command waits for the edits: writeFile's `now`,
 * which writes a regular file over in place, see writeOver).
 */
import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync, realpathSync, writeSync, type Stats } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FsAllowlist } from '../config/schemas.ts';
import { PasError } from '../errors.ts';
import { readFileQuick, readFileQuickIfExists } from './small-file.ts';

type Matcher = (input: string) => boolean;
type Picomatch = (glob: string | string[], options?: { dot?: boolean; nocase?: boolean }) => Matcher;
const picomatch = createRequire(import.meta.url)('picomatch') as Picomatch;

/** The largest file FsGuard.writeFile writes with synchronous calls when asked to write now. */
export const WRITE_NOW_MAX_BYTES = 256 * 1024;

export type FsAccess = 'read' | 'write';

/**
 * Writes `bytes` to the regular file `file` (made when missing) with synchronous calls: written
 * over from its start, then cut to length; false, with nothing written, when something else is
 * there (a fifo, a device: left to the thread pool). Never truncated to nothing first: ext4 writes
 * a file truncated to nothing back to disk when it is closed (auto_da_alloc), and freeing its
 * blocks waits on the journal. Measured at P = 49 on the large repository, per 5 KB edit: ~0.85 ms
 * of this thread truncated, ~0.5 ms unlinked and created anew, ~0.14 ms written over.
 */
function writeOver(file: string, bytes: Buffer): boolean {
  // Something else there is not opened here at all: a fifo's reader would see an empty write.
  const there = lstatSync(file, { throwIfNoEntry: false });
  if (there && !there.isFile()) return false;
  let fd: number;
  try {
    // O_NONBLOCK: a fifo swapped in meanwhile answers ENXIO at once instead of holding the thread
    // (a file under a write lease answers EAGAIN: the thread pool waits for its break).
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENXIO' || code === 'EAGAIN' || code === 'EWOULDBLOCK') return false;
    throw err;
  }
  try {
    if (!fstatSync(fd).isFile()) return false;
    let at = 0;
    try {
      while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at, at);
    } catch (err) {
      // A full disk midway: what was written, never the old file's tail after it.
      try {
        ftruncateSync(fd, at);
      } catch {
        // The write's error says more.
      }
      throw err;
    }
    ftruncateSync(fd, bytes.length);
    return true;
  } finally {
    closeSync(fd);
  }
}

/** Invisible or direction-changing characters (bidi embeddings, overrides, isolates, marks, zero-width). */
const BIDI_AND_INVISIBLE = /[\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/u;
/** C0, DEL and C1 controls. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point: they are refused in paths
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/u;
/** Characters that look like `.`, `/` or `\` (fullwidth, small, leaders, division and fraction slashes). */
const LOOKALIKE = /[\uFF0E\uFF0F\uFF3C\uFE52\uFE68\u2024\u2025\u2026\u2215\u2044\u29F8\u29F9\u2571\u2572\u3002\uFF61]/u;

/** Paths already found well-formed, and their normal form (the check is pure; a task checks each path several times). */
const wellFormed = new Map<string, string>();
const WELL_FORMED_MAX = 4_096;

/** Checks a relative path's form and returns it normalized (POSIX separators, no `./`). */
export function normalizeRelativePath(input: string): string {
  const known = typeof input === 'string' ? wellFormed.get(input) : undefined;
  if (known !== undefined) return known;
  if (typeof input !== 'string' || input.length === 0) refusePath(input, 'empty path');
  if (input.includes('\0')) refusePath(input, 'NUL byte');
  if (CONTROL.test(input)) refusePath(input, 'control character');
  if (BIDI_AND_INVISIBLE.test(input)) refusePath(input, 'bidi or invisible unicode character');
  if (LOOKALIKE.test(input)) refusePath(input, 'look-alike dot or slash');
  if (input.normalize('NFC') !== input) refusePath(input, 'not in unicode normal form C');
  if (input.includes('\\')) refusePath(input, 'backslash');
  if (path.posix.isAbsolute(input) || /^[A-Za-z]:/.test(input) || input.startsWith('~')) refusePath(input, 'absolute path');
  const segments = input.split('/');
  if (segments.includes('..')) refusePath(input, '".." segment');
  const normalized = segments.filter((s) => s !== '' && s !== '.').join('/');
  if (normalized === '') refusePath(input, 'names the worktree itself');
  if (wellFormed.size >= WELL_FORMED_MAX) wellFormed.clear();
  wellFormed.set(input, normalized);
  return normalized;
}

function refusePath(input: string, why: string): never {
  throw new PasError('PAS_ERR_FS_PATH_ESCAPE', `refused path ${JSON.stringify(input)}: ${why}`, { details: { path: input, reason: why } });
}

interface Matchers {
  read: Matcher;
  write: Matcher;
  deny: Matcher;
  /** What each path already asked about may be (READ | WRITE bits; 0 = denied): globs cost microseconds a path, and a task asks about each path several times. */
  verdicts: Map<string, number>;
}

const READ = 1;
const WRITE = 2;
const VERDICTS_MAX = 8_192;

/** Compiled allowlists by content: compiling the globs costs ~1 ms, and every task builds guards. */
const compiled = new Map<string, Matchers>();
const COMPILED_MAX = 64;

/** The same allowlist object again (the usual case: the loaded configuration's, never changed in place) skips even the key. */
const byObject = new WeakMap<FsAllowlist, Matchers>();

const matchNothing: Matcher = () => false;

function matchersOf(allowlist: FsAllowlist): Matchers {
  const known = byObject.get(allowlist);
  if (known) return known;
  const key = JSON.stringify([allowlist.read, allowlist.write, allowlist.deny]);
  let matchers = compiled.get(key);
  if (!matchers) {
    const opts = { dot: true };
    matchers = {
      read: allowlist.read.length ? picomatch(allowlist.read, opts) : matchNothing,
      write: allowlist.write.length ? picomatch(allowlist.write, opts) : matchNothing,
      // `.git` (a folder in a clone, a file in a worktree) is never reachable, whatever the config says.
      deny: picomatch([...allowlist.deny, '.git', '.git/**', '**/.git', '**/.git/**'], { dot: true, nocase: true }),
      verdicts: new Map(),
    };
    if (compiled.size >= COMPILED_MAX) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, matchers);
  }
  byObject.set(allowlist, matchers);
  return matchers;
}

function verdictOf(matchers: Matchers, rel: string): number {
  let verdict = matchers.verdicts.get(rel);
  if (verdict !== undefined) return verdict;
  const write = matchers.write(rel);
  verdict = matchers.deny(rel) ? 0 : (write ? WRITE | READ : 0) | (matchers.read(rel) ? READ : 0);
  if (matchers.verdicts.size >= VERDICTS_MAX) matchers.verdicts.clear();
  matchers.verdicts.set(rel, verdict);
  return verdict;
}

export class FsGuard {
  private readonly matchers: Matchers;
  private realRoot: string | undefined;

  /** `root` is the worktree; every path is relative to it. */
  constructor(
    readonly root: string,
    allowlist: FsAllowlist,
  ) {
    this.matchers = matchersOf(allowlist);
  }

  /** Whether the allowlist permits `rel` (already normalized) for `access`; no filesystem check. */
  allows(rel: string, access: FsAccess): boolean {
    return (verdictOf(this.matchers, rel) & (access === 'write' ? WRITE : READ)) !== 0;
  }

  /**
   * Checks `rel` for `access` and returns the absolute real path to use. The deepest existing
   * ancestor (or the file itself) is resolved through symlinks and must stay inside the
   * worktree; the allowlist is checked on both the given and the resolved path.
   */
  async resolve(rel: string, access: FsAccess): Promise<string> {
    return this.resolved(rel, access).real;
  }

  /**
   * `resolve`'s work, in synchronous calls: an lstat per segment (and a realpath only where a
   * segment is a symlink) costs microseconds, less than a round trip through libuv's thread pool.
   * `parentExists`: the folder `real` goes in is there already.
   */
  private resolved(rel: string, access: FsAccess): { real: string; parentExists: boolean } {
    const normalized = normalizeRelativePath(rel);
    this.assertAllowed(rel, normalized, access);
    const root = this.rootReal();
    const segments = normalized.split('/');
    const { existing, depth } = this.walk(rel, root, segments);
    const real = depth === segments.length ? existing : path.join(existing, ...segments.slice(depth));
    const realRel = path.relative(root, real).split(path.sep).join('/');
    if (realRel !== normalized) this.assertAllowed(rel, realRel, access);
    return { real, parentExists: depth >= segments.length - 1 };
  }

  /**
   * The real path of the deepest existing one of `segments` under the real `root`, and how many
   * exist: an lstat per segment, a realpath only where one is a symlink, which must lead inside.
   */
  private walk(rel: string, root: string, segments: readonly string[]): { existing: string; depth: number } {
    let existing = root;
    let depth = 0;
    for (; depth < segments.length; depth++) {
      const candidate = path.join(existing, segments[depth]!);
      let info: Stats | undefined;
      try {
        info = lstatSync(candidate, { throwIfNoEntry: false });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') {
          throw new PasError('PAS_ERR_FS_NOT_ALLOWED', `refused path ${JSON.stringify(rel)}: a parent is not a folder`, { details: { path: rel } });
        }
        throw err;
      }
      if (!info) break;
      // `existing` is a real path: a segment that is not a symlink is its own real path there.
      existing = info.isSymbolicLink() ? realpathSync.native(candidate) : candidate;
      if (!isInside(root, existing)) {
        throw new PasError('PAS_ERR_FS_PATH_ESCAPE', `refused path ${JSON.stringify(rel)}: a symlink leads outside the worktree`, {
          details: { path: rel, reason: 'symlink' },
        });
      }
    }
    return { existing, depth };
  }

  async readFile(rel: string): Promise<string> {
    const real = this.resolved(rel, 'read').real;
    return (await readFileQuick(real)).toString('utf8');
  }

  /** The file's text, or null when it does not exist yet. */
  async readFileIfExists(rel: string): Promise<string | null> {
    const real = this.resolved(rel, 'read').real;
    return (await readFileQuickIfExists(real))?.toString('utf8') ?? null;
  }

  /**
   * Writes `content` (creating parent folders); the final component is never followed as a symlink.
   * `now`: a small file is written with synchronous calls, for a writer on its task's critical path
   * (a verify command waits for it): three thread-pool round trips each wait for a turn of a loop
   * that a burst of answers keeps busy, which took ~10 ms a file at P = 10, against a few tenths of
   * a millisecond of this thread.
   */
  async writeFile(rel: string, content: string | Buffer, now = false): Promise<void> {
    const { real, parentExists } = this.resolved(rel, 'write');
    if (!parentExists) await mkdir(path.dirname(real), { recursive: true });
    // Re-check after mkdir: a folder swapped for a symlink in between must not be followed (a
    // walk of the parent's segments, as resolve does: each one must exist now and stay inside).
    const root = this.rootReal();
    const dir = path.dirname(real);
    const segments = dir === root ? [] : path.relative(root, dir).split(path.sep);
    const { existing: parent, depth } = this.walk(rel, root, segments);
    if (depth < segments.length) {
      // A folder gone meanwhile: the error realpath gives (or, back already, a refusal).
      realpathSync.native(dir);
      throw new PasError('PAS_ERR_FS_NOT_ALLOWED', `refused path ${JSON.stringify(rel)}: its folder changed while it was written`, { details: { path: rel } });
    }
    const target = path.join(parent, path.basename(real));
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    if (now && bytes.length <= WRITE_NOW_MAX_BYTES && writeOver(target, bytes)) return;
    // Through the thread pool: a create or truncate can wait on the file system's journal while other tasks sync.
    const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
    try {
      await handle.writeFile(bytes);
    } finally {
      await handle.close();
    }
  }

  private assertAllowed(given: string, rel: string, access: FsAccess): void {
    if (!this.allows(rel, access)) throw notAllowed(given, rel, access);
  }

  private rootReal(): string {
    this.realRoot ??= realpathSync.native(this.root);
    return this.realRoot;
  }
}

/** The refusal of `access` to `given` (which is `resolved` once normalized or followed) by fs_allowlist. */
export function notAllowed(given: string, resolved: string, access: FsAccess): PasError {
  return new PasError('PAS_ERR_FS_NOT_ALLOWED', `${access} of ${JSON.stringify(given)} is not allowed by fs_allowlist`, {
    details: { path: given, resolved, access },
  });
}

/** Whether `candidate` (a normalized absolute path) is `root` or under it, lexically. */
export function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root + path.sep);
}
