/**
 * The long soak of one `pas up` process: R rounds of N jobs each (default 3 × 1,000), submitted
 * over HTTP with C in flight, each a real job (plan → programmer → native executor with the
 * offline scripted model → git worktree → commit → merge) on one shared repository. After each
 * round, once every job has ended and the process has idled, it reads the process's RSS and heap
 * (from /proc and from its own /metrics), so growth from round to round shows what is kept.
 *
 *   npx tsx scripts/soak-rounds.ts [--rounds 3] [--jobs 1000] [--concurrency 20] [--idle-ms 3000]
 *
 * Writes artifacts/bench/soak.json; exits 1 when a job did not end or did not complete.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config/load-config.ts';
import { git } from '../src/executors/git-command.ts';
import type { CassetteEntry } from '../src/llm/providers/scripted-adapter.ts';
import { buildTopology } from '../src/runtime/topology.ts';
import { startPasUp } from '../test/support/pas-process.ts';
import { freePortOffset } from '../test/support/ports.ts';
import { tempConfig } from '../test/support/test-config.ts';
import { machineInfo, sleep, writeArtifact } from './bench-support.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    jobs: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '20' },
    'idle-ms': { type: 'string', default: '3000' },
  },
});
const ROUNDS = Number(values.rounds);
const JOBS = Number(values.jobs);
const CONCURRENCY = Number(values.concurrency);
const IDLE_MS = Number(values['idle-ms']);
const FILES = ['s1', 's2', 's3', 's4'] as const;
const TERMINAL = new Set(['completed', 'partial', 'failed', 'cancelled']);
const MiB = 1024 * 1024;

interface RoundReport {
  round: number;
  jobs: number;
  statuses: Record<string, number>;
  durationMs: number;
  jobsPerMin: number;
  rssMiB: number;
  peakRssMiB: number;
  heapUsedMiB: number | null;
}

function cassette(): CassetteEntry[] {
  return FILES.map((f) => ({
    match: { purpose: 'edit', contains: `This subtask covers only src/${f}.js.` },
    reply: `src/${f}.js\n<<<<<<< SEARCH\nexport const ${f} = 1;\n=======\nexport const ${f} = 2;\n>>>>>>> REPLACE\n`,
    usage: { input: 30, output: 8 },
  }));
}

/** VmRSS and VmHWM of a process, in MiB. */
function procMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function heapUsedMiB(url: string): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/m.exec(text);
  return match ? Number(match[1]) / MiB : null;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

