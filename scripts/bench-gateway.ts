/**
 * Gateway benchmark (a script, never a timed test): `npx tsx scripts/bench-gateway.ts [--quick]`.
 *
 * 1. Requests/s of `GET /health` on a programmer's own port (and through the gateway's
 *    /agents/{id}/ prefix) next to a bare fastify server answering the same JSON, all measured in
 *    the same run, in interleaved rounds of a fixed number of requests. The load generator is a
 *    closed loop of keep-alive `node:http` clients in a worker thread (its own core when there is one).
 * 2. WebSocket fan-out latency to 100 clients on /ws: for every record the hub publishes (real
 *    transitions of jobs run end to end, then paced synthetic records), the time from the publish
 *    call to each client's receipt. The clients live in the gateway's process.
 *
 * Writes artifacts/bench/gateway.json. `runGatewayBench({quick})` is what `pas bench` calls.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import { WebSocket } from 'ws';
import type { FeedHub } from '../src/gateway/feed-hub.ts';
import { inProcessServices } from '../test/support/in-process-services.ts';
import { startTestTree, type TestTree } from '../test/support/test-tree.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '..');
const OUT = path.join(REPO_ROOT, 'artifacts', 'bench', 'gateway.json');

export interface GatewayBenchOptions {
  quick?: boolean;
  log?: (line: string) => void;
  /** Where the JSON goes (default artifacts/bench/gateway.json). */
  out?: string;
}

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  latencyMs: { p50: number; p99: number };
}

interface TargetResult {
  url: string;
  bodyBytes: number;
  rounds: LoadResult[];
  rpsMedian: number;
  latencyMs: { p50: number; p99: number };
  errors: number;
}

const round = (v: number, digits = 3) => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : Number.NaN);

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A closed loop of `concurrency` keep-alive clients sending `total` GETs, in a worker thread. */
const LOAD_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const { url, total, concurrency } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const latencies = new Float64Array(total);
let next = 0, done = 0, errors = 0;
function one() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get(url, { agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => { if (res.statusCode !== 200) errors++; latencies[done++] = performance.now() - t0; resolve(); });
    });
    req.on('error', () => { errors++; latencies[done++] = performance.now() - t0; resolve(); });
  });
}
async function worker() { while (next < total) { next++; await one(); } }
(async () => {
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  parentPort.postMessage({ seconds, errors, latencies: Array.from(latencies.subarray(0, done)) });
})();
`;

function load(url: string, total: number, concurrency: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(LOAD_WORKER, { eval: true, workerData: { url, total, concurrency } });
    worker.once('message', (m: { seconds: number; errors: number; latencies: number[] }) => {
      void worker.terminate();
      resolve({
        requests: m.latencies.length,
        errors: m.errors,
        seconds: round(m.seconds),
        rps: round(m.latencies.length / m.seconds, 1),
        latencyMs: { p50: round(percentile(m.latencies, 50)), p99: round(percentile(m.latencies, 99)) },
      });
    });
    worker.once('error', reject);
  });
}

/** Stamps the high-resolution time of every publish, keyed by the seq the hub gave the record. */
function instrument(hub: FeedHub): { publishedAt: Map<number, number>; restore(): void } {
  const publishedAt = new Map<number, number>();
  const original = hub.publish;
  hub.publish = function (this: FeedHub, record) {
    const t0 = performance.now();
    const out = original.call(this, record);
    publishedAt.set(out.seq, t0);
    return out;
  };
  return { publishedAt, restore: () => void (hub.publish = original) };
}

interface FanoutClient {
  ws: WebSocket;
  receivedAt: Map<number, number>;
}

async function connectClients(url: string, count: number): Promise<FanoutClient[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`);
      const receivedAt = new Map<number, number>();
      ws.on('message', (data) => {
        const t = performance.now();
        const seq = (JSON.parse(String(data)) as { type: string; seq: number }).seq;
        if (!receivedAt.has(seq)) receivedAt.set(seq, t);
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      return { ws, receivedAt };
    }),
  );
}

