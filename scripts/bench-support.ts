/**
 * What every benchmark part shares: the machine it ran on, percentiles, a temp configs folder
 * whose models point at local fixed-latency model servers, a scratch git repository, and the
 * artifact writer. Benchmarks are scripts, never timed tests.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Document } from 'yaml';
import { git } from '../src/executors/git-command.ts';
import { readAll } from '../src/llm/http-upstream.ts';
import type { FakeProviderOptions } from '../test/support/fake-llm-server.ts';
import { growPool, tempConfig, type TempConfig } from '../test/support/test-config.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..');
export const BENCH_DIR = path.join(REPO_ROOT, 'artifacts', 'bench');

export interface MachineInfo {
  date: string;
  host: string;
  platform: string;
  cpu: string;
  cores: number;
  memGiB: number;
  node: string;
  loadAvgAtStart: number[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    loadAvgAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Distribution {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function distribution(values: readonly number[], digits = 3): Distribution {
  const r = (v: number) => round(v, digits);
  const mean = values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
  return {
    n: values.length,
    min: r(values.length > 0 ? Math.min(...values) : Number.NaN),
    p50: r(percentile(values, 50)),
    p90: r(percentile(values, 90)),
    p95: r(percentile(values, 95)),
    p99: r(percentile(values, 99)),
    max: r(values.length > 0 ? Math.max(...values) : Number.NaN),
    mean: r(mean),
  };
}

export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The SEARCH/REPLACE edit every fake programmer model answers: the same README line in every task, so task branches merge cleanly. */
export const BENCH_EDIT = ['README.md', '<<<<<<< SEARCH', 'A scratch repository for PAS benchmarks.', '=======', 'A scratch repository for PAS benchmarks, edited by a programmer.', '>>>>>>> REPLACE', ''].join('\n');

/** A scratch repository with `files` source files and a README, one commit on main. */
export async function createBenchRepo(dir: string, files: readonly string[]): Promise<{ repo: string; baseCommit: string }> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await git(dir, ['init', '--quiet', '--initial-branch=main']);
  await git(dir, ['config', 'user.email', 'bench@pas.local']);
  await git(dir, ['config', 'user.name', 'PAS bench']);
  writeFileSync(path.join(dir, 'README.md'), '# bench\n\nA scratch repository for PAS benchmarks.\n');
  for (const file of files) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), `// ${file}\nexport const value = ${JSON.stringify(file)};\n`);
  }
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '--quiet', '-m', 'bench: scratch repository']);
  const head = await git(dir, ['rev-parse', 'HEAD']);
  return { repo: dir, baseCommit: head.stdout.trim() };
}

/**
 * A generated repository of at least `files` files of ~10 KB (so ~50 MB checked out for 5,000),
 * nested like a real project (`pkg/dNN/sub/fNNNN.ts`), plus the README and the `src/mNNN.ts`
 * files the benchmark's tasks name (benchFiles(100)). One commit on main.
 */
export async function createLargeRepo(dir: string, files: number): Promise<{ repo: string; baseCommit: string; files: number; bytes: number }> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await git(dir, ['init', '--quiet', '--initial-branch=main']);
  writeFileSync(path.join(dir, 'README.md'), '# bench\n\nA scratch repository for PAS benchmarks.\n');
  let bytes = 0;
  let count = 1;
  const named = benchFiles(100);
  for (const file of named) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    const text = `// ${file}\nexport const value = ${JSON.stringify(file)};\n`;
    writeFileSync(path.join(dir, file), text);
    bytes += text.length;
    count++;
  }
  const body = (i: number) =>
    Array.from({ length: 250 }, (_, line) => `export const f${i}_${line} = ${(i * 7919 + line * 104729) % 1_000_003}; // generated line\n`).join('');
  for (let i = 0; count < files; i++, count++) {
    const folder = path.join(dir, 'pkg', `d${String(i % 50).padStart(2, '0')}`, 'sub');
    if (i < 50) mkdirSync(folder, { recursive: true });
    const text = body(i);
    writeFileSync(path.join(folder, `f${String(i).padStart(4, '0')}.ts`), text);
    bytes += text.length;
  }
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '--quiet', '-m', 'bench: generated large repository']);
  const head = await git(dir, ['rev-parse', 'HEAD']);
  return { repo: dir, baseCommit: head.stdout.trim(), files: count, bytes };
}

export function benchFiles(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `src/m${String(i + 1).padStart(3, '0')}.ts`);
}