const root = mkdtempSync(path.join(os.tmpdir(), 'pas-soak-rounds-'));
const cfg = tempConfig('pas-soak-rounds-cfg-');
const children = new Set<ChildProcess>();
let exitCode = 0;
try {
  writeFileSync(path.join(cfg.dir, 'cassettes', 'demo.yaml'), stringify({ entries: cassette() }));
  // Enough jobs in flight per Manager to keep the programmers busy.
  cfg.edit('pas.yaml', (doc) => {
    for (let i = 0; i < 3; i++) doc.setIn(['managers', i, 'resources', 'max_concurrent_tasks'], 20);
  });
  const repo = path.join(root, 'repo');
  mkdirSync(path.join(repo, 'src'), { recursive: true });
  await git(repo, ['init', '--quiet', '--initial-branch=main']);
  for (const f of FILES) writeFileSync(path.join(repo, 'src', `${f}.js`), `export const ${f} = 1;\n`);
  await git(repo, ['add', '-A']);
  await git(repo, ['commit', '--quiet', '-m', 'soak: initial']);

  const top = buildTopology(loadConfig(cfg.dir));
  const portOffset = await freePortOffset([top.gatewayPort, ...top.agents.map((a) => a.port)]);
  const pas = await startPasUp({ configDir: cfg.dir, dataDir: path.join(root, 'data'), portOffset, track: (c) => children.add(c) });
  const pid = pas.child.pid!;
  await sleep(IDLE_MS);
  const start = { rssMiB: round1(procMemory(pid).rss), heapUsedMiB: (await heapUsedMiB(pas.url)) ?? null };
  console.log(`pas up pid ${pid} at ${pas.url}: RSS ${start.rssMiB} MiB after boot`);

  const rounds: RoundReport[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const began = Date.now();
    const ids: string[] = [];
    let next = 0;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, procMemory(pid).rss)), 250);
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < JOBS) {
          const i = next++;
          const file = FILES[i % FILES.length]!;
          const res = await fetch(`${pas.url}/api/jobs`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ task: `Soak round ${round} job ${i}: bump ${file}`, lane: 'Code', files: [`src/${file}.js`], repo }),
          });
          const body = (await res.json()) as { job_id?: string };
          if (res.status !== 202 || !body.job_id) throw new Error(`job ${i} of round ${round} refused: ${res.status} ${JSON.stringify(body)}`);
          ids.push(body.job_id);
          // Keep at most CONCURRENCY jobs unfinished: wait for this one before submitting the next.
          for (;;) {
            const job = (await (await fetch(`${pas.url}/api/jobs/${body.job_id}`)).json()) as { status: string };
            if (TERMINAL.has(job.status)) break;
            await sleep(50);
          }
        }
      }),
    );
    const durationMs = Date.now() - began;
    clearInterval(sampler);
    const statuses: Record<string, number> = {};
    for (const id of ids) {
      const job = (await (await fetch(`${pas.url}/api/jobs/${id}`)).json()) as { status: string };
      statuses[job.status] = (statuses[job.status] ?? 0) + 1;
    }
    await sleep(IDLE_MS);
    const mem = procMemory(pid);
    const report: RoundReport = {
      round,
      jobs: ids.length,
      statuses,
      durationMs,
      jobsPerMin: round1((ids.length / durationMs) * 60_000),
      rssMiB: round1(mem.rss),
      peakRssMiB: round1(Math.max(peak, mem.peak)),
      heapUsedMiB: null,
    };
    const heap = await heapUsedMiB(pas.url);
    report.heapUsedMiB = heap === null ? null : round1(heap);
    rounds.push(report);
    if ((statuses.completed ?? 0) !== ids.length) exitCode = 1;
    console.log(
      `round ${round}: ${ids.length} jobs in ${(durationMs / 1000).toFixed(1)} s (${report.jobsPerMin}/min) → ${Object.entries(statuses).map(([s, n]) => `${n} ${s}`).join(', ')}; ` +
        `RSS ${report.rssMiB} MiB (peak ${report.peakRssMiB}), heap ${report.heapUsedMiB} MiB`,
    );
  }

  pas.child.kill('SIGTERM');
  const stopped = await new Promise<number | null>((resolve) => pas.child.once('exit', (code) => resolve(code)));
  const growth = rounds.slice(1).map((r, i) => ({ from: i + 1, to: r.round, rssMiB: round1(r.rssMiB - rounds[i]!.rssMiB), heapUsedMiB: r.heapUsedMiB !== null && rounds[i]!.heapUsedMiB !== null ? round1(r.heapUsedMiB - rounds[i]!.heapUsedMiB!) : null }));
  const file = writeArtifact('soak', {
    what: 'one pas up process, rounds of real jobs (offline scripted model, native executor, git worktrees, merges) on one repository; memory after each round once idle',
    machine: machineInfo(),
    settings: { rounds: ROUNDS, jobsPerRound: JOBS, concurrency: CONCURRENCY, idleMs: IDLE_MS },
    afterBoot: start,
    rounds,
    growth,
    exitCode: stopped,
  });
  console.log(`growth between rounds: ${growth.map((g) => `${g.from}→${g.to}: RSS ${g.rssMiB >= 0 ? '+' : ''}${g.rssMiB} MiB, heap ${g.heapUsedMiB} MiB`).join('; ')}`);
  console.log(`SIGTERM → exit ${stopped}; written ${file}`);
  if (stopped !== 0) exitCode = 1;
} finally {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  cfg.cleanup();
  rmSync(root, { recursive: true, force: true });
}
process.exitCode = exitCode;