function fanoutStats(seqs: readonly number[], publishedAt: Map<number, number>, clients: FanoutClient[]) {
  const each: number[] = [];
  const slowest: number[] = [];
  let missing = 0;
  for (const seq of seqs) {
    const t0 = publishedAt.get(seq)!;
    let worst = 0;
    for (const c of clients) {
      const t = c.receivedAt.get(seq);
      if (t === undefined) {
        missing++;
        continue;
      }
      each.push(t - t0);
      worst = Math.max(worst, t - t0);
    }
    slowest.push(worst);
  }
  return {
    records: seqs.length,
    samples: each.length,
    missing,
    latencyMs: { p50: round(percentile(each, 50)), p99: round(percentile(each, 99)), max: round(Math.max(...each)) },
    lastClientMs: { p50: round(percentile(slowest, 50)), p99: round(percentile(slowest, 99)) },
  };
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function httpBench(tree: TestTree, quick: boolean, log: (l: string) => void) {
  const programmerPort = tree.gateway!.agentPorts.get('Prog-001')!;
  const agentUrl = `http://127.0.0.1:${programmerPort}/health`;
  const gatewayUrl = `${tree.url}/agents/Prog-001/health`;
  const sample = await (await fetch(agentUrl)).json();

  // The baseline: fastify with nothing of PAS, answering the same JSON object.
  const bare = Fastify({ logger: false });
  bare.get('/health', async () => sample);
  await bare.listen({ host: '127.0.0.1', port: 0 });
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/health`;

  const requests = quick ? 3000 : 20_000;
  const rounds = quick ? 2 : 3;
  const concurrency = 32;
  const targets: Record<'bare_fastify' | 'agent_port' | 'gateway_prefix', string> = { bare_fastify: bareUrl, agent_port: agentUrl, gateway_prefix: gatewayUrl };
  const bytes: Record<string, number> = {};
  for (const [name, url] of Object.entries(targets)) bytes[name] = Buffer.byteLength(await (await fetch(url)).text());
  const results: Record<string, LoadResult[]> = { bare_fastify: [], agent_port: [], gateway_prefix: [] };
  try {
    for (const url of Object.values(targets)) await load(url, Math.min(500, requests), concurrency); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const [name, url] of Object.entries(targets)) {
        const result = await load(url, requests, concurrency);
        results[name]!.push(result);
        log(`  http round ${r + 1}/${rounds} ${name.padEnd(15)} ${result.rps} req/s (p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ${result.errors} errors)`);
      }
    }
  } finally {
    await bare.close();
  }
  const summary = (name: keyof typeof targets): TargetResult => ({
    url: targets[name].replace(/:\d+\//, ':<port>/'),
    bodyBytes: bytes[name]!,
    rounds: results[name]!,
    rpsMedian: round(median(results[name]!.map((r) => r.rps)), 1),
    latencyMs: { p50: round(median(results[name]!.map((r) => r.latencyMs.p50))), p99: round(median(results[name]!.map((r) => r.latencyMs.p99))) },
    errors: results[name]!.reduce((n, r) => n + r.errors, 0),
  });
  const out = { bare_fastify: summary('bare_fastify'), agent_port: summary('agent_port'), gateway_prefix: summary('gateway_prefix') };
  return {
    method: { request: 'GET /health', requestsPerRound: requests, rounds, concurrency, client: 'closed loop of keep-alive node:http clients in a worker thread; rounds interleaved across targets; medians over rounds' },
    targets: out,
    ratios: {
      agentVsBare: round(out.agent_port.rpsMedian / out.bare_fastify.rpsMedian),
      gatewayPrefixVsBare: round(out.gateway_prefix.rpsMedian / out.bare_fastify.rpsMedian),
    },
  };
}

async function fanoutBench(tree: TestTree, quick: boolean, log: (l: string) => void) {
  const hub = tree.gateway!.hub;
  const clientCount = 100;
  const clients = await connectClients(tree.url, clientCount);
  const { publishedAt, restore } = instrument(hub);
  try {
    await until(() => clients.every((c) => c.receivedAt.size >= 1), 10_000, 'every hello');

    // Real transitions: jobs run end to end through the runtime.
    const firstReal = hub.stats().seq + 1;
    const jobs = quick ? 4 : 12;
    for (let i = 0; i < jobs; i++) {
      const job = tree.runtime.submitJob({ task: `fan-out job ${i}`, files: ['a.ts', 'b.ts', 'c.ts'] });
      await tree.runtime.waitForJob(job.id, 30_000);
    }
    await until(() => tree.runtime.tree().every((n) => n.state === 'IDLE' || n.state === 'closed'), 10_000, 'the tree to go idle');
    const lastReal = hub.stats().seq;
    await until(() => clients.every((c) => c.receivedAt.has(lastReal)), 10_000, 'every client to get the real transitions');
    const realSeqs = Array.from({ length: lastReal - firstReal + 1 }, (_, i) => firstReal + i);
    const real = fanoutStats(realSeqs, publishedAt, clients);
    log(`  ws real transitions: ${real.records} records × ${clientCount} clients, p50 ${real.latencyMs.p50} ms, p99 ${real.latencyMs.p99} ms`);

    // Paced synthetic records: one at a time, the next after every client has the previous one.
    const count = quick ? 200 : 1000;
    const synthSeqs: number[] = [];
    for (let i = 0; i < count; i++) {
      const { seq } = hub.publish({ agentId: 'Prog-001', role: 'programmer', from: 'IDLE', to: 'EXECUTING', event: 'bench.tick', jobId: 'bench', taskId: `bench-${i}` });
      synthSeqs.push(seq);
      await until(() => clients.every((c) => c.receivedAt.has(seq)), 10_000, `seq ${seq} at every client`);
    }
    const synthetic = fanoutStats(synthSeqs, publishedAt, clients);
    log(`  ws paced records:    ${synthetic.records} records × ${clientCount} clients, p50 ${synthetic.latencyMs.p50} ms, p99 ${synthetic.latencyMs.p99} ms`);
    return {
      method: {
        clients: clientCount,
        measured: 'from the FeedHub.publish call to the client socket message event, per record and client (performance.now, one process)',
        note: 'the 100 clients run in the gateway process and share its event loop; real = transitions of jobs run end to end with in-process executors; paced = one record at a time',
      },
      realTransitions: { jobs, ...real },
      paced: synthetic,
    };
  } finally {
    restore();
    for (const c of clients) c.ws.terminate();
  }
}

export async function runGatewayBench(options: GatewayBenchOptions = {}) {
  const quick = options.quick ?? false;
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const cpus = os.cpus();
  const machine = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memGiB: round(os.totalmem() / 2 ** 30, 1),
    loadAvgAtStart: os.loadavg().map((l) => round(l, 2)),
  };
  const started = performance.now();
  log(`gateway bench${quick ? ' (quick)' : ''}: booting a tree at a free port offset`);
  const tree = await startTestTree({ services: inProcessServices({ taskMs: 5 }) });
  let http: Awaited<ReturnType<typeof httpBench>>;
  let websocket: Awaited<ReturnType<typeof fanoutBench>>;
  try {
    http = await httpBench(tree, quick, log);
    websocket = await fanoutBench(tree, quick, log);
  } finally {
    await tree.close();
  }
  const t = http.targets;
  const rows = [
    { target: 'bare fastify (same JSON)', 'req/s': t.bare_fastify.rpsMedian, 'p50 ms': t.bare_fastify.latencyMs.p50, 'p99 ms': t.bare_fastify.latencyMs.p99, 'vs bare': 1 },
    { target: 'programmer own port /health', 'req/s': t.agent_port.rpsMedian, 'p50 ms': t.agent_port.latencyMs.p50, 'p99 ms': t.agent_port.latencyMs.p99, 'vs bare': http.ratios.agentVsBare },
    { target: 'gateway /agents/Prog-001/health', 'req/s': t.gateway_prefix.rpsMedian, 'p50 ms': t.gateway_prefix.latencyMs.p50, 'p99 ms': t.gateway_prefix.latencyMs.p99, 'vs bare': http.ratios.gatewayPrefixVsBare },
  ];
  const ws = websocket;
  const markdown = [
    `GET /health, ${http.method.requestsPerRound} requests × ${http.method.rounds} interleaved rounds, ${http.method.concurrency} keep-alive clients in a worker thread (median of rounds).`,
    '',
    '| target | req/s | p50 ms | p99 ms | vs bare fastify |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.target} | ${r['req/s']} | ${r['p50 ms']} | ${r['p99 ms']} | ${r['vs bare']}× |`),
    '',
    `WebSocket fan-out to ${ws.method.clients} clients (publish → receive): real job transitions p50 ${ws.realTransitions.latencyMs.p50} ms / p99 ${ws.realTransitions.latencyMs.p99} ms (${ws.realTransitions.records} records); paced records p50 ${ws.paced.latencyMs.p50} ms / p99 ${ws.paced.latencyMs.p99} ms (${ws.paced.records} records); all 100 clients reached: p99 ${ws.paced.lastClientMs.p99} ms.`,
  ].join('\n');
  const result = {
    part: 'gateway',
    quick,
    machine,
    seconds: round((performance.now() - started) / 1000, 1),
    http,
    websocket,
    rows,
    markdown,
  };
  const out = options.out ?? OUT;
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${path.relative(REPO_ROOT, out)} in ${result.seconds} s`);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const result = await runGatewayBench({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${result.markdown}\n`);
}
