/**
 * Starts short-lived programs (git, verify commands) through the spawner: a small plain node
 * process (spawner-process.mjs) started once, early, while this process is small. A spawn here
 * forks this whole process and blocks its event loop while the page tables are copied (about
 * 10 ms at 350 MB); a spawn there costs this process one IPC message.
 *
 * Same results as a direct spawn (spawnChild): exit code, signal, output (interleaved too), the
 * output cap, stdin input, the exact environment and cwd asked for, the pid (so a caller kills a
 * process group itself). Robust: the spawner exits when this process does (its IPC channel
 * closes, also on SIGKILL); if it dies, the requests it had not taken yet (it acknowledges each
 * before starting it) run on a fresh spawner, those it had taken fail with PAS_ERR_SPAWNER (the
 * process groups of those whose pid came killed), and the next request starts a fresh one. A
 * watchdog kills a spawner that stopped answering (frozen: no pid for a request within a few
 * seconds, no outcome for a killed one), which is then a dead one. A spawner that cannot start
 * (no descriptors left, node missing) or `PAS_SPAWNER=off` means a direct spawn.
 *
 * A pool of spawners (one per core, at least 2, at most 8): a spawner forks its programs one after
 * another, so a burst of requests (49 verify commands within a few ms) would start serially; each
 * request goes to the least busy ready spawner, and every guarantee above holds for each one.
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PasError } from '../errors.ts';
import { signalProcessGroup } from './process-group.ts';
import { baseChildEnv, childOutcome, heldCommand, spawnChild, type ChildOutcome, type OutputChunk, type SpawnChildOptions } from './spawn-child.ts';

const SCRIPT = fileURLToPath(new URL('./spawner-process.mjs', import.meta.url));
const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;
/** Spawners in a row that died before saying ready: then this process spawns directly for a while. */
const MAX_FAILED_STARTS = 3;
const RETRY_START_AFTER_MS = 30_000;
/** Spawners running side by side: a burst of requests starts in parallel across the cores. */
export const SPAWNER_POOL_SIZE = Math.min(8, Math.max(2, os.availableParallelism()));

/** How long a spawner may stay silent before the watchdog takes it for broken and kills it. */
export interface SpawnerWatchdog {
  /** From start to `ready` (node starting on a loaded machine). */
  readyMs: number;
  /** From a request (or `ready`, if later) to its pid or outcome. */
  startMs: number;
  /** From the SIGKILL of a killed program's group to its outcome. */
  doneAfterKillMs: number;
}

const DEFAULT_WATCHDOG: SpawnerWatchdog = { readyMs: 20_000, startMs: 10_000, doneAfterKillMs: 10_000 };
let watchdog: SpawnerWatchdog = { ...DEFAULT_WATCHDOG };

/** Sets the watchdog's delays (tests make them short); without an argument, the defaults. */
export function setSpawnerWatchdog(delays: Partial<SpawnerWatchdog> = {}): void {
  watchdog = { ...DEFAULT_WATCHDOG, ...delays };
}

/** A program started directly or through the spawner: its pid once known, and its outcome. */
export interface StartedChild {
  /** Resolves when the program started (its pid) or could not start (undefined). */
  started: Promise<number | undefined>;
  done: Promise<ChildOutcome>;
  /**
   * The caller is killing it: its process group gets SIGKILL at most `graceMs` after its pid is
   * known. A spawner that gives no outcome soon after is broken (the watchdog kills it); one that
   * dies before taking it does not start it any more.
   */
  killing(graceMs: number): void;
  /** A held program (`held` in its options): lets it run. */
  go?: () => void;
}

export interface SpawnerStats {
  /** Spawner processes started so far. */
  spawners: number;
  /** Programs started through the spawner. */
  viaSpawner: number;
  /** Programs started directly (spawner off, or it could not start). */
  direct: number;
  /** Requests sent again to a fresh spawner (the previous one died before taking them). */
  retried: number;
  /** Programs lost with a spawner that died after taking them (PAS_ERR_SPAWNER). */
  lost: number;
  /** Spawners the watchdog killed because they stopped answering. */
  frozen: number;
  /** Sum of request → started (the spawner's own fork included), for a mean. */
  startMsTotal: number;
  /** Environments sent over a channel (a request whose environment the spawner holds names it instead). */
  envsSent: number;
  /** Programs started held (not in startMsTotal: they wait for their go). */
  held: number;
}

const stats: SpawnerStats = { spawners: 0, viaSpawner: 0, direct: 0, retried: 0, lost: 0, frozen: 0, startMsTotal: 0, envsSent: 0, held: 0 };

/**
 * Environments each spawner keeps, oldest dropped first (spawner-process.mjs keeps as many, told
 * each one once and in the same order, so both sides hold the same list). A verify command's and
 * git's environments repeat from task to task: serializing ~50 variables per request was a good
 * part of the runtime's cost of starting one.
 */