export interface BenchConfigOptions {
  programmers: number;
  /** Base URL of the local Ollama-protocol server every programmer model points at. */
  programmerUrl?: string;
  /** Base URL of the local Gemini-protocol server the Managers (plans) point at. */
  leadUrl?: string;
  /** Base URL of the local Anthropic-protocol server the Architect (lane routing) points at. */
  routerUrl?: string;
  maxQueuePerProgrammer?: number;
  /** Manager concurrency (jobs at once per Manager). */
  managerMaxConcurrent?: number;
}

/**
 * A temp copy of the shipped configs with `programmers` programmers (growPool), whose models point
 * at the given local servers. API keys are not needed by the local servers, so their env names go.
 */
export function benchConfig(options: BenchConfigOptions): TempConfig {
  const cfg = tempConfig('pas-bench-config-');
  growPool(cfg, options.programmers);
  cfg.edit('models.yaml', (doc: Document) => {
    if (options.programmerUrl) doc.setIn(['providers', 'ollama', 'base_url'], options.programmerUrl);
    if (options.leadUrl) {
      doc.setIn(['providers', 'google', 'base_url'], options.leadUrl);
      doc.deleteIn(['providers', 'google', 'api_key_env']);
    }
    if (options.routerUrl) {
      doc.setIn(['providers', 'anthropic', 'base_url'], options.routerUrl);
      doc.deleteIn(['providers', 'anthropic', 'api_key_env']);
    }
  });
  if (options.routerUrl) {
    cfg.edit('pas.yaml', (doc) => {
      doc.setIn(['architect', 'llm', 'primary'], doc.createNode({ provider: 'anthropic', model: 'claude-haiku-4', temperature: 0.1, max_tokens: 16 }));
      doc.deleteIn(['architect', 'llm', 'backup']);
    });
  }
  if (options.maxQueuePerProgrammer !== undefined) {
    cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['load_balancing', 'max_queue_per_programmer'], options.maxQueuePerProgrammer));
  }
  if (options.managerMaxConcurrent !== undefined) {
    cfg.edit('pas.yaml', (doc) => {
      const managers = doc.get('managers') as { items: unknown[] };
      for (let i = 0; i < managers.items.length; i++) doc.setIn(['managers', i, 'resources', 'max_concurrent_tasks'], options.managerMaxConcurrent);
    });
  }
  return cfg;
}

/** The providers' own base-URL env vars win over models.yaml; a bench must not be sent elsewhere by them. */
export function clearProviderEnv(): string[] {
  const cleared: string[] = [];
  for (const name of ['OLLAMA_HOST', 'OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL', 'GOOGLE_GEMINI_BASE_URL']) {
    if (process.env[name] !== undefined) {
      delete process.env[name];
      cleared.push(name);
    }
  }
  return cleared;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function writeArtifact(name: string, data: unknown, dir = BENCH_DIR): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/**
 * GETs a JSON document over node:http (an `http:` URL; a redirect is not followed). Benchmarks
 * read their probes (a server's counters) with this, not `fetch`: the first `fetch` of a process
 * loads undici, whose WebAssembly HTTP parser V8 then compiles with TurboFan on a background
 * thread (~165 ms of CPU in one measured run here) inside the batch the probe was read for.
 * Rejects, naming the URL, on a connection error, a status other than 2xx, a body that is not
 * JSON, or no whole answer within `timeoutMs`.
 */
export function httpGetJson(url: string, timeoutMs = 5_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const fail = (why: string, cause?: unknown) => reject(new Error(`GET ${url}: ${why}`, cause === undefined ? undefined : { cause }));
    const req = http.get(url, (res) => {
      readAll(res).then((body) => {
        const text = body.toString('utf8');
        const status = res.statusCode!;
        if (status < 200 || status > 299) return fail(`HTTP ${status}: ${text.slice(0, 200)}`);
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          fail(`the answer is not JSON (${(err as Error).message})`, err);
        }
      }, (err: Error) => fail(err.message, err));
    });
    // A deadline for the whole answer (the socket's own timeout only bounds each silence).
    const deadline = setTimeout(() => req.destroy(new Error(`no whole answer within ${timeoutMs} ms`)), timeoutMs);
    req.once('close', () => clearTimeout(deadline));
    req.on('error', (err) => fail(err.message, err));
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `--quick` / `--out DIR` for a part run on its own. */
export function cliFlags(argv = process.argv.slice(2)): { quick: boolean; out?: string } {
  const quick = argv.includes('--quick');
  const i = argv.indexOf('--out');
  const out = i >= 0 ? argv[i + 1] : undefined;
  return out ? { quick, out } : { quick };
}

/** True when this module is the script node was started with. */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  return path.resolve(entry) === new URL(metaUrl).pathname;
}

