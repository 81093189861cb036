/**
 * The one way PAS runs git: through a counted spawn (never a shell), with a clean environment, hooks
 * off, and a per-repository mutex for the commands that write the shared repository's refs,
 * index or worktree list, so parallel programmers on one repository never trip on `*.lock`.
 * A lock held by another process is waited out; one left behind by a crash (stale) is removed.
 */
import { existsSync } from 'node:fs';
import { realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { PasError } from '../errors.ts';
import { isSecretEnvName } from '../redaction.ts';
import { spawnFailure } from './spawn-child.ts';
import { startChild } from './spawner.ts';

export const PAS_AUTHOR = { name: 'PAS', email: 'pas@localhost' } as const;

export interface GitResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface GitOptions {
  /** Exit codes that are answers rather than failures (`diff --quiet` exits 1 on changes). */
  okCodes?: readonly number[];
  /** Extra environment (GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY…) for this one command. */
  env?: Record<string, string>;
  /**
   * Run under the repository's reader-writer lock. `shared`: operations that touch only their own
   * worktree's admin entry, branch or merge worktree (many programmers at once). `exclusive` (or
   * `true`): operations that sweep every worktree (`worktree prune`), which must not see one
   * half-created. Lock-file collisions between shared holders are retried by execGit.
   */
  lock?: boolean | 'shared' | 'exclusive';
  /** Written to git's stdin (`commit -F -` reads its message there, free of argv size limits). */
  input?: string | Uint8Array;
}

export const GLOBAL_FLAGS = [
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
    // GIT_DIR, GIT_INDEX_FILE, GIT_WORK_TREE… from a caller (a hook, a test runner) must not leak in;
    // provider keys and other secrets stay out too (a repository's config can make git run programs).
    if (value !== undefined && !key.startsWith('GIT_') && !isSecretEnvName(key)) env[key] = value;
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

/** A reader-writer lock that queues fairly: a waiting writer holds back later readers. */
class RwLock {
  private readers = 0;
  private writer = false;
  private readonly waiting: Array<{ exclusive: boolean; grant: () => void }> = [];

  get idle(): boolean {
    return this.readers === 0 && !this.writer && this.waiting.length === 0;
  }

  acquire(exclusive: boolean): Promise<void> {
    if (this.waiting.length === 0 && this.free(exclusive)) {
      this.take(exclusive);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ exclusive, grant: () => { this.take(exclusive); resolve(); } }));
  }

  release(exclusive: boolean): void {
    if (exclusive) this.writer = false;
    else this.readers--;
    while (this.waiting.length > 0 && this.free(this.waiting[0]!.exclusive)) this.waiting.shift()!.grant();
  }

  private free(exclusive: boolean): boolean {
    return exclusive ? !this.writer && this.readers === 0 : !this.writer;
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.writer = true;
    else this.readers++;
  }
}

const locks = new Map<string, RwLock>();

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

/** Runs `fn` holding the lock of the repository `cwd` belongs to (exclusive unless `mode` says shared). */
export async function withRepoLock<T>(cwd: string, fn: () => Promise<T>, mode: 'shared' | 'exclusive' = 'exclusive'): Promise<T> {
  const key = await repoKey(cwd);
  let lock = locks.get(key);
  if (!lock) {
    lock = new RwLock();
    locks.set(key, lock);
  }
  const exclusive = mode === 'exclusive';
  await lock.acquire(exclusive);
  try {
    return await fn();
  } finally {
    lock.release(exclusive);
    if (lock.idle) locks.delete(key);
  }
}

// ── running git ─────────────────────────────────────────────────────────────

/** Runs `git <args>` in `cwd`; throws PAS_ERR_GIT unless the exit code is 0 or listed in okCodes. */
export async function git(cwd: string, args: readonly string[], options: GitOptions = {}): Promise<GitResult> {
  const okCodes = options.okCodes ?? [];
  if (options.lock) return withRepoLock(cwd, () => execGit(cwd, args, okCodes, options.env, options.input), options.lock === 'shared' ? 'shared' : 'exclusive');
  return execGit(cwd, args, okCodes, options.env, options.input);
}

/**
 * Runs git commands one after the other in `cwd`, all started by one small shell: one spawn (by
 * the spawner, see spawner.ts). A spawn of a large process blocks its event loop while fork copies
 * its page tables (about 6 ms at 50 MB, 30 ms at 350 MB on a loaded 2-core machine); the shell's
 * forks cost it nothing. The first command that fails ends the sequence with its exit code and output; a lock
 * held elsewhere retries the whole sequence (its commands must be safe to run again). `input`
 * goes to the shell's stdin, read by the command that reads stdin.
 */