const ENVS_KEPT = 8;
let nextEnvId = 1;

export function spawnerStats(): SpawnerStats {
  return { ...stats };
}

interface Request {
  options: SpawnChildOptions;
  /** Its id with the spawner holding it now. */
  id?: number;
  /** A held program's go was asked (sent once its pid is known). */
  goAsked?: boolean;
  /** Its go when it runs on a direct spawn instead. */
  directGo?: () => void;
  attempts: number;
  sentAt: number;
  /** The spawner said it took it (it may have started it since). */
  taken: boolean;
  pid?: number;
  /** The caller is killing it, with this grace before SIGKILL. */
  killGraceMs?: number;
  /** When its group will have had SIGKILL (its pid known and the caller killing it). */
  killedBy?: number;
  chunks: OutputChunk[];
  started: (pid: number | undefined) => void;
  resolve: (outcome: ChildOutcome) => void;
  reject: (err: unknown) => void;
}

type Message =
  | { t: 'ready' }
  | { t: 'taken'; ids: number[] }
  | { t: 'pid'; id: number; pid: number }
  | { t: 'out'; id: number; chunks: OutputChunk[] }
  | { t: 'done'; id: number; code: number | null; signal: string | null; truncated: boolean; chunks: OutputChunk[]; spawnError?: { code?: string; errno?: number; syscall?: string; path?: string; message: string } };

let enabled = process.env.PAS_SPAWNER !== 'off' && process.platform !== 'win32';
/** The pool's slots; an empty or dead slot is filled again by the next request. */
const pool: Array<Connection | undefined> = [];
/** The spawner the last request went to (ties go to it again: sequential requests stay on one). */
let current: Connection | undefined;
let failedStarts = 0;
let lastFailedStart = 0;
let nextId = 1;

/** Turns the spawner on or off for this process (off: every program is spawned directly). */
export function useSpawner(on: boolean): void {
  enabled = on && process.platform !== 'win32';
}

/** Starts the spawners now (the runtime does this at start, while it is small); a no-op when they run. */
export function startSpawner(): void {
  connection();
}

/** The pid of the running spawner the last request went to (tests), or undefined. */
export function spawnerPid(): number | undefined {
  return current?.gone ? undefined : current?.child.pid;
}

/** The process object of the running spawner the last request went to (tests), or undefined. */
export function spawnerProcess(): ChildProcess | undefined {
  return current?.gone ? undefined : current?.child;
}

/** The pids of the running spawners (the benchmarks read their CPU). */
export function spawnerPids(): number[] {
  return pool.flatMap((spawner) => (spawner && !spawner.gone && spawner.child.pid !== undefined ? [spawner.child.pid] : []));
}

/** The pids of the spawners that are running and ready (tests). */
export function readySpawnerPids(): number[] {
  return pool.flatMap((spawner) => (spawner && !spawner.gone && spawner.ready && spawner.child.pid !== undefined ? [spawner.child.pid] : []));
}

/**
 * Stops the spawners: their channels close, they kill the process groups they started and exit;
 * resolves when they have. The next request starts fresh ones.
 */
export async function stopSpawner(): Promise<void> {
  const spawners = pool.splice(0).filter((spawner) => spawner !== undefined);
  current = undefined;
  await Promise.all(spawners.map(({ child }) => {
    if (child.exitCode !== null || child.signalCode !== null) return undefined;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (child.connected) child.disconnect();
    else child.kill('SIGKILL');
    return exited;
  }));
}

function connection(): Connection | undefined {
  if (!enabled) return undefined;
  if (failedStarts >= MAX_FAILED_STARTS) {
    if (Date.now() - lastFailedStart < RETRY_START_AFTER_MS) return undefined;
    failedStarts = MAX_FAILED_STARTS - 1;
  }
  for (let slot = 0; slot < SPAWNER_POOL_SIZE; slot++) {
    if (pool[slot] && !pool[slot]!.gone) continue;
    try {
      pool[slot] = new Connection();
    } catch {
      // Could not even create its pipes (no descriptors left): the others, or a direct spawn.
      pool[slot] = undefined;
      break;
    }
  }
  // The least busy: ready before starting, then the fewest requests in flight, then the last used.
  let best: Connection | undefined;
  for (const spawner of pool) {
    if (!spawner || spawner.gone) continue;
    if (!best || spawner.rank() < best.rank() || (spawner.rank() === best.rank() && spawner === current)) best = spawner;
  }
  if (best) current = best;
  return best;
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
  const request: Request = { options: { ...options, cwd: path.resolve(options.cwd) }, attempts: 0, sentAt: 0, taken: false, chunks: [], started, resolve, reject };
  spawner.send(request);
  return { started: startedPromise, done, killing: (graceMs) => killing(request, graceMs), ...(options.held ? { go: () => go(request) } : {}) };
}

