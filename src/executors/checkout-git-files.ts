/**
 * A reused checkout's own git files stay as PAS wrote them: a task may set `core.fsmonitor`,
 * `core.hooksPath`, an alias or a filter in `.git/config`, or add ignore rules to
 * `.git/info/exclude`, and the next task's git, and PAS's own git in that checkout, would run or
 * follow them. Their content is kept when the checkout is made (`.git/pas-kept-*`, beside them) and
 * written back before PAS runs git there or hands the checkout to the next task (a `reset --hard`
 * leaves them as they are). Hooks need nothing: the kept config points `core.hooksPath` at
 * `/dev/null`.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readFileQuickIfExists } from './small-file.ts';

/** The files of `.git` kept as made (relative to `.git`) and where each one's kept copy is. */
const KEPT: ReadonlyArray<{ file: string; copy: string }> = [
  { file: 'config', copy: 'pas-kept-config' },
  { file: path.join('info', 'exclude'), copy: 'pas-kept-exclude' },
];

/** Read in synchronous calls when small (small-file.ts): every restore reads all four files. */
function contentOf(file: string): Promise<Buffer | null> {
  return readFileQuickIfExists(file);
}

/** Keeps the checkout's git files as they are now (just made by PAS). */
export async function keepGitFiles(dir: string): Promise<void> {
  for (const { file, copy } of KEPT) {
    const content = await contentOf(path.join(dir, '.git', file));
    if (content) await writeFile(path.join(dir, '.git', copy), content);
  }
}

/**
 * Writes the checkout's git files back as they were kept (atomically: git reading one meanwhile
 * sees the old or the kept one). A checkout made before they were kept has its files kept now.
 */
export async function restoreGitFiles(dir: string): Promise<void> {
  for (const { file, copy } of KEPT) {
    const target = path.join(dir, '.git', file);
    const kept = await contentOf(path.join(dir, '.git', copy));
    if (!kept) {
      const now = await contentOf(target);
      if (now) await writeFile(path.join(dir, '.git', copy), now);
      continue;
    }
    const current = await contentOf(target);
    if (current?.equals(kept)) continue;
    const temp = `${target}.pas-${process.pid}`;
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(temp, kept);
    await rename(temp, target);
  }
}
