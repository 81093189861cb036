/**
 * A PAS cluster on one machine, as a user runs it: a real `nats-server` (free port, temp store),
 * the central `pas up --offline` and `pas worker` processes (`node bin/pas.mjs worker …`), each
 * with its own data dir; the workers get no path to the user's repository. Programmers are all
 * remote, split over the workers; each edit of the offline model takes `editDelayMs` so tasks are
 * in flight when something is killed. With `online`, nothing is offline: the test points the
 * models at local servers that speak each provider's wire format and gives the keys to the
 * workers only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTerminalJobStatus } from '../../../machines/statuses.ts';
import { loadConfig } from '../../../src/config/load-config.ts';
import { buildTopology } from '../../../src/runtime/topology.ts';
import { expect } from 'vitest';
import { doubledInBranch } from '../../hardening/kill-support.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';
import { kill9, startPasUp, type PasProcess } from '../../support/pas-process.ts';
import { freePortOffset } from '../../support/ports.ts';
import { growPool, tempConfig, type TempConfig } from '../../support/test-config.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface WorkerProcess {
  id: string;
  child: ChildProcess;
  dataDir: string;
  output(): string;
}

export interface ClusterOptions {
  workers: string[];
  programmersPerWorker: number;
  editDelayMs: number;
  heartbeatMs?: number;
  offlineAfterMs?: number;
  ackWaitMs?: number;
  /** Starts the broker (default: startNatsServer() on 127.0.0.1). */
  startNats?: () => Promise<NatsServerHandle>;
  /** A program that runs the worker's node for it, e.g. `['ip', 'netns', 'exec', NAME]`. */
  workerWrap?: (id: string) => string[];
  /** Real models instead of the offline one (the config edits run last; env adds to each process's). */
  online?: { configure(cfg: TempConfig): void; centralEnv?: NodeJS.ProcessEnv; workerEnv?: NodeJS.ProcessEnv };
}

