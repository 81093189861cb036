/**
 * Starts short-lived programs (git, verify commands) through the spawner: a small plain node
 * process (spawner-process.mjs) started once, early, while this process is small. A spawn here
 * forks this whole process and blocks its event loop while the page tables are copied (about
 * 10 ms at 350 MB); a spawn there costs this process one IPC message.
 *
 * Same results as a direct spawn (spawnChild): exit code, signal, output (interleaved too), the
 * output cap, stdin input, the exact environment and cwd asked for, the pid (so a caller kills a
 * process group itself). Robust: the spawner exits when this process does (its IPC channel
 * closes, also on SIGKILL); if it dies, the requests it had not started yet run on a fresh
 * spawner, those it had started fail with PAS_ERR_SPAWNER (their process groups killed), and the
 * next request starts a fresh one. A spawner that cannot start (no descriptors left, node
 * missing) or `PAS_SPAWNER=off` means a direct spawn.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PasError } from '../errors.ts';
import { baseChildEnv, spawnChild, type ChildOutcome, type SpawnChildOptions } from './spawn-child.ts';

const SCRIPT = fileURLToPath(new URL('./spawner-process.mjs', import.meta.url));
const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;
/** Spawners in a row that died before saying ready: then this process spawns directly for a while. */
const MAX_FAILED_STARTS = 3;
const RETRY_START_AFTER_MS = 30_000;

/** A program started directly or through the spawner: its pid once known, and its outcome. */
export interface StartedChild {
  /** Resolves when the program started (its pid) or could not start (undefined). */
  started: Promise<number | undefined>;
  done: Promise<ChildOutcome>;
}

export interface SpawnerStats {
  /** Spawner processes started so far. */
  spawners: number;
  /** Programs started through the spawner. */
  viaSpawner: number;
  /** Programs started directly (spawner off, or it could not start). */
  direct: number;
  /** Requests sent again to a fresh spawner (the previous one died before starting them). */
  retried: number;
  /** Programs lost with a spawner that died while they ran (PAS_ERR_SPAWNER). */
  lost: number;
  /** Sum of request → started (the spawner's own fork included), for a mean. */
  startMsTotal: number;
}

const stats: SpawnerStats = { spawners: 0, viaSpawner: 0, direct: 0, retried: 0, lost: 0, startMsTotal: 0 };

export function spawnerStats(): SpawnerStats {
  return { ...stats };
}

interface Request {
  options: SpawnChildOptions;
  attempts: number;
  sentAt: number;
  pid?: number;
  chunks: Array<[number, Uint8Array]>;
  started: (pid: number | undefined) => void;
  resolve: (outcome: ChildOutcome) => void;
  reject: (err: unknown) => void;
}

type Message =
  | { t: 'ready' }
  | { t: 'pid'; id: number; pid: number }
  | { t: 'out'; id: number; chunks: Array<[number, Uint8Array]> }
  | { t: 'done'; id: number; code: number | null; signal: string | null; truncated: boolean; chunks: Array<[number, Uint8Array]>; spawnError?: { code?: string; errno?: number; syscall?: string; path?: string; message: string } };

let enabled = process.env.PAS_SPAWNER !== 'off' && process.platform !== 'win32';
let current: Connection | undefined;
let failedStarts = 0;
let lastFailedStart = 0;
let nextId = 1;

/** Turns the spawner on or off for this process (off: every program is spawned directly). */
export function useSpawner(on: boolean): void {
  enabled = on && process.platform !== 'win32';
}

/** Starts the spawner now (the runtime does this at start, while it is small); a no-op when it runs. */
export function startSpawner(): void {
  connection();
}

/** The running spawner's pid (tests, `pas status`), or undefined. */
export function spawnerPid(): number | undefined {
  return current?.child.pid;
}

/**
 * Stops the spawner: its channel closes, it kills the process groups it started and exits;
 * resolves when it has. The next request starts a fresh one.
 */
export async function stopSpawner(): Promise<void> {
  const spawner = current;
  if (!spawner) return;
  current = undefined;
  const { child } = spawner;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  if (child.connected) child.disconnect();
  else child.kill('SIGKILL');
  await exited;
}

function connection(): Connection | undefined {
  if (!enabled) return undefined;
  if (failedStarts >= MAX_FAILED_STARTS) {
    if (Date.now() - lastFailedStart < RETRY_START_AFTER_MS) return undefined;
    failedStarts = MAX_FAILED_STARTS - 1;
  }
  if (current && !current.gone) return current;
  try {
    current = new Connection();
    return current;
  } catch {
    // Could not even create its pipes (no descriptors left): spawn directly this time.
    current = undefined;
    return undefined;
  }
}

/** Starts a program through the spawner, or directly when the spawner cannot be used. */
export function startChild(options: SpawnChildOptions): StartedChild {
  const spawner = connection();
  if (!spawner) return startDirect(options);
  let started!: (pid: number | undefined) => void;
  let resolve!: (outcome: ChildOutcome) => void;
  let reject!: (err: unknown) => void;
  const startedPromise = new Promise<number | undefined>((r) => (started = r));
  const done = new Promise<ChildOutcome>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  spawner.send({ options: { ...options, cwd: path.resolve(options.cwd) }, attempts: 0, sentAt: 0, chunks: [], started, resolve, reject });
  return { started: startedPromise, done };
}

