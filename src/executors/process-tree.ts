/**
 * Runs one program (never through a shell) as the leader of its own process group, so a
 * timeout or a cancel can stop the whole tree it spawned: SIGTERM to the group, then SIGKILL
 * after a grace period. Whatever is left in the group when the leader ends is killed too.
 */
import { signalProcessGroup } from './process-group.ts';
import { isResourceError, spawnFailure } from './spawn-child.ts';
import { startChild, startDirect, type StartedChild } from './spawner.ts';

export { baseChildEnv } from './spawn-child.ts';
export { signalProcessGroup } from './process-group.ts';

export interface ProcessTreeOptions {
  file: string;
  args: readonly string[];
  cwd: string;
  /** The complete environment of the child (the parent's is not inherited). */
  env: Record<string, string | undefined>;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Time between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  maxBufferBytes?: number;
  /**
   * Called once, the moment the tree is to be killed (timeout or abort), before SIGTERM: a
   * caller ends what the child must not use any longer (its LLM credential) without waiting
   * for the kill grace.
   */
  onKill?: () => void;
  /**
   * Start it through the spawner (spawner.ts): no fork of this process. Only for an environment
   * free of secrets (the spawner is a process that does not need them).
   */
  viaSpawner?: boolean;
  /** PWD in its environment names `cwd` (spawn-child.ts). */
  pwd?: boolean;
}

export interface ProcessTreeOutcome {
  pid: number | undefined;
  /** `null` when the process ended on a signal or never started. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  all: string;
  timedOut: boolean;
  aborted: boolean;
  /** The program could not be found (ENOENT/EACCES at spawn). */
  notFound: boolean;
  durationMs: number;
}

const DEFAULT_GRACE_MS = 2_000;

const ABORTED: ProcessTreeOutcome = { pid: undefined, exitCode: null, signal: null, stdout: '', stderr: '', all: '', timedOut: false, aborted: true, notFound: false, durationMs: 0 };

export async function runProcessTree(options: ProcessTreeOptions): Promise<ProcessTreeOutcome> {
  if (options.signal?.aborted) return { ...ABORTED };
  return supervise(startTree(options, false), options);
}

/** A program started held (spawn-child.ts heldCommand): forked now, run by `run`. */
export interface HeldProcessTree {
  /**
   * Lets it run and supervises it as runProcessTree does (`options.signal` is not used: this
   * one is); its timeout and duration count from here. Once only.
   */
  run(signal?: AbortSignal): Promise<ProcessTreeOutcome>;
  /** Ends it unrun (its process group killed); nothing once it runs. */
  cancel(): void;
  /** Whether it ended before it was run (it cannot be run then: start the program anew). */
  readonly endedUnrun: boolean;
}

/**
 * Starts the program held: the fork (the costly part of a start, one after another per spawner)
 * is made now, while the caller still waits for what the program needs (a model's edit).
 */
export function holdProcessTree(options: Omit<ProcessTreeOptions, 'signal'>): HeldProcessTree {
  const child = startTree(options, true);
  let ran = false;
  let ended = false;
  void child.done.then(
    () => (ended = true),
    () => (ended = true),
  );
  const kill = () => {
    child.killing(0);
    void child.started.then((pid) => {
      if (pid !== undefined) signalProcessGroup(pid, 'SIGKILL');
    });
    // Its outcome (killed) is of no use; a spawner lost meanwhile is no failure of anyone's.
    child.done.catch(() => undefined);
  };
  return {
    get endedUnrun() {
      return ended && !ran;
    },
    run(signal) {
      if (ran) throw new Error('a held program runs once');
      ran = true;
      if (signal?.aborted) {
        kill();
        return Promise.resolve({ ...ABORTED });
      }
      child.go!();
      return supervise(child, signal ? { ...options, signal } : options);
    },
    cancel() {
      if (ran) return;
      ran = true;
      kill();
    },
  };
}

function startTree(options: Omit<ProcessTreeOptions, 'signal'>, held: boolean): StartedChild {
  const childOptions = {
    file: options.file,
    args: options.args,
    cwd: options.cwd,
    env: options.env,
    detached: true,
    maxBufferBytes: options.maxBufferBytes ?? 20 * 1024 * 1024,
    ...(held ? { held: true } : {}),
    ...(options.pwd ? { pwd: true } : {}),
  };
  return options.viaSpawner ? startChild(childOptions) : startDirect(childOptions);
}

/** Waits for a started program's end, killing its tree on a timeout or an abort. */
async function supervise(child: StartedChild, options: ProcessTreeOptions): Promise<ProcessTreeOutcome> {
  const started = Date.now();
  const grace = options.killGraceMs ?? DEFAULT_GRACE_MS;
  // Known at once for a direct spawn, a message later through the spawner.
  let pid: number | undefined;

  let timedOut = false;
  let aborted = false;
  let killing = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const signalTree = () => {
    if (pid === undefined || graceTimer) return;
    signalProcessGroup(pid, 'SIGTERM');
    graceTimer = setTimeout(() => signalProcessGroup(pid!, 'SIGKILL'), grace);
  };
  const killTree = () => {
    if (killing) return;
    killing = true;
    child.killing(grace);
    options.onKill?.();
    signalTree();
  };
  void child.started.then((startedPid) => {
    pid = startedPid;
    if (killing) signalTree();
  });
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          killTree();
        }, options.timeoutMs);
  const onAbort = () => {
    aborted = true;
    killTree();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const result = await child.done;
    pid = await child.started;
    // Out of file descriptors, memory or process slots: a coded, retryable failure of this task.
    if (isResourceError(result.spawnError)) throw spawnFailure(options.file, result.spawnError!, { cwd: options.cwd });
    const code = result.spawnError?.code;
    return {
      pid,
      exitCode: result.exitCode,
      signal: result.signal,
      stdout: result.stdout,
      stderr: result.stderr,
      all: result.all,
      timedOut,
      aborted,
      notFound: pid === undefined && (code === 'ENOENT' || code === 'EACCES'),
      durationMs: Date.now() - started,
    };
  } finally {
    if (timer) clearTimeout(timer);
    if (graceTimer) clearTimeout(graceTimer);
    options.signal?.removeEventListener('abort', onAbort);
    // Reap anything the leader left behind in its group (daemonised grandchildren).
    if (pid !== undefined) signalProcessGroup(pid, 'SIGKILL');
  }
}

/** The last `lines` lines of a text, without a trailing empty line. */
export function tailLines(text: string, lines: number): string {
  const all = text.replace(/\s+$/, '').split(/\r?\n/);
  return all.slice(-lines).join('\n');
}