export interface Cluster {
  nats: NatsServerHandle;
  cfg: TempConfig;
  central: PasProcess;
  /** The central process's data dir (its receipts, journal and logs). */
  centralDataDir: string;
  workers: Map<string, WorkerProcess>;
  repo: TempRepo;
  /** programmer id → worker id */
  hostOf: Map<string, string>;
  startCentral(): Promise<PasProcess>;
  startWorker(id: string): Promise<WorkerProcess>;
  submit(files: string[], task?: string): Promise<string>;
  job(id: string): Promise<JobView>;
  waitJob(id: string, timeoutMs?: number): Promise<JobView>;
  /** Every entry of the central process's NDJSON logs (all its runs). */
  centralLog(): Array<Record<string, unknown>>;
  /** Resolves with the first central log entry `match` accepts. */
  waitLog(match: (entry: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Every entry of the worker's NDJSON logs. */
  workerLog(worker: string): Array<Record<string, unknown>>;
  /** Resolves with the first entry of the worker's NDJSON log that `match` accepts. */
  waitWorkerLog(worker: string, match: (entry: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** `http://127.0.0.1:<port>` of an agent's own server on the central process. */
  agentUrl(agentId: string): string;
  /** Resolves once one of the job's tasks runs on a programmer of `worker`. */
  waitRunningOn(jobId: string, worker: string, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

export interface JobView {
  job_id: string;
  status: string;
  merged_branch: string | null;
  tasks: Array<{ task_id: string; status: string; programmer_id: string | null; attempt: number; merged: boolean }>;
  receipt_files: string[];
  [key: string]: unknown;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pas-cluster-'));
  const nats = await (options.startNats ?? startNatsServer)();
  const cfg = tempConfig('pas-cluster-config-');
  const total = options.workers.length * options.programmersPerWorker;
  growPool(cfg, total);
  const hostOf = new Map<string, string>();
  cfg.edit('programmer_pool.yaml', (doc) => {
    for (let i = 0; i < total; i++) {
      const worker = options.workers[i % options.workers.length]!;
      doc.setIn(['programmers', i, 'host'], worker);
      hostOf.set(`Prog-${String(i + 1).padStart(3, '0')}`, worker);
    }
    doc.setIn(['failover', 'max_retries'], 4);
  });
  cfg.edit('pas.yaml', (doc) => {
    doc.set('distribution', doc.createNode({ nats_url: nats.url, prefix: 'test', heartbeat_ms: options.heartbeatMs ?? 250, offline_after_ms: options.offlineAfterMs ?? 3_000, ack_wait_ms: options.ackWaitMs ?? 5_000 }));
  });
  options.online?.configure(cfg);
  const top = buildTopology(loadConfig(cfg.dir));
  const portOffset = await freePortOffset([top.gatewayPort, ...top.agents.map((a) => a.port)], 100, { belowEphemeral: true });
  const repo = await createTempRepo({ 'README.md': '# cluster test\n', 'src/a.js': 'export const a = 1;\n', 'src/b.js': 'export const b = 1;\n', 'src/c.js': 'export const c = 1;\n', 'src/d.js': 'export const d = 1;\n' });
  const centralData = path.join(tmp, 'central');
  const children = new Set<ChildProcess>();
  const track = (child: ChildProcess) => {
    children.add(child);
    child.once('exit', () => children.delete(child));
  };
  const workers = new Map<string, WorkerProcess>();

  const startCentral = () => startPasUp({ configDir: cfg.dir, dataDir: centralData, portOffset, track, ...(options.online ? { args: ['--quiet'], env: options.online.centralEnv ?? {} } : {}) });
  const startWorker = async (id: string): Promise<WorkerProcess> => {
    const dataDir = path.join(tmp, `worker-${id}`);
    let output = '';
    const model = options.online ? [] : ['--offline', '--edit-delay-ms', String(options.editDelayMs)];
    const [command, ...prefix] = [...(options.workerWrap?.(id) ?? []), process.execPath];
    const child = spawn(command!, [...prefix, 'bin/pas.mjs', 'worker', '--id', id, ...model, '--data-dir', dataDir, '--quiet'], {
      cwd: ROOT,
      env: { ...process.env, ...options.online?.workerEnv, PAS_CONFIG_DIR: cfg.dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => {
        clearInterval(check);
        reject(new Error(`pas worker ${id} exited ${code} before it was up:\n${output}`));
      };
      const check = setInterval(() => {
        if (!output.includes('is up')) return;
        clearInterval(check);
        child.off('exit', onExit);
        resolve();
      }, 20);
      child.once('exit', onExit);
    });
    const w: WorkerProcess = { id, child, dataDir, output: () => output };
    workers.set(id, w);
    return w;
  };

  const cluster: Cluster = {
    nats,
    cfg,
    central: undefined as unknown as PasProcess,
    centralDataDir: centralData,
    workers,
    repo,
    hostOf,
    async startCentral() {
      cluster.central = await startCentral();
      return cluster.central;
    },
    startWorker,
    async submit(files, task = 'Add a note') {
      const res = await fetch(`${cluster.central.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task, files, repo: repo.repo }) });
      if (res.status !== 202) throw new Error(`submit: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { job_id: string }).job_id;
    },
    async job(id) {
      const res = await fetch(`${cluster.central.url}/api/jobs/${id}`);
      return (await res.json()) as JobView;
    },
    async waitJob(id, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const view = await cluster.job(id).catch(() => undefined);
        if (view && isTerminalJobStatus(view.status as never)) return view;
        if (Date.now() > deadline) throw new Error(`job ${id} not finished in ${timeoutMs} ms: ${JSON.stringify(view)}\ncentral:\n${cluster.central.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    centralLog: () => ndjsonIn(path.join(centralData, 'logs')),
    waitLog: (match, timeoutMs) => waitEntry(() => ndjsonIn(path.join(centralData, 'logs')), match, timeoutMs),
    workerLog: (worker) => ndjsonIn(path.join(workers.get(worker)!.dataDir, 'logs')),
    waitWorkerLog: (worker, match, timeoutMs) => waitEntry(() => ndjsonIn(path.join(workers.get(worker)!.dataDir, 'logs')), match, timeoutMs),
    agentUrl(agentId) {
      const agent = top.agents.find((a) => a.agentId === agentId);
      if (!agent) throw new Error(`${agentId} is not in the tree`);
      return `http://127.0.0.1:${agent.port + portOffset}`;
    },
    async waitRunningOn(jobId, worker, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const view = await cluster.job(jobId).catch(() => undefined);
        const task = view?.tasks?.find((t) => t.status === 'running' && t.programmer_id && hostOf.get(t.programmer_id) === worker);
        if (task) return task.task_id;
        if (Date.now() > deadline) throw new Error(`no task of ${jobId} ran on ${worker} in ${timeoutMs} ms: ${JSON.stringify(view?.tasks)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      for (const child of [...children]) await kill9(child);
      await nats.close();
      await repo.cleanup();
      cfg.cleanup();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  const say = (m: string) => process.env.PAS_CLUSTER_DEBUG && process.stderr.write(`[cluster] ${m}\n`);
  say(`nats ${nats.url}`);
  await cluster.startCentral();
  say('central up');
  await Promise.all(options.workers.map((id) => startWorker(id).then(() => say(`worker ${id} up`))));
  return cluster;
}

function ndjsonIn(dir: string): Array<Record<string, unknown>> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) =>
    readFileSync(path.join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  );
}

async function waitEntry(read: () => Array<Record<string, unknown>>, match: (entry: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = read().find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such log entry in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The task ids of every receipt line in these receipts files. */
export function receiptTasks(files: string[]): string[] {
  return files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { task_id: string }).task_id));
}

/** Every receipt line in these receipts files (one per task attempt). */
export function receiptLines(files: string[]): Array<{ task_id: string; status: string; error?: { code: string } }> {
  return files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { task_id: string; status: string; error?: { code: string } }));
}

/** Every file's offline edit is on the job branch, and no task is merged or committed there twice. */
export async function expectMergedOnce(c: Cluster, branch: string, files: string[]): Promise<void> {
  for (const f of files) expect(await gitOut(c.repo.repo, 'show', `${branch}:${f}`)).toContain('PAS offline note');
  expect(await doubledInBranch(c.repo.repo, branch)).toEqual([]);
}
