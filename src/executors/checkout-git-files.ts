/**
 * A reused checkout's own git files stay as PAS wrote them: a task may set `core.fsmonitor`,
 * `core.hooksPath`, an alias or a filter in `.git/config`, add ignore rules to
 * `.git/info/exclude`, write a `.git/info/attributes` (filters, end-of-line conversion for every
 * path) or a `.git/commondir` (another folder whose config git would read), and the next task's
 * git, and PAS's own git in that checkout, would run or follow them. The config and excludes are
 * what `initCheckoutGit` makes: this process keeps them in memory when it makes a checkout, and
 * for one an earlier process made (after a restart) it makes them once in a scratch repository
 * beside the checkouts (same git, same file system), never trusting a copy in the checkout, which
 * a task can write. They are written back, and the files PAS never makes removed, before PAS runs
 * git there, during the task's staging too (`git add --all`, `git ls-files --others` would run the
 * task's fsmonitor and follow its excludes), and before the next task gets the checkout (a `reset
 * --hard` leaves them as they are). Hooks need nothing: the config points `core.hooksPath` at
 * `/dev/null`. A fifo, device, symlink or huge file in their place is replaced without being read;
 * a symlinked `.git/info` is replaced by a folder (PAS never writes through it).
 *
 * Written back rather than overridden on git's command line: `-c` can only name keys known in
 * advance (a task can name any filter driver, `include.path`, `core.excludesFile`...), and nothing
 * on the command line turns `info/exclude` off.
 */
import { existsSync, lstatSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileIdentity } from './file-identity.ts';
import { git } from './git-command.ts';
import { readRegularFile } from './small-file.ts';

/** The file in `.git` that says PAS made the checkout (checkouts.ts writes it last). */
export const CHECKOUT_MARKER = 'pas-checkout';

/** What PAS sets in a checkout's config: its objects are the repository's (no gc, no prune), and no hook runs. */
const CHECKOUT_CONFIG: ReadonlyArray<readonly [string, string]> = [
  ['gc.auto', '0'],
  ['gc.pruneExpire', 'never'],
  ['maintenance.auto', 'false'],
  ['core.hooksPath', '/dev/null'],
];

/** The files of `.git` kept as made (relative to `.git`). */
const KEPT: readonly string[] = ['config', path.join('info', 'exclude')];

/** The files of `.git` PAS never makes whose presence changes what git does there: removed. */
const NEVER: readonly string[] = [path.join('info', 'attributes'), 'commondir'];

/** A kept file is small; anything larger in its place is a task's and is replaced unread. */
const KEPT_MAX_BYTES = 1024 * 1024;

/** By checkout: the identities of its files (kept and never PAS's) when last found as PAS made them. */
const verified = new Map<string, string>();

/** By checkout this process made: its kept files as made (KEPT's order). */
const keptCopies = new Map<string, Buffer[]>();

/** By folder of checkouts: the kept files as `initCheckoutGit` makes them there, made once per process. */
const made = new Map<string, Promise<Buffer[]>>();

/** Makes `dir` a git repository as PAS makes its checkouts: `git init` and PAS's config. */
export async function initCheckoutGit(dir: string): Promise<void> {
  await git(dir, ['init', '--quiet']);
  for (const [key, value] of CHECKOUT_CONFIG) await git(dir, ['config', key, value]);
}

/** The kept files as PAS makes them in `parent` (a scratch repository there, removed after). */
function madeIn(parent: string): Promise<Buffer[]> {
  let files = made.get(parent);
  if (!files) {
    files = (async () => {
      await mkdir(parent, { recursive: true });
      const scratch = await mkdtemp(path.join(parent, '.pas-git-files-'));
      try {
        await initCheckoutGit(scratch);
        return await Promise.all(KEPT.map((file) => asMade(path.join(scratch, '.git', file))));
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    })();
    made.set(parent, files);
    files.catch(() => made.delete(parent));
  }
  return files;
}

/** The kept files of a checkout PAS made (this process, or an earlier one: made again, never read from the checkout), else null. */
async function keptOf(dir: string): Promise<Buffer[] | null> {
  const copies = keptCopies.get(dir);
  if (copies) return copies;
  if (!existsSync(path.join(dir, '.git', CHECKOUT_MARKER))) return null;
  return madeIn(path.dirname(dir));
}

function identities(dir: string): string {
  return [...KEPT, ...NEVER].map((file) => fileIdentity(path.join(dir, '.git', file), true)).join('|');
}

/** Stands for a file that is there but not a small regular file (a fifo, device, symlink, folder, huge file): replaced unread. */
const NOT_PLAIN = Buffer.from('\0not a plain file\0');

/** The file's bytes; null when missing; NOT_PLAIN when it is not a small regular file. */
async function contentOf(file: string): Promise<Buffer | null> {
  try {
    return await readRegularFile(file, KEPT_MAX_BYTES);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : NOT_PLAIN;
  }
}

/** A git file PAS just made, as it is kept: its bytes, empty when missing (git reads a missing one alike). */
async function asMade(file: string): Promise<Buffer> {
  const content = await contentOf(file);
  return content && content !== NOT_PLAIN ? content : Buffer.alloc(0);
}

/** Keeps the checkout's git files as they are now (just made by PAS, with `initCheckoutGit`). */
export async function keepGitFiles(dir: string): Promise<void> {
  const copies: Buffer[] = [];
  for (const file of KEPT) copies.push(await asMade(path.join(dir, '.git', file)));
  keptCopies.set(dir, copies);
  verified.delete(dir);
}

/** Whether `file` is there as a real folder (not a symlink to one). */
function isFolder(file: string): boolean {
  return lstatSync(file, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/**
 * Writes the checkout's git files back as PAS made them (atomically: git reading one meanwhile
 * sees the old or the kept one) and removes those PAS never makes. A folder PAS did not make as a
 * checkout (no marker: a linked worktree, a user's checkout) is left as it is. Files found as PAS
 * left them (by their identities) are not read again.
 */
export async function restoreGitFiles(dir: string): Promise<void> {
  const gitDir = path.join(dir, '.git');
  // A linked worktree's `.git` is a file: its config is its repository's, not PAS's to write.
  if (!isFolder(gitDir)) return;
  // Taken before the reads: a file changed meanwhile gets another identity and is read next time.
  const before = identities(dir);
  if (verified.get(dir) === before) return;
  const copies = await keptOf(dir);
  if (!copies) return;
  let wrote = false;
  // PAS never writes through a symlinked `.git/info`: it is replaced by a folder.
  const info = path.join(gitDir, 'info');
  if (lstatSync(info, { throwIfNoEntry: false }) && !isFolder(info)) {
    await rm(info, { force: true });
    wrote = true;
  }
  for (const [i, file] of KEPT.entries()) {
    const target = path.join(gitDir, file);
    const kept = copies[i]!;
    const current = await contentOf(target);
    if (current?.equals(kept)) continue;
    if (current === NOT_PLAIN) await rm(target, { recursive: true, force: true });
    const temp = `${target}.pas-${process.pid}`;
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(temp, kept);
    await rename(temp, target);
    wrote = true;
  }
  for (const file of NEVER) {
    if (fileIdentity(path.join(gitDir, file), true) === '') continue;
    await rm(path.join(gitDir, file), { recursive: true, force: true });
    wrote = true;
  }
  if (wrote) verified.delete(dir);
  else verified.set(dir, before);
}
