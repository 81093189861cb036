import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, link, lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FsAllowlist } from '../../../src/config/schemas.ts';
import { isPasError } from '../../../src/errors.ts';
import { FsGuard, normalizeRelativePath } from '../../../src/executors/fs-guard.ts';
import { readFileQuick, SMALL_FILE_BYTES } from '../../../src/executors/small-file.ts';
import { writeEditsTo } from '../../../src/executors/task-files.ts';

const allowlist: FsAllowlist = {
  read: ['**/*'],
  write: ['src/**', 'docs/**', '*.md'],
  deny: ['**/.env', '**/*.pem', 'src/secret/**'],
};

let root: string;
let worktree: string;
let outside: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'pas-guard-'));
  worktree = path.join(root, 'wt');
  outside = path.join(root, 'outside');
  await mkdir(path.join(worktree, 'src'), { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(worktree, 'src', 'a.ts'), 'a\n');
  await writeFile(path.join(worktree, '.git'), 'gitdir: /somewhere\n');
  await writeFile(path.join(outside, 'victim.txt'), 'untouched\n');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    return isPasError(err) ? err.code : `not a PasError: ${String(err)}`;
  }
  return undefined;
}

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('FsGuard', () => {
  it('reads and writes allowed files inside the worktree, creating folders', async () => {
    const guard = new FsGuard(worktree, allowlist);
    expect(await guard.readFile('src/a.ts')).toBe('a\n');
    await guard.writeFile('src/deep/new.ts', 'new\n');
    expect(await readFile(path.join(worktree, 'src/deep/new.ts'), 'utf8')).toBe('new\n');
    await guard.writeFile('./README.md', '# hi\n');
    expect(await readFile(path.join(worktree, 'README.md'), 'utf8')).toBe('# hi\n');
  });

  it.each([
    ['../outside/victim.txt', 'parent traversal'],
    ['src/../../outside/victim.txt', 'traversal in the middle'],
    ['src/..', 'a trailing ..'],
  ])('refuses %s (%s) and writes nothing', async (p) => {
    const guard = new FsGuard(worktree, allowlist);
    const before = await tree(root);
    expect(await codeOf(guard.writeFile(p, 'pwned'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await tree(root)).toEqual(before);
    expect(await readFile(path.join(outside, 'victim.txt'), 'utf8')).toBe('untouched\n');
  });

  it('refuses absolute paths, including ones that point inside the worktree', async () => {
    const guard = new FsGuard(worktree, allowlist);
    expect(await codeOf(guard.writeFile(path.join(outside, 'victim.txt'), 'pwned'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await codeOf(guard.writeFile(path.join(worktree, 'src/a.ts'), 'pwned'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await codeOf(guard.readFile('C:/Windows/win.ini'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await codeOf(guard.readFile('~/.ssh/id_rsa'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await readFile(path.join(worktree, 'src/a.ts'), 'utf8')).toBe('a\n');
  });

  it.each([
    ['src/a\0.ts', 'NUL byte'],
    ['src/a\n.ts', 'newline'],
    ['src/\u202Ests.a', 'right-to-left override'],
    ['src/a\u200B.ts', 'zero-width space'],
    ['src\uFF0F..\uFF0F..\uFF0Fx', 'fullwidth slash and dots'],
    ['\uFF0E\uFF0E/outside/victim.txt', 'fullwidth dots'],
    ['src/cafe\u0301.ts', 'decomposed accent (changes under NFC)'],
    ['src\\..\\..\\x', 'backslashes'],
  ])('refuses %j (%s) and writes nothing', async (p) => {
    const guard = new FsGuard(worktree, allowlist);
    const before = await tree(root);
    expect(await codeOf(guard.writeFile(p, 'pwned'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await tree(root)).toEqual(before);
  });

  it('accepts a precomposed accented name', () => {
    expect(normalizeRelativePath('src/caf\u00E9.ts')).toBe('src/café.ts');
  });

  it('refuses a symlinked folder that leads outside, for reads and writes', async () => {
    await symlink(outside, path.join(worktree, 'src', 'link'));
    const guard = new FsGuard(worktree, allowlist);
    expect(await codeOf(guard.readFile('src/link/victim.txt'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await codeOf(guard.writeFile('src/link/victim.txt', 'pwned'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await codeOf(guard.writeFile('src/link/new/deeper.txt', 'pwned'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await readFile(path.join(outside, 'victim.txt'), 'utf8')).toBe('untouched\n');
    expect(await readdir(outside)).toEqual(['victim.txt']);
  });

  it('refuses a symlinked file that leads outside', async () => {
    await symlink(path.join(outside, 'victim.txt'), path.join(worktree, 'src', 'file-link.ts'));
    const guard = new FsGuard(worktree, allowlist);
    expect(await codeOf(guard.writeFile('src/file-link.ts', 'pwned'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await readFile(path.join(outside, 'victim.txt'), 'utf8')).toBe('untouched\n');
  });

  it('judges a symlink inside the worktree by where it leads', async () => {
    await writeFile(path.join(worktree, '.env'), 'SECRET=1\n');
    await symlink('../.env', path.join(worktree, 'src', 'env-link.ts'));
    await symlink('a.ts', path.join(worktree, 'src', 'alias.ts'));
    const guard = new FsGuard(worktree, allowlist);
    expect(await codeOf(guard.readFile('src/env-link.ts'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await guard.readFile('src/alias.ts')).toBe('a\n');
  });

  it('lets deny win over write and refuses files outside the write globs', async () => {
    const guard = new FsGuard(worktree, allowlist);
    expect(await codeOf(guard.writeFile('src/secret/key.ts', 'x'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await codeOf(guard.writeFile('src/.env', 'x'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await codeOf(guard.writeFile('cert.pem', 'x'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await codeOf(guard.writeFile('package.json', '{}'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await codeOf(guard.readFile('.env'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await readdir(path.join(worktree, 'src'))).toEqual(['a.ts']);
  });

  it('never reaches .git, whatever the allowlist says', async () => {
    const guard = new FsGuard(worktree, { read: ['**/*'], write: ['**/*'], deny: [] });
    expect(await codeOf(guard.readFile('.git'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await codeOf(guard.writeFile('.git/config', 'x'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await codeOf(guard.writeFile('src/.GIT/hooks/pre-commit', 'x'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await readFile(path.join(worktree, '.git'), 'utf8')).toBe('gitdir: /somewhere\n');
  });

  it('reports a missing file as null rather than failing', async () => {
    const guard = new FsGuard(worktree, allowlist);
    expect(await guard.readFileIfExists('src/none.ts')).toBeNull();
  });

  it('answers the same path the same way every time it is asked, each allowlist by its own globs', () => {
    const narrow: FsAllowlist = { read: ['docs/**'], write: [], deny: ['docs/private/**'] };
    const wide = new FsGuard(worktree, allowlist);
    const strict = new FsGuard(worktree, narrow);
    for (let round = 0; round < 3; round++) {
      expect(wide.allows('src/a.ts', 'write')).toBe(true);
      expect(strict.allows('src/a.ts', 'read')).toBe(false);
      expect(strict.allows('docs/x.md', 'read')).toBe(true);
      expect(strict.allows('docs/x.md', 'write')).toBe(false);
      expect(wide.allows('docs/x.md', 'write')).toBe(true);
      expect(strict.allows('docs/private/k.md', 'read')).toBe(false);
      expect(wide.allows('src/secret/k.ts', 'read')).toBe(false);
      expect(wide.allows('.GIT/config', 'read')).toBe(false);
    }
  });

  it('refuses a malformed path every time it is given, and normalizes a good one the same way each time', () => {
    for (let round = 0; round < 3; round++) {
      expect(normalizeRelativePath('./src//a.ts')).toBe('src/a.ts');
      expect(() => normalizeRelativePath('src/../../x')).toThrow(/".." segment/);
      expect(() => normalizeRelativePath('')).toThrow(/empty path/);
    }
  });
});

describe('FsGuard with synchronous file calls', () => {
  it('refuses a path through a parent that is a file, for reads and writes, and writes nothing', async () => {
    const guard = new FsGuard(worktree, allowlist);
    const before = await tree(root);
    expect(await codeOf(guard.writeFile('src/a.ts/inner.ts', 'x'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await codeOf(guard.readFile('src/a.ts/inner.ts'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await codeOf(guard.resolve('src/a.ts/deeper/inner.ts', 'write'))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(await tree(root)).toEqual(before);
  });

  it('answers the real path of a file behind a symlink inside the worktree, and the plain path otherwise', async () => {
    await mkdir(path.join(worktree, 'docs'));
    await symlink('../docs', path.join(worktree, 'src', 'docs-link'));
    const guard = new FsGuard(worktree, allowlist);
    const real = await realpath(worktree);
    expect(await guard.resolve('src/a.ts', 'read')).toBe(path.join(real, 'src', 'a.ts'));
    expect(await guard.resolve('src/docs-link/new.md', 'write')).toBe(path.join(real, 'docs', 'new.md'));
    expect(await guard.resolve('src/new/deeper.ts', 'write')).toBe(path.join(real, 'src', 'new', 'deeper.ts'));
    // A write through the symlinked folder lands where it leads, and reads back the same way.
    await guard.writeFile('src/docs-link/new.md', 'n\n');
    expect(await readFile(path.join(worktree, 'docs', 'new.md'), 'utf8')).toBe('n\n');
    expect(await guard.readFile('src/docs-link/new.md')).toBe('n\n');
    await guard.writeFile('src/docs-link/made/deeper.md', 'd\n');
    expect(await readFile(path.join(worktree, 'docs', 'made', 'deeper.md'), 'utf8')).toBe('d\n');
  });

  it('reads an empty file, and a file whose size is exactly the synchronous limit', async () => {
    const guard = new FsGuard(worktree, allowlist);
    await writeFile(path.join(worktree, 'src', 'empty.ts'), '');
    expect(await guard.readFile('src/empty.ts')).toBe('');
    const edge = 'y'.repeat(SMALL_FILE_BYTES);
    await writeFile(path.join(worktree, 'src', 'edge.ts'), edge);
    expect(await guard.readFile('src/edge.ts')).toBe(edge);
  });

  it('refuses a dangling symlink on the way as before (its target cannot be resolved)', async () => {
    await symlink(path.join(outside, 'missing'), path.join(worktree, 'src', 'dangling'));
    const guard = new FsGuard(worktree, allowlist);
    expect(await codeOf(guard.writeFile('src/dangling/x.ts', 'x'))).toMatch(/^not a PasError: .*ENOENT/);
    expect(existsSync(path.join(outside, 'missing'))).toBe(false);
  });

  it('refuses a symlink made at the final component after the guard was made, when it leads outside', async () => {
    const guard = new FsGuard(worktree, allowlist);
    await symlink(path.join(outside, 'victim.txt'), path.join(worktree, 'src', 'late.ts'));
    // Resolved through the symlink: refused, it leads outside.
    expect(await codeOf(guard.writeFile('src/late.ts', 'pwned'))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await readFile(path.join(outside, 'victim.txt'), 'utf8')).toBe('untouched\n');
  });

  it('reads and writes a file larger than the synchronous limit byte for byte', async () => {
    const guard = new FsGuard(worktree, allowlist);
    const big = 'x'.repeat(SMALL_FILE_BYTES * 3 + 17);
    await guard.writeFile('src/big.ts', big);
    expect(await readFile(path.join(worktree, 'src', 'big.ts'), 'utf8')).toBe(big);
    expect(await guard.readFile('src/big.ts')).toBe(big);
    expect((await lstat(path.join(worktree, 'src', 'big.ts'))).mode & 0o777).toBe(0o644 & ~process.umask());
  });

  it('writes a file now (synchronously) as it writes one through the thread pool: whole (a longer old one cut to length), its mode, folders made, never through a symlink leading outside', async () => {
    const guard = new FsGuard(worktree, allowlist);
    await guard.writeFile('src/a.ts', 'a much longer first version\n', true);
    await guard.writeFile('src/a.ts', 'b\n', true);
    expect(await readFile(path.join(worktree, 'src', 'a.ts'), 'utf8')).toBe('b\n');
    expect((await lstat(path.join(worktree, 'src', 'a.ts'))).mode & 0o777).toBe(0o644 & ~process.umask());
    await guard.writeFile('src/now/deeper/x.ts', 'x\n', true);
    expect(await readFile(path.join(worktree, 'src', 'now', 'deeper', 'x.ts'), 'utf8')).toBe('x\n');
    // Past the size written now: through the thread pool, whole.
    const big = Buffer.alloc(300 * 1024, 'z');
    await guard.writeFile('src/big-now.ts', big, true);
    expect((await readFile(path.join(worktree, 'src', 'big-now.ts'))).equals(big)).toBe(true);
    await symlink(path.join(outside, 'victim.txt'), path.join(worktree, 'src', 'now-link.ts'));
    expect(await codeOf(guard.writeFile('src/now-link.ts', 'pwned', true))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await readFile(path.join(outside, 'victim.txt'), 'utf8')).toBe('untouched\n');
  });

  // What a truncating write kept, kept by a write over the old bytes (which no test can tell from it but by its cost).
  it('writes a regular file now over its old bytes, cut to length: the same file (inode, mode, hard links), shorter or longer content whole', async () => {
    const guard = new FsGuard(worktree, allowlist);
    const file = path.join(worktree, 'src', 'tool.sh');
    await writeFile(file, '#!/bin/sh\necho a much longer first version\n');
    await chmod(file, 0o751);
    await link(file, path.join(root, 'hard-link'));
    const before = await lstat(file);
    await guard.writeFile('src/tool.sh', '#!/bin/sh\necho b\n', true);
    expect(await readFile(file, 'utf8')).toBe('#!/bin/sh\necho b\n');
    const after = await lstat(file);
    expect([after.ino, after.mode & 0o7777, after.size]).toEqual([before.ino, 0o751, '#!/bin/sh\necho b\n'.length]);
    expect(await readFile(path.join(root, 'hard-link'), 'utf8')).toBe('#!/bin/sh\necho b\n');
    const longer = Buffer.alloc(200 * 1024, 'y');
    await guard.writeFile('src/tool.sh', longer, true);
    expect((await readFile(file)).equals(longer)).toBe(true);
  });

  it('leaves a fifo without a reader to the thread pool when writing now: the event loop is not held', async () => {
    execFileSync('mkfifo', [path.join(worktree, 'src', 'pipe.ts')]);
    const guard = new FsGuard(worktree, allowlist);
    const writing = guard.writeFile('src/pipe.ts', 'into the pipe\n', true);
    // This runs only if the event loop is free: the reader the write waits for.
    expect(await readFileQuick(path.join(worktree, 'src', 'pipe.ts')).then(String)).toBe('into the pipe\n');
    await writing;
  });

  it('overwrites a longer file whole (truncated) and creates missing folders', async () => {
    const guard = new FsGuard(worktree, allowlist);
    await guard.writeFile('src/a.ts', 'a much longer first version\n');
    await guard.writeFile('src/a.ts', 'b\n');
    expect(await readFile(path.join(worktree, 'src', 'a.ts'), 'utf8')).toBe('b\n');
    await guard.writeFile('docs/x/y/z.md', 'z\n');
    expect(await guard.readFile('docs/x/y/z.md')).toBe('z\n');
    expect(await guard.readFileIfExists('docs/x/none.md')).toBeNull();
  });

  it('reads a fifo without blocking the event loop (the read waits in the thread pool for its writer)', async () => {
    execFileSync('mkfifo', [path.join(worktree, 'src', 'pipe.ts')]);
    const guard = new FsGuard(worktree, allowlist);
    const reading = guard.readFile('src/pipe.ts');
    // This runs only if the event loop is free: the writer the read waits for.
    await writeFile(path.join(worktree, 'src', 'pipe.ts'), 'through the pipe\n');
    expect(await reading).toBe('through the pipe\n');
  });

  it('writes into a fifo without a reader without blocking the event loop', async () => {
    execFileSync('mkfifo', [path.join(worktree, 'src', 'pipe.ts')]);
    const guard = new FsGuard(worktree, allowlist);
    const writing = guard.writeFile('src/pipe.ts', 'into the pipe\n');
    expect(await readFileQuick(path.join(worktree, 'src', 'pipe.ts')).then(String)).toBe('into the pipe\n');
    await writing;
  });

  it('reads a folder as an error, as fs/promises does', async () => {
    expect(await codeOf(readFileQuick(path.join(worktree, 'src')))).toMatch(/^not a PasError: .*EISDIR/);
  });
});

describe('writeEditsTo', () => {
  it('creates no folder for an edit the allowlist refuses', async () => {
    const edits = new Map<string, Buffer | null>([['src/secret/deep/key.ts', Buffer.from('k')]]);
    expect(await codeOf(writeEditsTo(worktree, allowlist, edits))).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(existsSync(path.join(worktree, 'src', 'secret'))).toBe(false);
  });

  it('creates no folder outside through a symlinked folder', async () => {
    await symlink(outside, path.join(worktree, 'src', 'out'));
    const edits = new Map<string, Buffer | null>([['src/out/made/x.ts', Buffer.from('x')]]);
    expect(await codeOf(writeEditsTo(worktree, allowlist, edits))).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(await readdir(outside)).toEqual(['victim.txt']);
  });

  it('writes the edits byte for byte and deletes what is deleted', async () => {
    const bytes = Buffer.from([0x68, 0x69, 0xff, 0x0a]);
    await writeEditsTo(worktree, allowlist, new Map<string, Buffer | null>([['src/new/b.bin', bytes], ['src/a.ts', null]]));
    expect(await readFile(path.join(worktree, 'src', 'new', 'b.bin'))).toEqual(bytes);
    expect(existsSync(path.join(worktree, 'src', 'a.ts'))).toBe(false);
  });
});