export async function gitSequence(cwd: string, commands: readonly (readonly string[])[], options: Omit<GitOptions, 'lock' | 'okCodes'> = {}): Promise<GitResult> {
  return execGit(cwd, commands.flatMap((c, i) => (i === 0 ? [...c] : ['&&', 'git', ...c])), [], options.env, options.input, commands);
}

/**
 * The shell script of gitSequence: its positional parameters are, per command, the number of its
 * arguments and then the arguments. Only references to them ("${1}"…) reach eval, never their
 * text, so no argument is ever parsed by the shell.
 */
const SEQUENCE_SCRIPT = [
  'while [ "$#" -gt 0 ]; do',
  '  n=$1; shift; c=git; i=1',
  '  while [ "$i" -le "$n" ]; do c="$c \\"\\${$i}\\""; i=$((i + 1)); done',
  '  eval "$c" || exit $?',
  '  shift "$n"',
  'done',
].join('\n');

// ── counting ────────────────────────────────────────────────────────────────

let spawned = 0;
let spawns = 0;

/** Git processes started by this process so far (short-lived and long-lived): what a task costs. */
export function gitProcessCount(): number {
  return spawned;
}

/** Processes started to run git, by this process or its spawner (a sequence's shell once for all its commands). */
export function gitSpawnCount(): number {
  return spawns;
}

/** The program and arguments that run `git <args>`, or a sequence's commands through one small shell. */
function gitArgv(args: readonly string[], sequence?: readonly (readonly string[])[]): { file: string; args: string[] } {
  if (!sequence) return { file: 'git', args: [...GLOBAL_FLAGS, ...args] };
  const positional = sequence.flatMap((command) => [String(GLOBAL_FLAGS.length + command.length), ...GLOBAL_FLAGS, ...command]);
  return { file: 'sh', args: ['-c', SEQUENCE_SCRIPT, 'pas-git', ...positional] };
}

function count(sequence?: readonly (readonly string[])[]): void {
  spawned += sequence ? sequence.length : 1;
  spawns++;
}

/**
 * Starts `git <args>` in `cwd` with PAS's flags and clean environment, stdio piped, counted: the
 * long-lived ones (`cat-file --batch`, `update-ref --stdin`) whose pipes this process writes.
 * A plain child_process spawn: execa's extra work costs milliseconds of event loop per call.
 */
export function spawnGit(cwd: string, args: readonly string[], options: { stdin?: 'pipe' | 'ignore'; env?: Record<string, string>; sequence?: readonly (readonly string[])[] } = {}): ChildProcess {
  count(options.sequence);
  const command = gitArgv(args, options.sequence);
  return spawn(command.file, command.args, { cwd, env: { ...gitEnv(), ...options.env }, stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'], windowsHide: true });
}

const MAX_OUTPUT = 64 * 1024 * 1024;

/**
 * Runs git once to the end, started by the spawner (no fork of this process; a direct spawn when
 * it cannot be used): its output as text and its exit code (-1 and `spawnError` when it could not
 * start: out of file descriptors or memory, git missing). `input` goes to its stdin.
 */
async function runOnce(cwd: string, args: readonly string[], env?: Record<string, string>, input?: string | Uint8Array, sequence?: readonly (readonly string[])[]): Promise<GitResult & { spawnError?: NodeJS.ErrnoException }> {
  count(sequence);
  const command = gitArgv(args, sequence);
  const outcome = await startChild({ ...command, cwd, env: { ...gitEnv(), ...env }, maxBufferBytes: MAX_OUTPUT, ...(input !== undefined ? { input } : {}) }).done;
  const result: GitResult & { spawnError?: NodeJS.ErrnoException } = {
    stdout: outcome.stdout,
    stderr: outcome.stderr + (outcome.truncated ? `\noutput larger than ${MAX_OUTPUT} bytes` : ''),
    exitCode: outcome.exitCode ?? -1,
  };
  if (outcome.spawnError) result.spawnError = outcome.spawnError;
  return result;
}

async function execGit(cwd: string, args: readonly string[], okCodes: readonly number[], env?: Record<string, string>, input?: string | Uint8Array, sequence?: readonly (readonly string[])[]): Promise<GitResult> {
  for (let attempt = 0; ; attempt++) {
    const { stdout, stderr, exitCode, spawnError } = await runOnce(cwd, args, env, input, sequence);
    if (exitCode === 0 && !spawnError) return { stdout, stderr, exitCode };

    if (spawnError) {
      // Node reports a missing cwd as git missing: a folder that is gone is the caller's mistake.
      if (spawnError.code === 'ENOENT' && !existsSync(cwd)) throw new PasError('PAS_ERR_GIT', `folder ${cwd} does not exist`, { details: { args: [...args], cwd } });
      // Could not start git at all (no file descriptors or memory left, git missing): coded, and the process lives on.
      throw spawnFailure('git', spawnError, { args: [...args], cwd });
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
