/**
 * Part `distribution` — programmers on other hosts (step 16). Two measurements, one run:
 *
 *   1. Parallel speedup, distributed against in-process. The `full` path of the parallel part
 *      (pool → programmer → native executor → LLM over HTTP → commit → task branch) with N = k·P
 *      subtasks and the programmers' model a local Ollama-protocol server answering after L, run
 *      in this process and with the same P programmers spread over 1, 2 and 3 `pas worker`
 *      processes on a real `nats-server`, each repeat running every mode in turn (the central
 *      runtime stays in this process: pool, proxy
 *      programmer actors, journal, receipts; the workers run the same pipeline on their cached
 *      clones, the bases and results travelling as bundles). efficiency = ceil(N/P)·L / makespan;
 *      ratio = distributed efficiency / in-process efficiency at the same P (target ≥ 0.95 at P = 49).
 *   2. Detection of a lost worker: two workers, a task in flight on one, SIGKILL it; the time from
 *      the kill to the central process declaring it offline, to the pool re-dispatching the task,
 *      and to another worker receiving it, over several samples, against `offline_after_ms`.
 *
 * Skipped (with the reason in the JSON) when there is no `nats-server`.
 *
 * Run alone: `npx tsx scripts/bench-distribution.ts [--quick] [--programmers 49] [--workers 1,2,3]
 * [--repeats 3] [--detection 0] [--warmup 2000]` (the flags narrow the run: e.g. P = 49 only, no
 * detection part; `--warmup` sets the JIT warm-up tasks per process).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino, { type Logger } from 'pino';
import type { YAMLSeq } from 'yaml';
import type { TaskSpec } from '../machines/domain.ts';
import { POOL_ID } from '../machines/pas-system.machine.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { startDistribution, type Distribution } from '../src/distribution/central-service.ts';
import { connectNats } from '../src/distribution/nats-connection.ts';
import { closeObjectStores } from '../src/executors/object-store.ts';
import { openJournal } from '../src/journal/journal.ts';
import { createRuntime, type Runtime } from '../src/runtime/create-runtime.ts';
import { createDefaultServices } from '../src/runtime/default-services.ts';
import { silentLogger } from '../src/runtime/logger.ts';
import { NATS_SERVER_BIN, startNatsServer, type NatsServerHandle } from '../test/support/nats-server.ts';
import type { TempConfig } from '../test/support/test-config.ts';
import { cpuProfileDir, profileBatch } from './batch-profile.ts';
import { jitWarmUp, runBatch, taskSpecs, type BatchFigures, type ParallelRun } from './bench-parallel.ts';
import {
  BENCH_EDIT,
  benchConfig,
  benchFiles,
  clearProviderEnv,
  createBenchRepo,
  distribution,
  httpGetJson,
  isMain,
  machineInfo,
  median,
  REPO_ROOT,
  round,
  spawnFakeProvider,
  type SpawnedFakeProvider,
  tempDir,
  writeArtifact,
  type Distribution as Spread,
} from './bench-support.ts';
import { DISTRIBUTION_TARGET_LATENCY_MS } from './bench-targets.ts';

export interface DistributionBenchOptions {
  quick?: boolean;
  /**
   * Model latency L of the parallel runs (default 1500 ms, quick too: the target is set at L = 1.5 s,
   * and the distributed path's cost is per makespan, not per ms of L: at L = 500 ms it weighs three
   * times as much, and a quick run would judge another figure against the same target).
   */
  latencyMs?: number;
  /** Programmer counts (default 10 and 49). */
  programmers?: number[];
  /** Worker processes the programmers are spread over (default 1, 2, 3). */
  workerCounts?: number[];
  /** Subtasks per programmer (N = k·P, default 2). */
  tasksPerProgrammer?: number;
  /** Interleaved repeats of every mode; the figures are their medians (default 5, quick 1). */
  repeats?: number;
  /**
   * Tasks each process of a run runs with the model answering at once before its measured batch
   * (not counted; W workers: W times as many in all), so V8 has optimized what a long-running
   * process runs (default 2000, quick 100; 0: none). With 600, `--trace-opt` showed every worker
   * still compiling task-path functions for the first time inside the measured batch (61–193 ms
   * of TurboFan time each, at the round ends where the two cores are busiest; the in-process
   * mode too: 4.0 against 2.1 ms of CPU per task); with 2000, 1–6 ms.
   */
  warmupTasks?: number;
  /** Kill samples of the detection part (default 5, quick 3; 0 skips it). */
  detectionSamples?: number;
  /** distribution.heartbeat_ms and offline_after_ms of the detection part (default 250 and 1500). */
  heartbeatMs?: number;
  offlineAfterMs?: number;
  log?: (line: string) => void;
}

export interface DistributionRow extends BatchFigures {
  /** `in-process`, or `workers` (the programmers spread over `workers` pas worker processes). */
  mode: 'in-process' | 'workers';
  workers: number;
  /** Efficiency / the in-process efficiency at the same P (1 for in-process itself). */
  ratio: number;
  /**
   * CPU time per task of every process of the run (this process, the model server, and for the
   * distributed runs nats-server and the workers, each with the git processes it started), median
   * over the repeats; null where /proc is not readable. What the machine's load cannot change.
   */
  cpuMsPerTask: number | null;
  /**
   * The same CPU per task by process, median over the repeats (null without /proc): `central` is
   * this process's own (its main thread and helper threads, where everything the central process
   * does per task is serialized), `centralGit` the git processes it started, `workers` the worker
   * processes with theirs, `broker` nats-server, `model` the model server.
   */
  cpuSplit: { central: number; centralGit: number; workers: number; broker: number; model: number } | null;
  /**
   * Time per task the threads of the same processes spent ready to run with no core free (on a
   * run queue: /proc/PID/task/TID/schedstat), median over the repeats; null where the kernel keeps
   * no schedstat. What the machine's cores add to the work: the processes of a distributed run share
   * the cores the in-process mode has to itself, and each message hop waits its turn.
   */
  runQueueMsPerTask: number | null;
  /**
   * Messages through the broker per task during the measured batch (nats-server's /varz: in = what
   * clients published, out = what it delivered, JetStream's own API and ack traffic included) and
   * with nothing to do (per second, measured over 3 s after the batches); null in-process or
   * without the monitoring endpoint.
   */
  broker: { msgsInPerTask: number; msgsOutPerTask: number; kbInPerTask: number; kbOutPerTask: number; idleMsgsPerS: number } | null;
}

