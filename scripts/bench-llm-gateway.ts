/**
 * The LLM gateway's cost (CONTRACT §9). The same Anthropic Messages calls go three ways in one
 * run, rotated call by call and batch by batch so the machine's load hits each alike:
 *   - direct: straight to a local fake provider (its own process);
 *   - bare proxy: through scripts/bench-passthrough-proxy.ts, a Node http proxy in its own process
 *     that only pipes bytes (the ceiling: what one extra Node hop costs on this machine);
 *   - PAS gateway: through `/llm/anthropic` of a real runtime in this process, logging to a file
 *     as `pas up` does (credential, budget, breaker, provider slot, pass-through, usage read on
 *     the side, the call booked and attributed).
 * The load generator is its own process (scripts/bench-llm-gateway-client.ts) with one kept-alive
 * socket pool per path. Reports the added latency per call (paired with the direct call of the
 * same round: p50/p90/p99) for a tiny request and an agent-sized one, the throughput ratio of
 * streamed (SSE) and plain JSON answers at several calls at once, and the CPU each process spent
 * per MB. Targets: ≤ 1 ms p50 added, ≥ 0.9× direct throughput on streamed answers.
 * Writes artifacts/bench/llm-gateway.json.
 *
 * Alone: `npx tsx scripts/bench-llm-gateway.ts [--quick] [--out DIR]`.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { BatchTotals, ClientPlan, ClientResult } from './bench-llm-gateway-client.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { createDefaultServices } from '../src/runtime/default-services.ts';
import { createLogger } from '../src/runtime/logger.ts';
import { startTestTree } from '../test/support/test-tree.ts';
import { tempConfig } from '../test/support/test-config.ts';
import { cliFlags, clearProviderEnv, distribution, isMain, REPO_ROOT, round, spawnFakeProvider, spawnListening, tempDir, writeArtifact, type Distribution } from './bench-support.ts';

const CLIENT = path.join(REPO_ROOT, 'scripts', 'bench-llm-gateway-client.ts');
const PATHS = ['direct', 'proxy', 'gateway'] as const;
const LABEL: Record<(typeof PATHS)[number], string> = { direct: 'direct', proxy: 'bare proxy', gateway: 'PAS gateway' };
const TARGET_ADDED_MS = 1;
const TARGET_STREAM_RATIO = 0.9;

/** Runs the load generator in its own process and returns what it printed. */
function runClient(plan: ClientPlan): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLIENT, JSON.stringify(plan)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`the bench client exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as ClientResult);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

const mbps = (t: BatchTotals) => t.bytes / 1e6 / (t.ms / 1000);
/** Each process's CPU per MB passed, and its share of the wall time (1 = one core all along). */
const cpuOf = (t: BatchTotals) =>
  Object.fromEntries(Object.entries(t.cpuMs).map(([k, ms]) => [k, { msPerMB: round(ms / (t.bytes / 1e6), 1), busy: round(ms / t.ms, 2) }]));
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

export async function runLlmGatewayBench(options: { quick?: boolean; log?: (line: string) => void } = {}) {
  const log = options.log ?? (() => undefined);
  const quick = options.quick === true;
  const latencyCalls = quick ? 300 : 1500;
  const throughputRounds = quick ? 6 : 20;
  const concurrency = 4;
  const streamWords = quick ? 2000 : 5000;
  const jsonWords = 20_000; // ~100 KiB answers (the reply travels in one argv string)
  const agentRequestBytes = 64 * 1024;
  clearProviderEnv();
  process.env.PAS_BENCH_ANTHROPIC_KEY = 'sk-ant-bench-not-a-real-key';

  const small = await spawnFakeProvider({ kind: 'anthropic', reply: 'ok' });
  const large = await spawnFakeProvider({ kind: 'anthropic', reply: 'word '.repeat(streamWords) });
  const bulky = await spawnFakeProvider({ kind: 'anthropic', reply: 'word '.repeat(jsonWords) });
  const proxy = await spawnListening('bench-passthrough-proxy.ts', JSON.stringify({ small: small.url, large: large.url, bulky: bulky.url }));
  const cfg = tempConfig('pas-bench-llmgw-');
  cfg.edit('models.yaml', (doc) => {
    doc.setIn(['providers', 'anthropic', 'base_url'], small.url);
    doc.setIn(['providers', 'anthropic', 'api_key_env'], 'PAS_BENCH_ANTHROPIC_KEY');
    const provider = (url: string) => doc.createNode({ kind: 'anthropic', base_url: url, api_key_env: 'PAS_BENCH_ANTHROPIC_KEY', timeout_s: 60, models: { 'claude-sonnet-4': { input_per_mtok: 3, output_per_mtok: 15 } } });
    doc.setIn(['providers', 'streamer'], provider(large.url));
    doc.setIn(['providers', 'bulky'], provider(bulky.url));
  });
  // Room for every bench call: the adaptive limit is not what is measured here.
  cfg.edit('programmer_pool.yaml', (doc) => doc.set('llm_concurrency', doc.createNode({ initial: 64, max: 64 })));
  const dataDir = tempDir('pas-bench-llmgw-data-');
  // As `pas up` logs: NDJSON to a file, secrets scrubbed (each call writes one line).
  const logger = createLogger({ file: path.join(dataDir, 'logs', 'bench.ndjson') });
  const tree = await startTestTree({ config: loadConfig(cfg.dir), services: createDefaultServices({}), agentPorts: false, dataDir, logger });
  try {
    const gw = tree.runtime.llmGateway!;
    const access = gw.openTask({ jobId: 'bench', taskId: 'bench-latency', programmerId: 'Prog-006', models: ['anthropic/claude-sonnet-4'] }, 3_600_000);
    const streamer = gw.openTask({ jobId: 'bench', taskId: 'bench-stream', programmerId: 'Prog-006', models: ['streamer/claude-sonnet-4'] }, 3_600_000);
    const bulkyTask = gw.openTask({ jobId: 'bench', taskId: 'bench-json', programmerId: 'Prog-006', models: ['bulky/claude-sonnet-4'] }, 3_600_000);
    const key = 'sk-ant-bench-not-a-real-key';
    const plan: ClientPlan = {
      paths: [
        { name: 'direct', small: `${small.url}/v1/messages`, large: `${large.url}/v1/messages`, bulky: `${bulky.url}/v1/messages`, key, largeKey: key, bulkyKey: key },
        { name: 'proxy', small: `${proxy.url}/small/v1/messages`, large: `${proxy.url}/large/v1/messages`, bulky: `${proxy.url}/bulky/v1/messages`, key, largeKey: key, bulkyKey: key },
        { name: 'gateway', small: `${access.baseUrl('anthropic')}/v1/messages`, large: `${streamer.baseUrl('anthropic')}/v1/messages`, bulky: `${bulkyTask.baseUrl('anthropic')}/v1/messages`, key: access.credential, largeKey: streamer.credential, bulkyKey: bulkyTask.credential },
      ],
      pids: { 'fake-streamed': large.pid, 'fake-json': bulky.pid, proxy: proxy.pid, gateway: process.pid },
      warmupCalls: quick ? 100 : 300,
      latencyCalls,
      throughputRounds,
      concurrency,
      agentRequestBytes,
    };
    log(`  ${latencyCalls} calls per path and request size, then ${throughputRounds} rounds of ${concurrency} answers at once per path (streamed, then JSON); paths rotated; load generator in its own process`);
    const loadBefore = os.loadavg();
    const measured = await runClient(plan);
    const loadAfter = os.loadavg();

    const latency = Object.fromEntries(
      Object.entries(measured.latency).map(([workload, byPath]) => {
        const direct = byPath.direct!;
        const paired = (name: string) => byPath[name]!.map((v, i) => v - direct[i]!);
        return [
          workload,
          {
            ms: Object.fromEntries(PATHS.map((p) => [p, distribution(byPath[p]!)])) as Record<(typeof PATHS)[number], Distribution>,
            addedMs: { proxy: distribution(paired('proxy')), gateway: distribution(paired('gateway')) },
          },
        ];
      }),
    ) as Record<'tiny' | 'agent', { ms: Record<(typeof PATHS)[number], Distribution>; addedMs: { proxy: Distribution; gateway: Distribution } }>;
    // The proxy and the gateway serve only their own path: all their CPU during a workload is its calls'.
    const cpuPerCallUs = Object.fromEntries(
      Object.entries(measured.latencyCpuMs).map(([workload, byPath]) => {
        const total = (proc: string) => Object.values(byPath).reduce((s, c) => s + (c[proc] ?? 0), 0);
        return [workload, { proxy: round((total('proxy') * 1000) / latencyCalls, 1), gateway: round((total('gateway') * 1000) / latencyCalls, 1) }];
      }),
    ) as Record<'tiny' | 'agent', { proxy: number; gateway: number }>;
    const throughput = Object.fromEntries(
      Object.entries(measured.throughput).map(([workload, byPath]) => {
        const direct = mbps(byPath.direct!);
        return [
          workload,
          {
            bytesPerAnswer: Math.round(byPath.gateway!.bytes / Math.max(1, byPath.gateway!.batches * concurrency)),
            MBps: Object.fromEntries(PATHS.map((p) => [p, round(mbps(byPath[p]!), 1)])),
            ratio: Object.fromEntries(PATHS.map((p) => [p, round(mbps(byPath[p]!) / direct, 3)])),
            cpu: Object.fromEntries(PATHS.map((p) => [p, cpuOf(byPath[p]!)])),
          },
        ];
      }),
    ) as Record<'streamed' | 'json', { bytesPerAnswer: number; MBps: Record<string, number>; ratio: Record<string, number>; cpu: Record<string, Record<string, { msPerMB: number; busy: number }>> }>;

    const seen = streamer.spent();
    const addedP50 = latency.tiny.addedMs.gateway.p50;
    const addedAgentP50 = latency.agent.addedMs.gateway.p50;
    const streamRatio = throughput.streamed.ratio.gateway!;
    const result = {
      part: 'llm-gateway',
      method: {
        provider: 'anthropic Messages (fake servers in their own processes)',
        paths: 'direct; bare Node pass-through proxy (own process); PAS gateway (a real runtime in the bench process, logging to a file)',
        latencyCallsPerPath: latencyCalls,
        requestBytes: measured.requestBytes,
        throughputRounds,
        concurrency,
        note: 'paths rotated call by call and batch by batch; the load generator is its own process; added latency = via − direct of the same round',
      },
      latency,
      cpuPerCallUs,
      throughput,
      addedLatencyMsP50: addedP50,
      addedLatencyMsP50AgentRequest: addedAgentP50,
      throughputRatio: streamRatio,
      jsonThroughputRatio: throughput.json.ratio.gateway!,
      proxyCeiling: { addedLatencyMsP50: latency.tiny.addedMs.proxy.p50, throughputRatio: throughput.streamed.ratio.proxy!, jsonThroughputRatio: throughput.json.ratio.proxy! },
      usageMeasuredByGateway: seen ? { calls: seen.calls, tokens: seen.tokens, costUsd: seen.costUsd } : null,
      loadAverage: { before: loadBefore.map((l) => round(l, 2)), after: loadAfter.map((l) => round(l, 2)), cores: os.cpus().length },
      targets: { addedLatencyMsP50: TARGET_ADDED_MS, throughputRatio: TARGET_STREAM_RATIO },
      meetsTargets: addedP50 <= TARGET_ADDED_MS && addedAgentP50 <= TARGET_ADDED_MS && streamRatio >= TARGET_STREAM_RATIO,
    };

    const n = (v: number | undefined, d = 3) => (v === undefined || !Number.isFinite(v) ? '–' : String(round(v, d)));
    const trio = (d: Distribution) => `${n(d.p50)} / ${n(d.p90)} / ${n(d.p99)}`;
    const kib = (b: number) => `${Math.round(b / 1024)} KiB`;
    const rows: string[][] = [];
    for (const [w, label] of [['tiny', `tiny request (${measured.requestBytes.tiny} B)`], ['agent', `agent-sized request (${kib(measured.requestBytes.agent!)})`]] as const) {
      const l = latency[w];
      rows.push([`latency ms p50 / p90 / p99, ${label}`, trio(l.ms.direct), trio(l.ms.proxy), trio(l.ms.gateway), '', '']);
      rows.push([`added ms p50 / p90 / p99, ${label}`, '–', trio(l.addedMs.proxy), trio(l.addedMs.gateway), `p50 ≤ ${TARGET_ADDED_MS} ms`, verdict(l.addedMs.gateway.p50 <= TARGET_ADDED_MS)]);
      rows.push([`proxy or gateway CPU µs per call, ${label}`, '–', n(cpuPerCallUs[w].proxy, 1), n(cpuPerCallUs[w].gateway, 1), '', '']);
    }
    for (const [w, label] of [['streamed', 'streamed SSE'], ['json', 'JSON']] as const) {
      const t = throughput[w];
      rows.push([`${label} MB/s (${concurrency} at once, ${kib(t.bytesPerAnswer)} each)`, n(t.MBps.direct, 1), n(t.MBps.proxy, 1), n(t.MBps.gateway, 1), '', '']);
      rows.push([`${label} throughput × direct`, '1', n(t.ratio.proxy), n(t.ratio.gateway), w === 'streamed' ? `≥ ${TARGET_STREAM_RATIO}×` : '–', w === 'streamed' ? verdict(t.ratio.gateway! >= TARGET_STREAM_RATIO) : '']);
      const cpu = (p: string, proc: string) => {
        const c = t.cpu[p]?.[proc];
        return c ? `${c.msPerMB} (${Math.round(c.busy * 100)} %)` : '–';
      };
      rows.push([`${label} CPU ms/MB (busy): fake provider`, cpu('direct', `fake-${w}`), cpu('proxy', `fake-${w}`), cpu('gateway', `fake-${w}`), '', '']);
      rows.push([`${label} CPU ms/MB (busy): proxy or gateway`, '–', cpu('proxy', 'proxy'), cpu('gateway', 'gateway'), '', '']);
      rows.push([`${label} CPU ms/MB (busy): load generator`, cpu('direct', 'client'), cpu('proxy', 'client'), cpu('gateway', 'client'), '', '']);
    }
    const markdown = [
      `The same Anthropic Messages calls three ways in one run, rotated so the machine's load hits each alike: straight to a local fake provider, through a bare Node pass-through proxy (the ceiling of one extra hop here), and through PAS's \`/llm/anthropic\` (credential, budget, breaker, provider slot, usage read on the side, call booked, one log line). ${latencyCalls} sequential calls per path and request size; throughput: ${throughputRounds} rounds of ${concurrency} answers at once per path. Added = via − direct in the same round. CPU from /proc (busy = share of one core during the path's batches).`,
      '',
      `| measure | ${PATHS.map((p) => LABEL[p]).join(' | ')} | target | result |`,
      '|---|---:|---:|---:|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      '',
      `Load average ${result.loadAverage.before.join(' / ')} before, ${result.loadAverage.after.join(' / ')} after, on ${result.loadAverage.cores} cores (shared machine: read the ratios).`,
    ].join('\n');
    access.end();
    streamer.end();
    bulkyTask.end();
    return { ...result, markdown };
  } finally {
    await tree.close();
    logger.flush();
    await Promise.all([small.close(), large.close(), bulky.close(), proxy.close()]);
    cfg.cleanup();
  }
}

if (isMain(import.meta.url)) {
  const flags = cliFlags();
  const result = await runLlmGatewayBench({ quick: flags.quick, log: (l) => process.stdout.write(`${l}\n`) });
  const file = writeArtifact('llm-gateway', result, flags.out);
  process.stdout.write(`${result.markdown}\n\nwrote ${file}\n`);
}