function go(request: Request): void {
  if (request.goAsked) return;
  request.goAsked = true;
  if (request.directGo) request.directGo();
  else holders.get(request)?.sendGo(request);
}

/** Requests → the spawner holding them now (a request moves to a fresh one when its spawner dies). */
const holders = new WeakMap<Request, Connection>();

function killing(request: Request, graceMs: number): void {
  if (request.killGraceMs !== undefined) return;
  request.killGraceMs = graceMs;
  holders.get(request)?.killStarted(request);
}

/** Starts a program with a spawn of this process (spawnChild), in the shape of startChild. */
export function startDirect(options: SpawnChildOptions): StartedChild {
  stats.direct++;
  const child = spawnChild(options);
  // The caller kills a direct child's group itself, and its outcome comes from this process.
  return { started: Promise.resolve(child.pid), done: child.done, killing: () => undefined, ...(child.go ? { go: child.go } : {}) };
}

/** Runs a request the spawner could not take on a direct spawn, settling the same promises. */
function runDirect(request: Request): void {
  const child = startDirect(request.options);
  request.directGo = child.go;
  if (request.goAsked) child.go?.();
  void child.started.then(request.started);
  child.done.then(request.resolve, request.reject);
}

class Connection {
  readonly child: ChildProcess;
  ready = false;
  gone = false;
  private readyAt: number | undefined;
  private readonly createdAt = performance.now();
  private readonly requests = new Map<number, Request>();
  /** Requests it holds whose pid has not come yet. */
  private unstarted = 0;
  private watchTimer: NodeJS.Timeout | undefined;
  private watchDue = Infinity;
  /** The environments this spawner holds, oldest first (see ENVS_KEPT). */
  private readonly envs: Array<{ id: number; env: Record<string, string | undefined>; size: number }> = [];

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
    // A failed kill or send: it may still run and hold its channel open; this process is done with it.
    this.child.on('error', () => {
      if (this.gone) return;
      this.onGone();
      this.child.kill('SIGKILL');
    });
    // 'exit' can come before the messages still in the channel are read (a program's pid among
    // them): the channel's close comes after them, so that is when the requests are settled.
    this.child.on('exit', () => {
      if (!this.child.connected) this.onGone();
    });
    this.child.on('disconnect', () => this.onGone());
    this.idle();
  }

  /**
   * How busy it is, lower is better: a spawner still starting comes after any ready one; then the
   * requests it has yet to start (it starts them one after another), then all it holds (a running
   * verify command costs it output handling, not a queue place).
   */
  rank(): number {
    return (this.ready ? 0 : 1e9) + this.unstarted * 1e4 + this.requests.size;
  }

  send(request: Request): void {
    const id = nextId++;
    request.id = id;
    if (this.requests.size === 0) this.busy();
    this.requests.set(id, request);
    this.unstarted++;
    holders.set(request, this);
    request.sentAt = performance.now();
    this.watch();
    const { options } = request;
    const { file, args } = options.held ? heldCommand(options.file, options.args) : options;
    try {
      this.child.send({
        t: 'run',
        id,
        file,
        args: [...args],
        cwd: options.cwd,
        ...this.envOf(options.env),
        detached: options.detached ?? false,
        input: options.input,
        ...(options.held ? { held: true } : {}),
        ...(options.pwd ? { pwd: true } : {}),
        maxBuffer: options.maxBufferBytes ?? DEFAULT_MAX_BUFFER,
      });
    } catch {
      // The channel closed under us: onGone settles it (a fresh spawner or a direct spawn).
      this.onGone();
    }
  }

  /** The request's environment as the spawner is told it: by id when it holds it, else in full (and kept). */
  private envOf(env: Record<string, string | undefined>): { envId: number; env?: Record<string, string | undefined> } {
    for (const known of this.envs) if (sameEnv(known, env)) return { envId: known.id };
    const copy = { ...env };
    const id = nextEnvId++;
    this.envs.push({ id, env: copy, size: Object.keys(copy).length });
    if (this.envs.length > ENVS_KEPT) this.envs.shift();
    stats.envsSent++;
    return { envId: id, env: copy };
  }

  private onMessage(message: Message): void {
    if (message.t === 'ready') {
      this.ready = true;
      this.readyAt = performance.now();
      failedStarts = 0;
      return;
    }
    if (message.t === 'taken') {
      for (const id of message.ids) {
        const request = this.requests.get(id);
        if (request) request.taken = true;
      }
      return;
    }
    const request = this.requests.get(message.id);
    if (!request) return;
    if (message.t === 'pid') {
      request.pid = message.pid;
      this.unstarted--;
      stats.viaSpawner++;
      if (request.options.held) stats.held++;
      else stats.startMsTotal += performance.now() - request.sentAt;
      request.started(message.pid);
      if (request.goAsked) this.sendGo(request);
      if (request.killGraceMs !== undefined) this.killStarted(request);
    } else if (message.t === 'out') {
      request.chunks.push(...message.chunks);
    } else {
      this.requests.delete(message.id);
      if (this.requests.size === 0) this.idle();
      request.chunks.push(...message.chunks);
      if (request.pid === undefined) {
        this.unstarted--;
        request.started(undefined);
      }
      let spawnError: NodeJS.ErrnoException | undefined;
      if (message.spawnError) {
        const { message: text, ...fields } = message.spawnError;
        spawnError = Object.assign(new Error(text), fields) as NodeJS.ErrnoException;
      }
      request.resolve(childOutcome(request.pid, request.chunks, message.code, message.signal, message.truncated, spawnError));
    }
  }

  /** Lets a held program run, once its pid is known (asked earlier, it is sent when the pid comes). */
  sendGo(request: Request): void {
    if (request.pid === undefined || this.gone) return;
    try {
      this.child.send({ t: 'go', id: request.id });
    } catch {
      this.onGone();
    }
  }

  /** The caller is killing `request`: once its pid is known, its outcome has a deadline. */
  killStarted(request: Request): void {
    if (request.pid === undefined || request.killedBy !== undefined) return;
    request.killedBy = performance.now() + request.killGraceMs!;
    this.watch();
  }

  /** When the spawner must have answered for `request`, or undefined (it is running, unhurried). */
  private deadline(request: Request): number | undefined {
    if (request.pid === undefined) {
      return this.readyAt === undefined ? this.createdAt + watchdog.readyMs : Math.max(request.sentAt, this.readyAt) + watchdog.startMs;
    }
    return request.killedBy === undefined ? undefined : request.killedBy + watchdog.doneAfterKillMs;
  }

  /** Kills the spawner when a deadline passed; otherwise sets a timer for the next one. */
  private watch(): void {
    if (this.gone) return;
    let due = Infinity;
    for (const request of this.requests.values()) due = Math.min(due, this.deadline(request) ?? Infinity);
    const now = performance.now();
    if (due <= now) {
      // Frozen (SIGSTOP, a hung machine): killed, it is a dead spawner, which onGone settles.
      stats.frozen++;
      this.child.kill('SIGKILL');
      return;
    }
    if (due >= this.watchDue) return;
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.watchDue = due;
    this.watchTimer = undefined;
    if (due === Infinity) return;
    this.watchTimer = setTimeout(() => {
      this.watchTimer = undefined;
      this.watchDue = Infinity;
      this.watch();
    }, due - now + 1);
    this.watchTimer.unref();
  }

  /** The spawner exited or its channel closed: settle everything it held. */
  private onGone(): void {
    if (this.gone) return;
    this.gone = true;
    const slot = pool.indexOf(this);
    if (slot !== -1) pool[slot] = undefined;
    if (!this.ready) {
      failedStarts++;
      lastFailedStart = Date.now();
    }
    if (this.watchTimer) clearTimeout(this.watchTimer);
    const requests = [...this.requests.values()];
    this.requests.clear();
    this.unstarted = 0;
    this.idle();
    for (const request of requests) {
      if (request.taken) {
        // It was running, or may be (killed between its spawn and the pid message): its result
        // is lost, and running it again could run it twice. A verify command's tree goes with it.
        stats.lost++;
        if (request.pid !== undefined && request.options.detached) signalProcessGroup(request.pid, 'SIGKILL');
        const what = request.pid === undefined ? 'after taking' : `while running (pid ${request.pid})`;
        request.reject(
          new PasError('PAS_ERR_SPAWNER', `the spawner died ${what} ${request.options.file}; its result is lost, the next request starts a fresh spawner`, {
            details: { program: request.options.file, cwd: request.options.cwd },
          }),
        );
        continue;
      }
      if (request.killGraceMs !== undefined) {
        // The caller stopped it before it started: it never runs.
        request.started(undefined);
        request.resolve(childOutcome(undefined, [], null, null, false));
        continue;
      }
      // Never taken, so never started: once more on a fresh spawner, or directly if none will start.
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

/** Whether `env` holds exactly the kept environment's variables and values. */
function sameEnv(known: { env: Record<string, string | undefined>; size: number }, env: Record<string, string | undefined>): boolean {
  let size = 0;
  for (const key in env) {
    if (known.env[key] !== env[key] || !Object.hasOwn(known.env, key)) return false;
    size++;
  }
  return size === known.size;
}