export interface DetectionSample {
  killedWorker: string;
  taskId: string;
  /** Kill → the central process logs the worker offline. */
  offlineMs: number;
  /** Kill → the pool starts the task again (a new attempt). */
  redispatchMs: number;
  /** Kill → a live worker received the task. */
  startedElsewhereMs: number;
  startedOn: string;
}

export interface DetectionResult {
  workers: number;
  programmersPerWorker: number;
  heartbeatMs: number;
  offlineAfterMs: number;
  ackWaitMs: number;
  latencyMs: number;
  samples: DetectionSample[];
  offlineMs: Spread;
  redispatchMs: Spread;
  startedElsewhereMs: Spread;
  /** p50 of kill → offline over offline_after_ms. */
  offlineP50OverSetting: number;
}

const PAS_BIN = path.join(REPO_ROOT, 'bin', 'pas.mjs');
/** Linux's USER_HZ (the unit of /proc/<pid>/stat times). */
const CLOCK_TICKS = 100;

/** A `pas worker` process of this run; its stdout lines (NDJSON with --json) are kept with their arrival. */
interface WorkerProcess {
  id: string;
  child: ChildProcess;
  entries: Array<Record<string, unknown>>;
  waitEntry(match: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Workers still running: killed if this process exits first (an interrupted run leaves none behind). */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * The measured workers' log level: as the central runtime and the in-process mode of the same run
 * log, not at all (see `logging` in the method), unless PAS_LOG_LEVEL is set for the bench.
 */
const MEASURED_WORKER_LOG_LEVEL = process.env.PAS_LOG_LEVEL ?? 'silent';

/** `node bin/pas.mjs worker --id ID` with this run's configs folder, resolved once it says it is up. */
async function spawnWorker(id: string, configDir: string, dataDir: string, json: boolean): Promise<WorkerProcess> {
  // The detection part (json) reads the workers' JSON log.
  const env = { ...process.env, PAS_CONFIG_DIR: configDir, ...(json ? {} : { PAS_LOG_LEVEL: MEASURED_WORKER_LOG_LEVEL }) };
  // PAS_BENCH_WORKER_NODE_ARGS: node flags for the workers (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`, which NODE_OPTIONS refuses).
  const nodeArgs = (process.env.PAS_BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, PAS_BIN, 'worker', '--id', id, '--data-dir', dataDir, json ? '--json' : '--quiet'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const entries: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  let text = '';
  let buffered = '';
  let up = false;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('{')) {
        try {
          entries.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a log entry
        }
      } else {
        text += `${line}\n`;
        if (line.includes(' is up')) up = true;
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`pas worker ${id} not up within 60 s:\n${text.slice(-2000)}`)), 60_000);
    const onExit = (code: number | null) => fail(new Error(`pas worker ${id} exited (${code}) before it was up:\n${text.slice(-2000)}`));
    const check = () => {
      if (!up) return;
      done();
      resolve();
    };
    const done = () => {
      clearTimeout(timer);
      waiters.delete(check);
      child.off('exit', onExit);
    };
    const fail = (err: Error) => {
      done();
      child.kill('SIGKILL');
      reject(err);
    };
    waiters.add(check);
    child.once('exit', onExit);
  });
  return {
    id,
    child,
    entries,
    waitEntry(match, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = entries.find(match);
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`pas worker ${id}: no such log entry within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited(child);
      clearTimeout(timer);
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}

interface DistributionSettings {
  natsUrl: string;
  prefix: string;
  /** Left out: the defaults of pas.yaml's `distribution`. */
  heartbeatMs?: number;
  offlineAfterMs?: number;
  ackWaitMs?: number;
}

/** Every programmer of the configs folder hosted by one of `workers` (round robin), and `distribution` on. */
function distribute(cfg: TempConfig, workers: readonly string[], s: DistributionSettings, maxRetries?: number): void {
  cfg.edit('programmer_pool.yaml', (doc) => {
    const count = (doc.get('programmers') as YAMLSeq).items.length;
    for (let i = 0; i < count; i++) doc.setIn(['programmers', i, 'host'], workers[i % workers.length]);
    if (maxRetries !== undefined) doc.setIn(['failover', 'max_retries'], maxRetries);
  });
  cfg.edit('pas.yaml', (doc) => {
    const timing = { heartbeat_ms: s.heartbeatMs, offline_after_ms: s.offlineAfterMs, ack_wait_ms: s.ackWaitMs };
    doc.set('distribution', doc.createNode({ nats_url: s.natsUrl, prefix: s.prefix, ...Object.fromEntries(Object.entries(timing).filter(([, v]) => v !== undefined)) }));
  });
}

/** The central side as `pas up` boots it (distribution first, then the runtime), in this process. */
interface Central {
  runtime: Runtime;
  stop(): Promise<void>;
}

async function startCentral(cfg: TempConfig, dataDir: string, logger?: Logger): Promise<Central> {
  const config = loadConfig(cfg.dir);
  const journal = openJournal(path.join(dataDir, 'pas.db'));
  let dist: Distribution | undefined;
  try {
    if (config.pas.distribution) dist = await startDistribution(config, logger ?? silentLogger());
    const services = createDefaultServices();
    const runtime = createRuntime({ config, dataDir, journal, services: dist ? dist.wrapServices(services) : services, ...(logger ? { logger } : {}) });
    dist?.attach(runtime);
    return {
      runtime,
      async stop() {
        await runtime.stop();
        await dist?.stop();
        journal.close();
      },
    };
  } catch (err) {
    await dist?.stop();
    journal.close();
    throw err;
  }
}

/** A pino logger that keeps the entries `keep` accepts (read by the detection part), at info level. */
function capturingLogger(keep: (line: string) => boolean): { logger: Logger; entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void (keep(line) && entries.push(JSON.parse(line) as Record<string, unknown>)) });
  return { logger, entries };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** CPU ms (user + system, with their children, reaped or still running: the git processes) of these processes so far; `apart` (the broker of an in-process run) is no one's child here. Null without /proc. */
function cpuMs(pids: readonly number[], apart: readonly number[]): number | null {
  let ms = 0;
  const byParent = childrenByParent();
  for (const pid of pids) {
    const c = cpuOf(pid, byParent, [...pids, ...apart]);
    if (!c) return null;
    ms += c[0] + c[1];
  }
  return ms;
}

function medianSplit(splits: readonly CpuSplit[]): CpuSplit {
  const m = (k: keyof CpuSplit) => round(median(splits.map((s) => s[k])), 1);
  return { central: m('central'), centralGit: m('centralGit'), workers: m('workers'), broker: m('broker'), model: m('model') };
}

/** utime, stime, cutime, cstime (ms) and the parent pid of one process, from /proc/PID/stat; null when it is gone. */
function procStat(pid: number): { own: number; reaped: number; ppid: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): ppid is 4, utime, stime, cutime, cstime are 14–17.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { own: ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS, reaped: ((Number(f[13]) + Number(f[14])) * 1000) / CLOCK_TICKS, ppid: Number(f[1]) };
  } catch {
    return null;
  }
}

/** Every running process by its parent pid (one /proc scan). */
function childrenByParent(): Map<number, number[]> {
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(Number(name));
    if (s) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), Number(name)]);
  }
  return byParent;
}

/**
 * CPU ms of one process so far: [its own (user + system), its children's]. The children's are
 * the reaped ones (cutime, cstime) and the running ones with their own descendants: the
 * long-lived gits (`cat-file --batch`, `update-ref --stdin`) run for the whole run and are reaped
 * only at its end, so the reaped counts alone miss them. The processes of `measured` (workers,
 * broker, model server: this process starts them) are counted on their own, not as its children.
 * Null without /proc.
 */
function cpuOf(pid: number, byParent: Map<number, number[]>, measured: readonly number[]): [number, number] | null {
  const s = procStat(pid);
  if (!s) return null;
  let children = s.reaped;
  for (const child of descendants(pid, byParent, measured)) {
    const c = procStat(child);
    if (c) children += c.own + c.reaped;
  }
  return [s.own, children];
}

/** The running descendants of a process, but those in `apart` and theirs (counted on their own). */
function descendants(pid: number, byParent: Map<number, number[]>, apart: readonly number[]): number[] {
  const found: number[] = [];
  const stack = [...(byParent.get(pid) ?? [])];
  while (stack.length > 0) {
    const child = stack.pop()!;
    if (apart.includes(child)) continue;
    found.push(child);
    stack.push(...(byParent.get(child) ?? []));
  }
  return found;
}

type CpuSplit = NonNullable<DistributionRow['cpuSplit']>;

/**
 * Run-queue wait so far by thread (`pid/tid` → ns) of these processes and of every process they
 * started that still runs, but `apart` (not measured: the idle broker of an in-process run): the
 * time a thread was ready to run and no core was free (the second field of
 * /proc/PID/task/TID/schedstat). Null where the kernel keeps no schedstat.
 */
function runQueueWaits(pids: readonly number[], apart: readonly number[]): Map<string, number> | null {
  const byParent = childrenByParent();
  const waits = new Map<string, number>();
  for (const root of pids) {
    for (const pid of [root, ...descendants(root, byParent, [...pids, ...apart])]) {
      let tids: string[];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        if (pid === root) return null;
        continue;
      }
      for (const tid of tids) {
        let stat: string;
        try {
          stat = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
        } catch (err) {
          // A thread that ended meanwhile; no schedstat at all: no figure.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync(`/proc/${pid}/task/${tid}`)) return null;
          continue;
        }
        const wait = Number(stat.split(' ')[1]);
        if (!Number.isFinite(wait)) return null;
        waits.set(`${pid}/${tid}`, wait);
      }
    }
  }
  return waits;
}

/**
 * Run-queue wait in ms between two readings: a thread started since counts from zero. A thread
 * or process that ended between them (a short-lived git) is not counted: a lower bound. A thread
 * id taken again by a new thread (it reads less than before) counts from zero.
 */
function runQueueMs(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): number {
  let ns = 0;
  for (const [thread, wait] of after) {
    const was = before.get(thread) ?? 0;
    ns += wait >= was ? wait - was : wait;
  }
  return ns / 1e6;
}

/** nats-server's message and byte counters so far (its /varz); null when it cannot be read. */
export async function brokerCounters(monitorUrl: string | undefined): Promise<{ inMsgs: number; outMsgs: number; inBytes: number; outBytes: number } | null> {
  if (!monitorUrl) return null;
  try {
    // Not fetch (see httpGetJson): its first use would compile undici's parser during the measured batch.
    const v = (await httpGetJson(`${monitorUrl}/varz`)) as { in_msgs?: unknown; out_msgs?: unknown; in_bytes?: unknown; out_bytes?: unknown } | null;
    const counters = { inMsgs: v?.in_msgs, outMsgs: v?.out_msgs, inBytes: v?.in_bytes, outBytes: v?.out_bytes };
    // A document without the four counts gives no figure rather than NaN in the report.
    return Object.values(counters).every((n) => typeof n === 'number' && Number.isFinite(n)) ? (counters as { inMsgs: number; outMsgs: number; inBytes: number; outBytes: number }) : null;
  } catch {
    return null;
  }
}

/** The CPU split of the run's processes so far (see DistributionRow.cpuSplit). */
function cpuSplitOf(pids: { model: number; broker?: number; workers: readonly number[] }, apart: readonly number[]): CpuSplit | null {
  const byParent = childrenByParent();
  const measured = [process.pid, pids.model, ...(pids.broker === undefined ? [] : [pids.broker]), ...pids.workers, ...apart];
  const central = cpuOf(process.pid, byParent, measured);
  const model = cpuOf(pids.model, byParent, measured);
  const broker = pids.broker === undefined ? [0, 0] : cpuOf(pids.broker, byParent, measured);
  const workers = pids.workers.map((pid) => cpuOf(pid, byParent, measured));
  if (!central || !model || !broker || workers.some((w) => !w)) return null;
  const sum = (c: readonly number[]) => c[0]! + c[1]!;
  return { central: central[0], centralGit: central[1], workers: workers.reduce((t, w) => t + sum(w!), 0), broker: sum(broker), model: sum(model) };
}

/** One mode of the parallel part: every programmer in this process, or spread over `workers` pas worker processes. */
interface Mode {
  mode: DistributionRow['mode'];
  workers: number;
}

/** What one measured batch of a mode gave (see DistributionRow). */
interface Sample {
  run: ParallelRun;
  cpu: number | null;
  split: CpuSplit | null;
  /** Run-queue wait per task (ms), null without schedstat. */
  runQueue: number | null;
  traffic: { inMsgs: number; outMsgs: number; inBytes: number; outBytes: number } | null;
  idleMsgsPerS: number | null;
}

/**
 * The parallel runs at P, interleaved: each repeat runs every mode once, in turn (in-process, then
 * over each number of workers), so a slow spell of a shared machine falls on every mode alike, not
 * on whichever ran last. Each run starts from nothing (its own copy of the same repository, fresh
 * data dirs, processes started for it, a warm-up): no mode inherits another's refs, objects,
 * background folds or caches. The same model server and tasks throughout.
 */
async function parallelAt(
  P: number,
  nats: NatsServerHandle,
  o: { latencyMs: number; k: number; repeats: number; warmupTasks: number; workerCounts: number[]; log: (l: string) => void },
): Promise<DistributionRow[]> {
  const { latencyMs, k, repeats } = o;
  const N = k * P;
  const idealMs = Math.ceil(N / P) * latencyMs;
  const scratch = tempDir('pas-bench-dist-');
  const fake = await spawnFakeProvider({ kind: 'ollama', latencyMs, reply: BENCH_EDIT });
  const modes: Mode[] = [{ mode: 'in-process', workers: 0 }, ...o.workerCounts.map((w) => ({ mode: 'workers' as const, workers: w }))];
  const samples: Sample[][] = modes.map(() => []);
  try {
    for (let r = 0; r < repeats; r++) {
      // The order turns each repeat: no mode always runs right after the same other one.
      for (let j = 0; j < modes.length; j++) {
        const i = (j + r) % modes.length;
        const m = modes[i]!;
        // The broker's idle traffic is measured once per mode, after its last batch.
        samples[i]!.push(await sampleOnce(P, m, r, { scratch, fake, nats, idealMs, latencyMs, N, warmupTasks: o.warmupTasks, idle: r === repeats - 1, log: o.log }));
      }
    }
  } finally {
    await fake.close();
    rmSync(scratch, { recursive: true, force: true, maxRetries: 10 });
  }
  const rows: DistributionRow[] = [];
  for (const [i, { mode, workers: W }] of modes.entries()) {
    const got = samples[i]!;
    const runs = got.map((g) => g.run);
    const cpu = got.map((g) => g.cpu).filter((c): c is number => c !== null);
    const splits = got.map((g) => g.split).filter((c): c is CpuSplit => c !== null);
    const waits = got.map((g) => g.runQueue).filter((w): w is number => w !== null);
    const traffic = got.map((g) => g.traffic).filter((t): t is NonNullable<Sample['traffic']> => t !== null);
    const idleMsgsPerS = got.at(-1)?.idleMsgsPerS ?? null;
    const broker: DistributionRow['broker'] =
      idleMsgsPerS === null || traffic.length !== repeats
        ? null
        : { msgsInPerTask: round(median(traffic.map((t) => t.inMsgs)), 1), msgsOutPerTask: round(median(traffic.map((t) => t.outMsgs)), 1), kbInPerTask: round(median(traffic.map((t) => t.inBytes)) / 1024, 1), kbOutPerTask: round(median(traffic.map((t) => t.outBytes)) / 1024, 1), idleMsgsPerS };
    const makespanMs = median(runs.map((r) => r.makespanMs));
    const efficiency = round(idealMs / makespanMs, 4);
    const inProcess = rows.find((r) => r.mode === 'in-process')?.efficiency;
    rows.push({ mode, workers: W, programmers: P, tasks: N, latencyMs, idealMs, makespanMs: round(makespanMs, 1), efficiency, ratio: inProcess ? round(efficiency / inProcess, 4) : 1, cpuMsPerTask: cpu.length === repeats ? round(median(cpu), 1) : null, cpuSplit: splits.length === repeats ? medianSplit(splits) : null, runQueueMsPerTask: waits.length === repeats ? round(median(waits), 1) : null, broker, runs });
  }
  return rows;
}

/** One measured batch of `m` at P, from nothing: a copy of the repository, the central runtime and its workers started, a warm-up, the batch, all stopped. */
async function sampleOnce(
  P: number,
  m: Mode,
  r: number,
  o: { scratch: string; fake: SpawnedFakeProvider; nats: NatsServerHandle; idealMs: number; latencyMs: number; N: number; warmupTasks: number; idle: boolean; log: (l: string) => void },
): Promise<Sample> {
  const { scratch, fake, nats, latencyMs, N, log } = o;
  const W = m.workers;
  const label = m.mode === 'in-process' ? 'in-process' : `${W} worker${W > 1 ? 's' : ''}`;
  const here = path.join(scratch, `p${P}-w${W}-r${r + 1}`);
  const { repo, baseCommit } = await createBenchRepo(path.join(here, 'repo'), benchFiles(N));
  const cfg = benchConfig({ programmers: P, programmerUrl: fake.url });
  const dataDir = path.join(here, 'central');
  mkdirSync(dataDir, { recursive: true });
  const ids = Array.from({ length: W }, (_, i) => `w${i + 1}`);
  // Its own stream and bucket names: nothing of an earlier run's is read.
  const prefix = `benchp${P}w${W}r${r + 1}`;
  if (W > 0) distribute(cfg, ids, { natsUrl: nats.url, prefix });
  const procs: WorkerProcess[] = [];
  let central: Central | undefined;
  try {
    central = await startCentral(cfg, dataDir);
    const t = performance.now();
    // Every worker that came up is stopped below, also when another did not.
    const spawned = await Promise.allSettled(ids.map((id) => spawnWorker(id, cfg.dir, path.join(here, `worker-${id}`), false)));
    for (const s of spawned) if (s.status === 'fulfilled') procs.push(s.value);
    const failed = spawned.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    if (W > 0) log(`  distribution P=${P} ${label}: workers up in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const managerId = central.runtime.config.programmers[0]!.parent;
    // JIT warm-up (see jitWarmUp) until every process has run warmupTasks (each worker its share).
    if (o.warmupTasks > 0) {
      const t = performance.now();
      const ran = await jitWarmUp(central.runtime, fake, {
        tasks: o.warmupTasks * Math.max(1, W),
        N,
        latencyMs,
        label: `distribution P=${P} ${label}`,
        specs: (b) => taskSpecs(`jit-p${P}-w${W}-r${r + 1}-b${b}`, benchFiles(N), repo, baseCommit, managerId),
      });
      log(`  distribution P=${P} ${label}: JIT warm-up of ${ran} tasks in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    // Warm-up (not counted): a batch like the measured one at the model's latency, so every host
    // has the base and every process has run the whole path at this pace.
    await runBatch(central.runtime, taskSpecs(`warm-p${P}-w${W}-r${r + 1}`, benchFiles(N), repo, baseCommit, managerId), latencyMs);
    const pids = [process.pid, fake.pid, ...(W > 0 ? [nats.pid, ...procs.map((p) => p.child.pid!)] : [])];
    const byRole = { model: fake.pid, workers: procs.map((p) => p.child.pid!), ...(W > 0 ? { broker: nats.pid } : {}) };
    // The broker's counters are read outside the CPU measurement (an HTTP GET from this process).
    const countersBefore = W > 0 ? await brokerCounters(nats.monitorUrl) : null;
    // The CPU read last before the batch and first after it: the /proc walks are not in it.
    const waitsBefore = runQueueWaits(pids, [nats.pid]);
    const splitBefore = cpuSplitOf(byRole, [nats.pid]);
    const before = cpuMs(pids, [nats.pid]);
    const { run, after, splitAfter, waitsAfter } = await profileBatch(`central-p${P}-w${W}-r${r + 1}`, async () => {
      const run = await runBatch(central!.runtime, taskSpecs(`bench-p${P}-w${W}-r${r + 1}`, benchFiles(N), repo, baseCommit, managerId), latencyMs);
      // Read before a profile (PAS_BENCH_CPU_PROFILE) is stopped and written: that is not the batch's CPU.
      return { run, after: cpuMs(pids, [nats.pid]), splitAfter: cpuSplitOf(byRole, [nats.pid]), waitsAfter: runQueueWaits(pids, [nats.pid]) };
    });
    const countersAfter = W > 0 ? await brokerCounters(nats.monitorUrl) : null;
    const traffic = countersBefore && countersAfter ? { inMsgs: (countersAfter.inMsgs - countersBefore.inMsgs) / N, outMsgs: (countersAfter.outMsgs - countersBefore.outMsgs) / N, inBytes: (countersAfter.inBytes - countersBefore.inBytes) / N, outBytes: (countersAfter.outBytes - countersBefore.outBytes) / N } : null;
    const cpu = before !== null && after !== null ? (after - before) / N : null;
    const runQueue = waitsBefore && waitsAfter ? runQueueMs(waitsBefore, waitsAfter) / N : null;
    const split = splitBefore && splitAfter ? (Object.fromEntries(Object.entries(splitAfter).map(([key, v]) => [key, (v - splitBefore[key as keyof CpuSplit]) / N])) as CpuSplit) : null;
    log(`  distribution ${label.padEnd(10)} P=${String(P).padStart(2)} N=${String(N).padStart(3)} run ${r + 1}: makespan ${run.makespanMs.toFixed(0)} ms (ideal ${o.idealMs})${cpu !== null ? `, ${cpu.toFixed(0)} ms CPU/task` : ''}${runQueue !== null ? `, ${runQueue.toFixed(1)} ms run-queue wait/task` : ''}${run.failed ? `, ${run.failed} failed` : ''}`);
    // What the broker carries with nothing to do (heartbeats, pull requests, consumers' idle heartbeats).
    let idleMsgsPerS: number | null = null;
    if (W > 0 && o.idle && traffic) {
      await new Promise((res) => setTimeout(res, 1_000));
      const idleBefore = await brokerCounters(nats.monitorUrl);
      await new Promise((res) => setTimeout(res, 3_000));
      const idleAfter = await brokerCounters(nats.monitorUrl);
      if (idleBefore && idleAfter) idleMsgsPerS = round((idleAfter.inMsgs - idleBefore.inMsgs + idleAfter.outMsgs - idleBefore.outMsgs) / 3, 1);
    }
    return { run, cpu, split, runQueue, traffic, idleMsgsPerS };
  } finally {
    try {
      await central?.stop();
    } finally {
      await Promise.allSettled(procs.map((p) => p.stop()));
      // This run's streams, buckets and object store go too: no later run shares a broker with them.
      if (W > 0) {
        await deleteRunStreams(nats.url, prefix).then(
          (n) => log(`  distribution P=${P} ${label}: its ${n} streams deleted`),
          (err: Error) => log(`  distribution: could not delete the streams of ${prefix} (${err.message})`),
        );
      }
      // This run's repository copy is gone next: its long-lived git processes go with it.
      await closeObjectStores();
      cfg.cleanup();
      // A clean-up that fails must not throw away the run's figures: the scratch folder goes at the end.
      try {
        rmSync(here, { recursive: true, force: true, maxRetries: 10 });
      } catch (err) {
        log(`  distribution: could not remove ${here} yet (${(err as Error).message})`);
      }
    }
  }
}

/** Deletes every JetStream stream of a run's prefix (its work queues, KV buckets and object store); answers how many. */
async function deleteRunStreams(url: string, prefix: string): Promise<number> {
  const nats = await connectNats(url, { name: 'pas-bench-cleanup', reconnect: false });
  try {
    const names: string[] = [];
    for await (const info of nats.jsm.streams.list()) if (info.config.name.includes(`PAS_${prefix}_`)) names.push(info.config.name);
    for (const name of names) await nats.jsm.streams.delete(name);
    return names.length;
  } finally {
    await nats.close();
  }
}

/** SIGKILLs a worker with a task in flight, `samples` times, and times detection and re-dispatch. */
async function detection(nats: NatsServerHandle, o: { samples: number; heartbeatMs: number; offlineAfterMs: number; log: (l: string) => void }): Promise<DetectionResult> {
  const { samples, heartbeatMs, offlineAfterMs, log } = o;
  // Long enough that the task is still in flight when its worker dies.
  const latencyMs = 2 * offlineAfterMs;
  const ackWaitMs = Math.max(1_000, 2 * offlineAfterMs);
  const workers = ['w1', 'w2'];
  const perWorker = 2;
  const scratch = tempDir('pas-bench-dist-detect-');
  const fake = await spawnFakeProvider({ kind: 'ollama', latencyMs, reply: BENCH_EDIT });
  const cfg = benchConfig({ programmers: workers.length * perWorker, programmerUrl: fake.url });
  distribute(cfg, workers, { natsUrl: nats.url, prefix: 'benchdetect', heartbeatMs, offlineAfterMs, ackWaitMs }, 4);
  const { logger, entries } = capturingLogger((line) => line.includes('"worker offline"'));
  const procs = new Map<string, WorkerProcess>();
  const out: DetectionSample[] = [];
  let central: Central | undefined;
  try {
    const dataDir = path.join(scratch, 'central');
    mkdirSync(dataDir, { recursive: true });
    central = await startCentral(cfg, dataDir, logger);
    const runtime = central.runtime;
    const workerDir = (id: string) => path.join(scratch, `worker-${id}`);
    for (const p of await Promise.all(workers.map((id) => spawnWorker(id, cfg.dir, workerDir(id), true)))) procs.set(p.id, p);
    const { repo, baseCommit } = await createBenchRepo(path.join(scratch, 'repo'), benchFiles(samples));
    const managerId = runtime.config.programmers[0]!.parent;
    const started: Array<{ taskId: string; programmerId: string; at: number }> = [];
    const finished = new Map<string, string>();
    const off = runtime.onFact((stated) => {
      if (stated.name === 'recordTaskStarted') started.push({ taskId: stated.fact.task.id, programmerId: stated.fact.programmerId, at: Date.now() });
      else if (stated.name === 'recordTaskFinished') finished.set(stated.fact.result.taskId, stated.fact.result.status);
    });
    try {
      for (let s = 0; s < samples; s++) {
        const task: TaskSpec = taskSpecs(`detect-${s + 1}`, [benchFiles(samples)[s]!], repo, baseCommit, managerId)[0]!;
        runtime.send(POOL_ID, { type: 'task.submitted', task });
        const received = await Promise.any([...procs.values()].map((p) => p.waitEntry((e) => e.msg === 'task received' && e.taskId === task.id).then(() => p)));
        const victim = received.id;
        const killedAt = Date.now();
        await received.kill9();
        const offline = await until('worker declared offline', () => entries.find((e) => e.worker === victim && (e.time as number) >= killedAt));
        const again = await until('task re-dispatched', () => started.find((x) => x.taskId === task.id && x.at >= killedAt));
        const live = [...procs.values()].filter((p) => p.id !== victim);
        const elsewhere = await Promise.any(live.map((p) => p.waitEntry((e) => e.msg === 'task received' && e.taskId === task.id).then((e) => ({ p, e }))));
        const status = await until('task finished', () => finished.get(task.id), 120_000);
        const sample: DetectionSample = {
          killedWorker: victim,
          taskId: task.id,
          offlineMs: (offline.time as number) - killedAt,
          redispatchMs: again.at - killedAt,
          startedElsewhereMs: (elsewhere.e.time as number) - killedAt,
          startedOn: elsewhere.p.id,
        };
        out.push(sample);
        log(`  distribution detection ${s + 1}/${samples}: killed ${victim}; offline after ${sample.offlineMs} ms, re-dispatched after ${sample.redispatchMs} ms, received by ${sample.startedOn} after ${sample.startedElsewhereMs} ms (task ${status})`);
        // The killed worker comes back (same id and data dir) for the next sample.
        if (s + 1 < samples) procs.set(victim, await spawnWorker(victim, cfg.dir, workerDir(victim), true));
      }
    } finally {
      off();
    }
  } finally {
    await central?.stop();
    await Promise.all([...procs.values()].map((p) => p.stop()));
    await fake.close();
    cfg.cleanup();
    rmSync(scratch, { recursive: true, force: true, maxRetries: 10 });
  }
  const offlineMs = distribution(out.map((s) => s.offlineMs), 0);
  return {
    workers: workers.length,
    programmersPerWorker: perWorker,
    heartbeatMs,
    offlineAfterMs,
    ackWaitMs,
    latencyMs,
    samples: out,
    offlineMs,
    redispatchMs: distribution(out.map((s) => s.redispatchMs), 0),
    startedElsewhereMs: distribution(out.map((s) => s.startedElsewhereMs), 0),
    offlineP50OverSetting: round(offlineMs.p50 / offlineAfterMs, 3),
  };
}

/** Whether the nats-server binary the tests use (PAS_NATS_SERVER, /usr/sbin/nats-server, or on PATH) exists. */
function natsServerFound(): boolean {
  if (NATS_SERVER_BIN.includes('/')) return existsSync(NATS_SERVER_BIN);
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, NATS_SERVER_BIN)));
}

export type DistributionBenchResult = Awaited<ReturnType<typeof runDistributionBench>>;

/** The figures a run uses: the options given, the rest by default (`quick` runs fewer repeats and warm-up tasks, at the same L). */
export function distributionSettings(options: DistributionBenchOptions = {}) {
  const quick = options.quick ?? false;
  return {
    latencyMs: options.latencyMs ?? DISTRIBUTION_TARGET_LATENCY_MS,
    programmerCounts: options.programmers ?? [10, 49],
    workerCounts: options.workerCounts ?? [1, 2, 3],
    k: options.tasksPerProgrammer ?? 2,
    // Interleaved repeats: the ratios are medians, not one run's luck on a shared machine. Five, not
    // three: with three, runs of the same code on the shared 2-core machine put the P = 49 ratios
    // anywhere in 0.94–0.98, either side of the 0.95 target, a slow batch or two moving a median.
    repeats: options.repeats ?? (quick ? 1 : 5),
    warmupTasks: options.warmupTasks ?? (quick ? 100 : 2000),
    samples: options.detectionSamples ?? (quick ? 3 : 5),
    heartbeatMs: options.heartbeatMs ?? 250,
    offlineAfterMs: options.offlineAfterMs ?? 1_500,
  };
}

export async function runDistributionBench(options: DistributionBenchOptions = {}) {
  const { latencyMs, programmerCounts, workerCounts, k, repeats, warmupTasks, samples, heartbeatMs, offlineAfterMs } = distributionSettings(options);
  const log = options.log ?? (() => {});
  const method = {
    latencyMs,
    tasksPerProgrammer: k,
    repeats,
    warmupTasks,
    programmers: programmerCounts,
    workerCounts,
    path: 'the parallel part\'s `full` path (pool → programmer actor → native executor → LLM client over HTTP → commit as git objects → task branch), N = k·P subtasks put into the pool at once, the programmers\' model a local Ollama-protocol server (its own process) answering after L',
    inProcess: 'every programmer in this process (createDefaultServices), as `pas up` runs without `distribution`',
    distributed: 'the central runtime in this process as `pas up` boots it with `distribution` (default timings; pool, proxy programmer actors, journal, receipts, bundle import), every programmer hosted by one of W `pas worker` processes (round robin), each with its own data dir and cached clone, on a real nats-server; the workers call the same model server',
    cpuMsPerTask: 'user + system CPU of every process of the run (with the git processes each started) during the measured batch, / N: what the machine\'s load does not change',
    runQueueMsPerTask: 'run-queue wait of the same processes\' threads during the measured batch (ready to run, no core free: /proc/PID/task/TID/schedstat), / N; a git process that ended within the batch is not in it (a lower bound). What sharing the machine\'s cores adds: it is not work, and it is what the load changes',
    broker: 'nats-server\'s /varz counters during the measured batch / N: msgs in (published by clients) and out (delivered), JetStream API and ack traffic included, and KiB; idle = in + out per second over 3 s with nothing to do, after the batches',
    cpuSplit: 'the same by process: central = this process\'s own CPU (what it does per task is serialized on its main thread), centralGit = the git processes it started, workers (with their git), broker = nats-server, model = the model server',
    order: 'interleaved: each repeat runs every mode once, in turn (in-process, then 1, 2, 3 workers), so a slow spell of the shared machine falls on every mode alike; each run starts from nothing: its own copy of the same repository, fresh data dirs and stream names, its processes started for it',
    warmUp: 'before each measured batch (not counted): batches of N with the model answering at once: warmupTasks in-process, W·warmupTasks over W workers, each worker running its programmers\' share (about warmupTasks each at P = 49; V8 has then optimized what a long-running process runs: a cold process compiles for hundreds of ms per batch on its helper threads, and after 600 tasks a worker still compiled task-path functions for the first time in the measured batch, 61–193 ms of TurboFan time per worker, against 1–6 ms after 2000), then a batch like the measured one at the model\'s latency (every worker host has the base in its cache)',
    logging: MEASURED_WORKER_LOG_LEVEL === 'silent'
      ? 'none in any measured process: the central runtime and the in-process mode run with the silent logger (as the parallel part), the workers with PAS_LOG_LEVEL=silent (a worker at info writes ~3 lines a task to its log file, work the in-process mode was not given); the detection part\'s workers log JSON (it reads them)'
      : `the workers at PAS_LOG_LEVEL=${MEASURED_WORKER_LOG_LEVEL} (set for this run), the central runtime and the in-process mode not at all: not the same work in both modes`,
    cpuProfile: cpuProfileDir() ?? null,
    makespan: 'performance.now() before the first task.submitted → the last task.finished delivered, median over the repeats (the CPU and broker figures too)',
    efficiency: 'ideal / makespan with ideal = ceil(N/P)·L',
    ratio: 'distributed efficiency / in-process efficiency at the same P, measured in the same run (target ≥ 0.95 at P = 49)',
    detection: 'two workers with two programmers each, one task at a time with a model answering after 2·offline_after_ms; once a worker logs "task received" it is SIGKILLed; offline = kill → the central process logs "worker offline" (pino time); redispatch = kill → the pool starts the task again; startedElsewhere = kill → the other worker logs "task received" (its pino time); the killed worker is started again before the next sample',
  };
  if (!natsServerFound()) return skipped(`no nats-server (looked for ${NATS_SERVER_BIN}${NATS_SERVER_BIN.includes('/') ? '' : ' on PATH'}); install it (apt-get install -y nats-server) or point PAS_NATS_SERVER at it`);
  function skipped(reason: string) {
    log(`  distribution: skipped — ${reason}`);
    return { part: 'distribution' as const, machine: machineInfo(), skipped: reason, method, rows: [] as DistributionRow[], detection: null as DetectionResult | null };
  }

  clearProviderEnv();
  const nats = await startNatsServer({ monitor: true });
  const rows: DistributionRow[] = [];
  let detected: DetectionResult | null = null;
  try {
    for (const P of programmerCounts) rows.push(...(await parallelAt(P, nats, { latencyMs, k, repeats, warmupTasks, workerCounts, log })));
    if (samples > 0) detected = await detection(nats, { samples, heartbeatMs, offlineAfterMs, log });
  } finally {
    await nats.close();
  }
  return { part: 'distribution' as const, machine: machineInfo(), skipped: null as string | null, method, rows, detection: detected };
}

/** The markdown of this part (what `pas bench` prints under its heading). */
export function distributionMarkdown(result: DistributionBenchResult): string[] {
  if (result.skipped) return [`*distribution: skipped — ${result.skipped}*`];
  const m = result.method;
  const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
  const lines = [
    `**Distribution** — the parallel part's *full* path with N = ${m.tasksPerProgrammer}·P subtasks, L = ${m.latencyMs} ms, ideal = ceil(N/P)·L, in this process and with the programmers spread over 1–3 \`pas worker\` processes on a local nats-server (central runtime in the bench process); ratio = efficiency / in-process efficiency at the same P, same run.`,
    '',
    '| programmers | where | N | ideal ms | makespan ms | efficiency | ratio to in-process | CPU ms/task (all processes) | central own / its git / workers / broker | run-queue wait ms/task | broker msgs in / out per task | broker msgs/s idle |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|',
    ...result.rows.map((r) => `| ${r.programmers} | ${r.mode === 'in-process' ? 'in-process' : `${r.workers} worker${r.workers > 1 ? 's' : ''}`} | ${r.tasks} | ${r.idealMs} | ${r.makespanMs.toFixed(0)} | ${pct(r.efficiency)} | ${r.ratio.toFixed(3)}× | ${r.cpuMsPerTask ?? '–'} | ${r.cpuSplit ? `${r.cpuSplit.central} / ${r.cpuSplit.centralGit} / ${r.cpuSplit.workers} / ${r.cpuSplit.broker}` : '–'} | ${r.runQueueMsPerTask ?? '–'} | ${r.broker ? `${r.broker.msgsInPerTask} / ${r.broker.msgsOutPerTask}` : '–'} | ${r.broker ? r.broker.idleMsgsPerS : '–'} |`),
  ];
  const d = result.detection;
  if (d) {
    lines.push(
      '',
      `Lost worker (SIGKILL with a task in flight, ${d.samples.length} samples; heartbeat_ms ${d.heartbeatMs}, offline_after_ms ${d.offlineAfterMs}):`,
      '',
      '| kill → | p50 ms | max ms |',
      '|---|---:|---:|',
      `| worker declared offline | ${d.offlineMs.p50} | ${d.offlineMs.max} |`,
      `| task re-dispatched by the pool | ${d.redispatchMs.p50} | ${d.redispatchMs.max} |`,
      `| task received by another worker | ${d.startedElsewhereMs.p50} | ${d.startedElsewhereMs.max} |`,
    );
  }
  return lines;
}

/** The run-alone flags that take numbers, and the option each sets. */
const LIST_FLAGS = { programmers: 'programmers', workers: 'workerCounts' } as const;
const NUMBER_FLAGS = { repeats: 'repeats', detection: 'detectionSamples', warmup: 'warmupTasks' } as const;

/**
 * The flags of a run alone: `--quick`, `--out DIR`, `--programmers 10,49`, `--workers 1,2,3`,
 * `--repeats N`, `--detection N`, `--warmup N`. Answers the options they set, or why they are
 * refused (a value that is not a whole number, a list where one number goes, a flag it does not
 * know: a mistyped flag would otherwise start a long run with the defaults).
 */
export function distributionFlags(argv: readonly string[]): { options: DistributionBenchOptions; out?: string } | { refused: string } {
  const options: DistributionBenchOptions = {};
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.startsWith('--') ? arg.slice(2) : '';
    if (name === 'quick') {
      options.quick = true;
    } else if (name === 'out') {
      out = argv[++i];
      if (!out || out.startsWith('--')) return { refused: '--out: expected a folder' };
    } else if (name in LIST_FLAGS || name in NUMBER_FLAGS) {
      const raw = argv[++i] ?? '';
      const single = name in NUMBER_FLAGS;
      if (!(single ? /^\d+$/ : /^\d+(,\d+)*$/).test(raw)) {
        return { refused: `--${name}: expected ${single ? 'a whole number' : 'a comma-separated list of whole numbers'}, got ${JSON.stringify(raw)}` };
      }
      const counts = raw.split(',').map(Number);
      if (single) options[NUMBER_FLAGS[name as keyof typeof NUMBER_FLAGS]] = counts[0]!;
      else options[LIST_FLAGS[name as keyof typeof LIST_FLAGS]] = counts;
    } else {
      return { refused: `${JSON.stringify(arg)}: not a flag of this benchmark (--quick, --out DIR, --programmers, --workers, --repeats, --detection, --warmup)` };
    }
  }
  return out === undefined ? { options } : { options, out };
}

if (isMain(import.meta.url)) {
  const flags = distributionFlags(process.argv.slice(2));
  if ('refused' in flags) {
    console.error(flags.refused);
    process.exit(2);
  }
  const result = await runDistributionBench({ ...flags.options, log: (l) => console.log(l) });
  const file = writeArtifact('distribution', result, flags.out);
  console.log(distributionMarkdown(result).join('\n'));
  console.log(`wrote ${file}`);
}
