/**
 * Starts one program (never through a shell) and collects its output, so that a failure to start
 * it (EMFILE when file descriptors run out, ENOMEM, EAGAIN, ENOENT) is an answer, never an
 * unhandled `'error'` event that ends the process. execa 9 throws `subprocess.stdio is not
 * iterable` on EMFILE and leaves the ChildProcess's own error event unhandled (the process exits
 * 1), so PAS's spawn sites (git, the repo map, allowed commands, agent CLIs) start children here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PasError } from '../errors.ts';
import { collectOutput } from './output-cap.mjs';

export interface SpawnChildOptions {
  file: string;
  args: readonly string[];
  cwd: string;
  /** The complete environment of the child (the parent's is not inherited). */
  env: Record<string, string | undefined>;
  /** Written to the child's stdin, then closed; without it stdin is /dev/null. */
  input?: string | Uint8Array;
  /** Lead a process group of its own (so the whole tree can be signalled). */
  detached?: boolean;
  /** Output kept per stream; past it the child is killed and `truncated` set. */
  maxBufferBytes?: number;
  /**
   * Started held (no `input` then): the fork is made now, the program runs once `go` is called
   * (see heldCommand). What a caller that knows a command is coming starts ahead of time.
   */
  held?: boolean;
  /** PWD in its environment names `cwd` (as the held shell sets it), whatever `env` says. */
  pwd?: boolean;
}

export interface ChildOutcome {
  pid: number | undefined;
  /** `null` when the child ended on a signal or never started. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  /** stdout as the bytes it was (binary output: `git cat-file --batch`). */
  stdoutBytes: Buffer;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  all: string;
  /** Set when the program could not be started at all. */
  spawnError?: NodeJS.ErrnoException;
  /** An output stream passed maxBufferBytes; the child was killed. */
  truncated: boolean;
}

export interface SpawnedChild {
  /** Undefined when it could not be started. */
  pid: number | undefined;
  done: Promise<ChildOutcome>;
  /** A held child: lets it run (see heldCommand). */
  go?: () => void;
}

/**
 * The shell a held program waits in. It reads one line of its stdin (the go), then replaces
 * itself with the program: `exec "$@" </dev/null`, so the program gets its arguments as given (no
 * shell parses them), the same pid and process group, and stdin /dev/null as an unheld one. Its
 * stdin closed without a line (the caller gone) ends it unrun, 125. A fork costs a process
 * milliseconds and one program's forks come one after another, so a burst of 49 commands starts
 * over ~100 ms; held ones were forked while their task waited for its model, and each one's exec
 * runs in itself. The shell sets PWD to its folder (`pwd` asks the same of an unheld one); bash as
 * /bin/sh (macOS) also sets SHLVL when the environment has none. A program name that starts with
 * `-` is never held: bash's `exec` would read it as an option.
 */
export const HELD_SHELL = '/bin/sh';
const HELD_SCRIPT = 'IFS= read -r _ || exit 125; exec "$@" </dev/null';
/**
 * What the held shell says on stderr when its exec fails (dash: `pas-held: 1: exec: …: not found`,
 * bash: `pas-held: line 1: …: bad interpreter`): once the exec succeeded `$0` is the program's, so
 * a line so named is the shell's own.
 */
export const HELD_EXEC_FAILED = /^pas-held: (?:line )?\d+: /;

/** The held form of a program: the shell waiting for its go, then the program with its arguments. */
export function heldCommand(file: string, args: readonly string[]): { file: string; args: string[] } {
  return { file: HELD_SHELL, args: ['-c', HELD_SCRIPT, 'pas-held', file, ...args] };
}

/** Errors that say the machine is out of a resource rather than that the program is wrong. */
const RESOURCE_CODES = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN', 'ENOSPC']);

export function isResourceError(err: NodeJS.ErrnoException | undefined): boolean {
  return !!err?.code && RESOURCE_CODES.has(err.code);
}

/** The coded form of a failure to start `what`: always PAS_ERR_RESOURCE, retryable. */
export function spawnFailure(what: string, err: NodeJS.ErrnoException, details: Record<string, unknown> = {}): PasError {
  const code = err.code ?? 'UNKNOWN';
  const why =
    code === 'ENOENT'
      ? 'it is not installed, not on PATH, or its working folder is gone'
      : code === 'EMFILE' || code === 'ENFILE'
        ? 'the process has run out of file descriptors (ulimit -n)'
        : code === 'ENOMEM' || code === 'EAGAIN'
          ? 'the machine has no memory or process slots left'
          : err.message;
  return new PasError('PAS_ERR_RESOURCE', `could not start ${what} (${code}): ${why}`, { details: { ...details, program: what, errno: code }, cause: err });
}

/** One piece of a child's output: the stream it came on (1 stdout, 2 stderr) and its bytes. */
export type OutputChunk = [stream: number, chunk: Uint8Array];

/** The outcome of a child from its output in arrival order (a direct spawn's or the spawner's). */
export function childOutcome(pid: number | undefined, chunks: readonly OutputChunk[], exitCode: number | null, signal: string | null, truncated: boolean, spawnError?: NodeJS.ErrnoException): ChildOutcome {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const all: Uint8Array[] = [];
  for (const [stream, chunk] of chunks) {
    (stream === 1 ? out : err).push(chunk);
    all.push(chunk);
  }
  const stdoutBytes = Buffer.concat(out);
  const outcome: ChildOutcome = {
    pid,
    exitCode,
    signal,
    stdout: stdoutBytes.toString('utf8'),
    stdoutBytes,
    stderr: Buffer.concat(err).toString('utf8'),
    all: Buffer.concat(all).toString('utf8'),
    truncated,
  };
  if (spawnError) outcome.spawnError = spawnError;
  return outcome;
}

export function spawnChild(options: SpawnChildOptions): SpawnedChild {
  const maxBuffer = options.maxBufferBytes ?? 64 * 1024 * 1024;
  let child: ChildProcess;
  const { file, args } = options.held ? heldCommand(options.file, options.args) : options;
  try {
    child = spawn(file, [...args], {
      cwd: options.cwd,
      env: options.pwd ? { ...options.env, PWD: path.resolve(options.cwd) } : options.env,
      detached: options.detached ?? false,
      stdio: [options.input === undefined && !options.held ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
  } catch (err) {
    return { pid: undefined, done: Promise.resolve(childOutcome(undefined, [], null, null, false, err as NodeJS.ErrnoException)) };
  }

  const chunks: OutputChunk[] = [];
  const output = collectOutput(child, maxBuffer, (stream, chunk) => chunks.push([stream, chunk]));
  // The child may exit without reading its input (EPIPE): that is its answer, not ours to throw.
  child.stdin?.on('error', () => undefined);
  if (options.input !== undefined) child.stdin?.end(options.input);

  const done = new Promise<ChildOutcome>((resolve) => {
    let settled = false;
    const finish = (exitCode: number | null, signal: string | null, spawnError?: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      resolve(childOutcome(child.pid, chunks, exitCode, signal, output.truncated, spawnError));
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      // Before 'spawn' this is a failure to start; afterwards (a failed kill) the close still comes.
      if (child.pid === undefined) finish(null, null, error);
    });
    child.on('close', (code, signal) => finish(code, signal));
  });
  return { pid: child.pid, done, ...(options.held ? { go: () => child.stdin?.end('\n') } : {}) };
}

/** The environment variables every child needs to run, taken from `source`. */
export function baseChildEnv(source: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TMPDIR', 'TZ', 'SYSTEMROOT']) {
    const value = source[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}