/** Starts a program with a spawn of this process (spawnChild), in the shape of startChild. */
export function startDirect(options: SpawnChildOptions): StartedChild {
  stats.direct++;
  const child = spawnChild(options);
  return { started: Promise.resolve(child.pid), done: child.done };
}

/** Runs a request the spawner could not take on a direct spawn, settling the same promises. */
function runDirect(request: Request): void {
  stats.direct++;
  const child = spawnChild(request.options);
  request.started(child.pid);
  child.done.then(request.resolve, request.reject);
}

class Connection {
  readonly child: ChildProcess;
  ready = false;
  gone = false;
  private readonly requests = new Map<number, Request>();

  constructor() {
    // execArgv empty: not the loaders or profilers this process runs under; env: only what node
    // needs (no secrets — every program it starts gets its environment in the request).
    this.child = fork(SCRIPT, [], {
      execArgv: [],
      env: baseChildEnv(process.env),
      cwd: '/',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    stats.spawners++;
    this.child.on('message', (message: Message) => this.onMessage(message));
    this.child.on('error', () => this.onGone());
    // 'exit' can come before the messages still in the channel are read (a program's pid among
    // them): the channel's close comes after them, so that is when the requests are settled.
    this.child.on('exit', () => {
      if (!this.child.connected) this.onGone();
    });
    this.child.on('disconnect', () => this.onGone());
    this.idle();
  }

  send(request: Request): void {
    const id = nextId++;
    if (this.requests.size === 0) this.busy();
    this.requests.set(id, request);
    request.sentAt = performance.now();
    const { options } = request;
    try {
      this.child.send({
        t: 'run',
        id,
        file: options.file,
        args: [...options.args],
        cwd: options.cwd,
        env: options.env,
        detached: options.detached ?? false,
        input: options.input,
        maxBuffer: options.maxBufferBytes ?? DEFAULT_MAX_BUFFER,
      });
    } catch {
      // The channel closed under us: onGone settles it (a fresh spawner or a direct spawn).
      this.onGone();
    }
  }

  private onMessage(message: Message): void {
    if (message.t === 'ready') {
      this.ready = true;
      failedStarts = 0;
      return;
    }
    const request = this.requests.get(message.id);
    if (!request) return;
    if (message.t === 'pid') {
      request.pid = message.pid;
      stats.viaSpawner++;
      stats.startMsTotal += performance.now() - request.sentAt;
      request.started(message.pid);
    } else if (message.t === 'out') {
      request.chunks.push(...message.chunks);
    } else {
      this.requests.delete(message.id);
      if (this.requests.size === 0) this.idle();
      request.chunks.push(...message.chunks);
      if (request.pid === undefined) request.started(undefined);
      request.resolve(outcomeOf(request, message));
    }
  }

  /** The spawner exited or its channel closed: settle everything it held. */
  private onGone(): void {
    if (this.gone) return;
    this.gone = true;
    if (current === this) current = undefined;
    if (!this.ready) {
      failedStarts++;
      lastFailedStart = Date.now();
    }
    const requests = [...this.requests.values()];
    this.requests.clear();
    this.child.unref();
    for (const request of requests) {
      if (request.pid !== undefined) {
        // It was running: its result is lost. A verify command's whole tree goes with it.
        stats.lost++;
        if (request.options.detached) killGroup(request.pid);
        request.reject(
          new PasError('PAS_ERR_SPAWNER', `the spawner died while running ${request.options.file} (pid ${request.pid}); its result is lost, the next request starts a fresh spawner`, {
            details: { program: request.options.file, cwd: request.options.cwd },
          }),
        );
        continue;
      }
      // Not started yet (as far as this process knows: a spawner killed between its spawn and
      // the pid message leaves a program that also runs; git's commands here are safe to run
      // again): once more on a fresh spawner, or directly if none will start.
      const next = request.attempts === 0 ? connection() : undefined;
      if (next) {
        stats.retried++;
        request.attempts++;
        request.chunks = [];
        next.send(request);
      } else {
        runDirect(request);
      }
    }
  }

  /** Requests in flight keep this process alive (as a direct child would), none: not. */
  private busy(): void {
    this.child.ref();
    (this.child.channel as { ref?: () => void } | null | undefined)?.ref?.();
  }

  private idle(): void {
    this.child.unref();
    (this.child.channel as { unref?: () => void } | null | undefined)?.unref?.();
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

function outcomeOf(request: Request, done: Extract<Message, { t: 'done' }>): ChildOutcome {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const all: Uint8Array[] = [];
  for (const [stream, chunk] of request.chunks) {
    (stream === 1 ? out : err).push(chunk);
    all.push(chunk);
  }
  const stdoutBytes = Buffer.concat(out);
  const outcome: ChildOutcome = {
    pid: request.pid,
    exitCode: done.code,
    signal: done.signal,
    stdout: stdoutBytes.toString('utf8'),
    stdoutBytes,
    stderr: Buffer.concat(err).toString('utf8'),
    all: Buffer.concat(all).toString('utf8'),
    truncated: done.truncated,
  };
  if (done.spawnError) {
    const { message, ...fields } = done.spawnError;
    outcome.spawnError = Object.assign(new Error(message), fields) as NodeJS.ErrnoException;
  }
  return outcome;
}
