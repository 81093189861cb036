/**
 * The one way PAS runs git: through execa (never a shell), with a clean environment, hooks
 * off, and a per-repository mutex for the commands that write the shared repository's refs,
 * index or worktree list, so parallel programmers on one repository never trip on `*.lock`.
 * A lock held by another process is waited out; one left behind by a crash (stale) is removed.
 */
import { realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { PasError } from '../errors.ts';

export const PAS_AUTHOR = { name: 'PAS', email: 'pas@localhost' } as const;

export interface GitResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface GitOptions {
  /** Exit codes that are answers rather than failures (`diff --quiet` exits 1 on changes). */
  okCodes?: readonly number[];
  /** Run under the repository's mutex (anything that writes refs, the index or worktrees). */
  lock?: boolean;
}

const GLOBAL_FLAGS = [
  '-c', 'gc.auto=0',
  '-c', 'maintenance.auto=false',
  '-c', 'core.hooksPath=/dev/null',
  '-c', 'commit.gpgsign=false',
  '-c', 'core.quotepath=off',
  '-c', 'advice.detachedHead=false',
] as const;

const LOCK_RETRIES = 12;
/** A lock file older than this is treated as left behind by a crashed git. */
export const STALE_LOCK_MS = 30_000;
const LOCK_ERROR = /Unable to create '([^']+\.lock)'|\.lock': File exists|could not lock config file|Another git process seems to be running/i;

export function gitEnv(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    // GIT_DIR, GIT_INDEX_FILE, GIT_WORK_TREE… from a caller (a hook, a test runner) must not leak in.
    if (value !== undefined && !key.startsWith('GIT_')) env[key] = value;
  }
  return {
    ...env,
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: PAS_AUTHOR.name,
    GIT_AUTHOR_EMAIL: PAS_AUTHOR.email,
    GIT_COMMITTER_NAME: PAS_AUTHOR.name,
    GIT_COMMITTER_EMAIL: PAS_AUTHOR.email,
  };
}

// ── per-repository mutex ────────────────────────────────────────────────────

const repoKeys = new Map<string, Promise<string>>();
const queues = new Map<string, Promise<void>>();

/** The identity of a repository: the real path of its common git dir (shared by its worktrees). */
export function repoKey(cwd: string): Promise<string> {
  const abs = path.resolve(cwd);
  let key = repoKeys.get(abs);
  if (!key) {
    key = (async () => {
      const out = await execGit(abs, ['rev-parse', '--git-common-dir'], []);
      return realpath(path.resolve(abs, out.stdout.trim()));
    })();
    key.catch(() => repoKeys.delete(abs));
    repoKeys.set(abs, key);
  }
  return key;
}

/** Runs `fn` while holding the mutex of the repository `cwd` belongs to. */
export async function withRepoLock<T>(cwd: string, fn: () => Promise<T>): Promise<T> {
  const key = await repoKey(cwd);
  const previous = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  queues.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (queues.get(key) === tail) queues.delete(key);
  }
}

// ── running git ─────────────────────────────────────────────────────────────

/** Runs `git <args>` in `cwd`; throws PAS_ERR_GIT unless the exit code is 0 or listed in okCodes. */
export async function git(cwd: string, args: readonly string[], options: GitOptions = {}): Promise<GitResult> {
  const okCodes = options.okCodes ?? [];
  if (options.lock) return withRepoLock(cwd, () => execGit(cwd, args, okCodes));
  return execGit(cwd, args, okCodes);
}

async function execGit(cwd: string, args: readonly string[], okCodes: readonly number[]): Promise<GitResult> {
  for (let attempt = 0; ; attempt++) {
    const result = await execa('git', [...GLOBAL_FLAGS, ...args], {
      cwd,
      env: gitEnv(),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      stripFinalNewline: false,
      maxBuffer: 64 * 1024 * 1024,
    });
    const stdout = typeof result.stdout === 'string' ? result.stdout : '';
    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    const exitCode = typeof result.exitCode === 'number' ? result.exitCode : -1;
    if (exitCode === 0) return { stdout, stderr, exitCode };

    const spawnCode = (result as { code?: string }).code;
    if (spawnCode === 'ENOENT') {
      throw new PasError('PAS_ERR_GIT', 'git is not installed or not on PATH', { details: { args: [...args], cwd } });
    }
    // A lock held by someone else is never an answer, whatever okCodes says: wait and retry.
    const lock = LOCK_ERROR.exec(stderr);
    if (lock && attempt < LOCK_RETRIES) {
      if (lock[1]) await removeIfStale(path.resolve(cwd, lock[1]));
      await sleep(Math.min(25 * 2 ** attempt, 1_000) + Math.random() * 25);
      continue;
    }
    if (okCodes.includes(exitCode)) return { stdout, stderr, exitCode };
    throw new PasError('PAS_ERR_GIT', `git ${args.join(' ')} failed (exit ${exitCode}): ${stderr.trim() || stdout.trim()}`, {
      details: { args: [...args], cwd, exitCode, stderr: stderr.trim() },
    });
  }
}

async function removeIfStale(lockFile: string): Promise<void> {
  try {
    const info = await stat(lockFile);
    if (Date.now() - info.mtimeMs > STALE_LOCK_MS) await rm(lockFile, { force: true });
  } catch (err) {
    // Gone already: the holder finished and the retry will succeed.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
