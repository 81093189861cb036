/**
 * Part 5 — footprint. `pas up --offline --quiet` is started as its own process with a configs
 * folder of 10 and of 49 programmers (PAS_CONFIG_DIR) at a free port offset and a temp data dir:
 * start-up = spawn → the gateway's GET /health answering 200; RSS = VmRSS of that process
 * (/proc/<pid>/status) right after, and again after 2 s idle; then SIGINT and the time to exit.
 * Next to it, in the same run, a bare node:http server process measured the same way.
 *
 * Run alone: `npx tsx scripts/bench-footprint.ts [--quick]`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load-config.ts';
import { buildTopology } from '../src/runtime/topology.ts';
import { freePortOffset } from '../test/support/ports.ts';
import { benchConfig, cliFlags, isMain, machineInfo, median, REPO_ROOT, round, sleep, tempDir, writeArtifact } from './bench-support.ts';

export interface FootprintOptions {
  quick?: boolean;
  programmers?: number[];
  repeats?: number;
  log?: (line: string) => void;
}

export interface FootprintSample {
  startupMs: number;
  rssMiB: number;
  rssIdleMiB: number;
  exitMs: number;
  exitCode: number | null;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? Number.NaN);
  return round(kb / 1024, 1);
}

async function untilHealthy(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before ${url} answered`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(10);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

async function measure(command: string[], env: NodeJS.ProcessEnv, healthUrl: string): Promise<FootprintSample> {
  const t0 = performance.now();
  const child = spawn(process.execPath, command, { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await untilHealthy(healthUrl, child, 60_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  const startupMs = performance.now() - t0;
  const rss = rssMiB(child.pid!);
  await sleep(2000);
  const rssIdle = rssMiB(child.pid!);
  const tStop = performance.now();
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const exitCode = await exited;
  clearTimeout(timer);
  return { startupMs: round(startupMs, 0), rssMiB: rss, rssIdleMiB: rssIdle, exitMs: round(performance.now() - tStop, 0), exitCode };
}

const BARE_SERVER = `require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.argv[1]), '127.0.0.1'); process.on('SIGINT', () => process.exit(0));`;

export async function runFootprintBench(options: FootprintOptions = {}) {
  const quick = options.quick ?? false;
  const sizes = options.programmers ?? [10, 49];
  const repeats = options.repeats ?? (quick ? 1 : 3);
  const log = options.log ?? (() => {});
  const rows = [];

  const bare: FootprintSample[] = [];
  for (let r = 0; r < repeats; r++) {
    const port = 100 + (await freePortOffset([100]));
    bare.push(await measure(['-e', BARE_SERVER, String(port)], process.env, `http://127.0.0.1:${port}/`));
  }
  const bareRow = {
    process: 'bare node:http server',
    programmers: 0,
    agents: 0,
    startupMs: median(bare.map((s) => s.startupMs)),
    rssMiB: median(bare.map((s) => s.rssMiB)),
    rssIdleMiB: median(bare.map((s) => s.rssIdleMiB)),
    startupVsBare: 1,
    rssVsBare: 1,
    samples: bare,
  };
  log(`  footprint bare node:http: start ${bareRow.startupMs} ms, RSS ${bareRow.rssMiB} MiB`);

  for (const size of sizes) {
    const cfg = benchConfig({ programmers: size });
    const samples: FootprintSample[] = [];
    let agents = 0;
    try {
      const config = loadConfig(cfg.dir);
      const topology = buildTopology(config);
      agents = topology.agents.length;
      for (let r = 0; r < repeats; r++) {
        const offset = await freePortOffset([topology.gatewayPort, ...topology.agents.map((a) => a.port)]);
        const dataDir = tempDir('pas-bench-footprint-');
        try {
          const sample = await measure(
            [path.join(REPO_ROOT, 'bin', 'pas.mjs'), 'up', '--offline', '--quiet', '--port-offset', String(offset), '--data-dir', dataDir],
            { ...process.env, PAS_CONFIG_DIR: cfg.dir },
            `http://127.0.0.1:${topology.gatewayPort + offset}/health`,
          );
          samples.push(sample);
          log(`  footprint pas up, ${size} programmers (${agents} agents): start ${sample.startupMs} ms, RSS ${sample.rssMiB} MiB, idle ${sample.rssIdleMiB} MiB, SIGINT→exit ${sample.exitMs} ms (code ${sample.exitCode})`);
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
      }
    } finally {
      cfg.cleanup();
    }
    const startupMs = median(samples.map((s) => s.startupMs));
    const rss = median(samples.map((s) => s.rssMiB));
    rows.push({
      process: 'pas up --offline --quiet',
      programmers: size,
      agents,
      startupMs,
      rssMiB: rss,
      rssIdleMiB: median(samples.map((s) => s.rssIdleMiB)),
      startupVsBare: round(startupMs / bareRow.startupMs, 1),
      rssVsBare: round(rss / bareRow.rssMiB, 1),
      samples,
    });
  }
  return {
    part: 'footprint',
    machine: machineInfo(),
    method: {
      repeats,
      startup: 'spawn of `node bin/pas.mjs up --offline --quiet --port-offset <free> --data-dir <tmp>` (tsx loader, config load + validation, SQLite journal, actor system, gateway and one fastify server per agent) → GET /health on the gateway answers 200; median over the repeats',
      rss: 'VmRSS from /proc/<pid>/status of that process right after /health answered, and after 2 s idle',
      baseline: 'a bare node:http server process (node -e), measured the same way in the same run',
    },
    rows: [bareRow, ...rows],
  };
}

if (isMain(import.meta.url)) {
  const flags = cliFlags();
  const result = await runFootprintBench({ quick: flags.quick, log: (l) => console.log(l) });
  console.log(`wrote ${writeArtifact('footprint', result, flags.out)}`);
}
