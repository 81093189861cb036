/**
 * A reused checkout's own git files stay as PAS wrote them: a task may set `core.fsmonitor`,
 * `core.hooksPath`, an alias or a filter in `.git/config`, add ignore rules to
 * `.git/info/exclude`, write a `.git/info/attributes` (filters, end-of-line conversion for every
 * path) or a `.git/commondir` (another folder whose config git would read), and the next task's
 * git, and PAS's own git in that checkout, would run or follow them. The config and excludes are
 * kept when the checkout is made (`.git/pas-kept-*`, beside them; one that was missing is kept
 * empty, which git reads alike), the others are never PAS's: they are written back, and the
 * others removed, before PAS runs git there, during the task's staging too (`git add --all`, `git
 * ls-files --others` would run the task's fsmonitor and follow its excludes), and before the next
 * task gets the checkout (a `reset --hard` leaves them as they are). Hooks need nothing: the kept
 * config points `core.hooksPath` at `/dev/null`.
 *
 * Written back rather than overridden on git's command line: `-c` can only name keys known in
 * advance (a task can name any filter driver, `include.path`, `core.excludesFile`...), and nothing
 * on the command line turns `info/exclude` off.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileIdentity } from './file-identity.ts';

/** The files of `.git` kept as made (relative to `.git`) and where each one's kept copy is. */
const KEPT: ReadonlyArray<{ file: string; copy: string }> = [
  { file: 'config', copy: 'pas-kept-config' },
  { file: path.join('info', 'exclude'), copy: 'pas-kept-exclude' },
];

/** The files of `.git` PAS never makes whose presence changes what git does there: removed. */
const NEVER: readonly string[] = [path.join('info', 'attributes'), 'commondir'];

/** By checkout: the identities of its files (kept and never PAS's) when last found as PAS made them. */
const verified = new Map<string, string>();

/**
 * By checkout: the kept copies as this process first read or wrote them (by KEPT's order). A task
 * may write the copies on disk too: only a checkout left by another process is read from them.
 */
const keptCopies = new Map<string, Array<Buffer | null>>();

async function keptOf(dir: string): Promise<Array<Buffer | null>> {
  let copies = keptCopies.get(dir);
  if (!copies) {
    copies = await Promise.all(KEPT.map(({ copy }) => contentOf(path.join(dir, '.git', copy))));
    if (copies.every(Boolean)) keptCopies.set(dir, copies);
  }
  return copies;
}

function identities(dir: string): string {
  return [...KEPT.map((k) => k.file), ...NEVER].map((file) => fileIdentity(path.join(dir, '.git', file))).join('|');
}

async function contentOf(file: string): Promise<Buffer | null> {
  return readFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
}

/** Keeps the checkout's git files as they are now (just made by PAS). */
export async function keepGitFiles(dir: string): Promise<void> {
  const copies: Buffer[] = [];
  for (const { file, copy } of KEPT) {
    const content = (await contentOf(path.join(dir, '.git', file))) ?? Buffer.alloc(0);
    await writeFile(path.join(dir, '.git', copy), content);
    copies.push(content);
  }
  keptCopies.set(dir, copies);
  verified.delete(dir);
}

/**
 * Writes the checkout's git files back as they were kept (atomically: git reading one meanwhile
 * sees the old or the kept one) and removes those PAS never makes. A checkout made before they
 * were kept has its files kept now, unless `keepUnkept` is false (after a task: what is there now
 * is the task's; a folder with no kept files is then left as it is). Files found as PAS left them
 * (by their identities) are not read again.
 */
export async function restoreGitFiles(dir: string, keepUnkept = true): Promise<void> {
  // Taken before the reads: a file changed meanwhile gets another identity and is read next time.
  const before = identities(dir);
  if (verified.get(dir) === before) return;
  let wrote = false;
  const copies = await keptOf(dir);
  for (const [i, { file, copy }] of KEPT.entries()) {
    const target = path.join(dir, '.git', file);
    const kept = copies[i];
    if (!kept) {
      // Not a checkout PAS kept the files of (after a task): nothing to write back, nothing to remove.
      if (!keepUnkept) return;
      await writeFile(path.join(dir, '.git', copy), (await contentOf(target)) ?? Buffer.alloc(0));
      wrote = true;
      continue;
    }
    const current = await contentOf(target);
    if (current?.equals(kept)) continue;
    const temp = `${target}.pas-${process.pid}`;
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(temp, kept);
    await rename(temp, target);
    wrote = true;
  }
  for (const file of NEVER) {
    if (fileIdentity(path.join(dir, '.git', file), true) === '') continue;
    await rm(path.join(dir, '.git', file), { recursive: true, force: true });
    wrote = true;
  }
  if (wrote) verified.delete(dir);
  else verified.set(dir, before);
}