export interface SpawnedProvider {
  url: string;
  pid: number;
  /** Writes one line to the script's stdin; resolves with the next line it prints (see SpawnedScript). */
  request(line: string, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

export interface SpawnedFakeProvider extends SpawnedProvider {
  /** The delay before every answer from the next request on (resolves once the server has it). */
  setLatency(ms: number): Promise<void>;
}

/** startFakeProvider in a child process (scripts/bench-fake-llm.ts); `close` ends it. */
export async function spawnFakeProvider(options: FakeProviderOptions): Promise<SpawnedFakeProvider> {
  const spawned = await spawnListening('bench-fake-llm.ts', JSON.stringify(options));
  return {
    ...spawned,
    async setLatency(ms) {
      const answer = await spawned.request(JSON.stringify({ latencyMs: ms }));
      if ((JSON.parse(answer) as { latencyMs?: unknown }).latencyMs !== ms) throw new Error(`the fake model server answered ${answer} to a latency of ${ms} ms`);
    },
  };
}

/** Runs `fn` with the fake model server answering after `ms`, its latency set back to `restore` whatever happens. */
export async function atLatency<T>(fake: SpawnedFakeProvider, ms: number, restore: number, fn: () => Promise<T>): Promise<T> {
  await fake.setLatency(ms);
  try {
    return await fn();
  } finally {
    await fake.setLatency(restore);
  }
}

/**
 * A script of scripts/ in its own process that prints `{"url": …}` once it listens and exits
 * when its stdin closes (the fake model servers, the pass-through proxy); `close` ends it.
 */
export async function spawnListening(script: string, arg: string): Promise<SpawnedProvider> {
  const spawned = await spawnScript(script, arg);
  const { url } = spawned.first as { url?: unknown };
  if (typeof url !== 'string') {
    await spawned.close();
    throw new Error(`${script} printed ${JSON.stringify(spawned.first)}, not its url`);
  }
  return { url, pid: spawned.pid, request: spawned.request, close: spawned.close };
}

export interface SpawnedScript {
  /** The first line it printed, parsed (its address, or that it is ready). */
  first: unknown;
  pid: number;
  /**
   * Writes one line to its stdin; resolves with the next line it prints (requests are answered in
   * order). Rejects when it is closing or gone; one not answered within `timeoutMs` (default 10 min)
   * kills it and fails every request.
   */
  request(line: string, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * A script of scripts/ in its own process (node with tsx) that prints one JSON line once it is
 * ready, answers each line written to its stdin with one line, and exits when its stdin closes.
 */
export async function spawnScript(script: string, arg: string): Promise<SpawnedScript> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts', script), arg], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Every line it prints, in order: the first says it is ready, each later one answers a request.
  const waiting: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  // A request is never left pending: the process gone, its stdin broken or an answer overdue fails them all.
  const failAll = (err: Error) => {
    for (const w of waiting.splice(0)) w.reject(err);
  };
  // A write to a process that died (EPIPE) fails what waits, not this process.
  child.stdin!.on('error', (err) => failAll(new Error(`${script}'s stdin: ${err.message}`)));
  const firstLine = new Promise<unknown>((resolve, reject) => {
    let ready = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (ready) return waiting.shift()?.resolve(line);
      ready = true;
      try {
        resolve(JSON.parse(line));
      } catch (err) {
        reject(err as Error);
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
    child.once('error', reject);
  });
  let first: unknown;
  try {
    first = await firstLine;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  let closing = false;
  child.once('exit', (code, signal) => failAll(new Error(`${script} exited (${signal ?? code}) before it answered`)));
  return {
    first,
    pid: child.pid!,
    request(line, timeoutMs = 600_000) {
      return new Promise<string>((resolve, reject) => {
        if (closing || child.exitCode !== null || child.signalCode !== null) return reject(new Error(`${script} is not running`));
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          failAll(new Error(`${script} did not answer within ${timeoutMs} ms: killed`));
        }, timeoutMs);
        waiting.push({
          resolve: (answer) => {
            clearTimeout(timer);
            resolve(answer);
          },
          reject: (err) => {
            clearTimeout(timer);
            reject(err);
          },
        });
        child.stdin!.write(`${line}\n`);
      });
    },
    async close() {
      closing = true;
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
