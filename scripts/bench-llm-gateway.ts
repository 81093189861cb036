/**
 * The LLM gateway's cost (CONTRACT §9): the same Anthropic Messages calls sent directly to a
 * local fake provider (its own process) and through PAS's gateway (credential lookup, budget,
 * breaker, provider slot, pass-through, usage read on the side), interleaved so both see the same
 * machine load. Reports the added latency per call (p50 of paired differences, small JSON
 * answers) and the streamed throughput ratio (large SSE answers, several at once).
 * Targets: ≤ 1 ms p50 added, ≥ 0.9× direct throughput. Writes artifacts/bench/llm-gateway.json.
 *
 * Alone: `npx tsx scripts/bench-llm-gateway.ts [--quick]`.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { ClientPlan } from './bench-llm-gateway-client.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { createDefaultServices } from '../src/runtime/default-services.ts';
import { startTestTree } from '../test/support/test-tree.ts';
import { tempConfig } from '../test/support/test-config.ts';
import { cliFlags, clearProviderEnv, distribution, isMain, median, REPO_ROOT, round, spawnFakeProvider, tempDir, writeArtifact } from './bench-support.ts';

const CLIENT = path.join(REPO_ROOT, 'scripts', 'bench-llm-gateway-client.ts');

/** Runs the measuring client in its own process and returns what it printed. */
function runClient(plan: ClientPlan): Promise<{ direct: number[]; via: number[]; streamed: { direct: { bytes: number; ms: number }; via: { bytes: number; ms: number } } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLIENT, JSON.stringify(plan)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`the bench client exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

export async function runLlmGatewayBench(options: { quick?: boolean; log?: (line: string) => void } = {}) {
  const log = options.log ?? (() => undefined);
  const quick = options.quick === true;
  const calls = quick ? 200 : 1000;
  const streams = quick ? 16 : 64;
  const concurrency = 4;
  const streamWords = quick ? 2000 : 5000;
  clearProviderEnv();
  process.env.PAS_BENCH_ANTHROPIC_KEY = 'sk-ant-bench-not-a-real-key';

  const small = await spawnFakeProvider({ kind: 'anthropic', reply: 'ok' });
  const large = await spawnFakeProvider({ kind: 'anthropic', reply: 'word '.repeat(streamWords) });
  const cfg = tempConfig('pas-bench-llmgw-');
  cfg.edit('models.yaml', (doc) => {
    doc.setIn(['providers', 'anthropic', 'base_url'], small.url);
    doc.setIn(['providers', 'anthropic', 'api_key_env'], 'PAS_BENCH_ANTHROPIC_KEY');
    doc.setIn(['providers', 'streamer'], doc.createNode({ kind: 'anthropic', base_url: large.url, api_key_env: 'PAS_BENCH_ANTHROPIC_KEY', timeout_s: 60, models: { 'claude-sonnet-4': { input_per_mtok: 0, output_per_mtok: 0 } } }));
  });
  // Room for every bench call: the adaptive limit is not what is measured here.
  cfg.edit('programmer_pool.yaml', (doc) => doc.set('llm_concurrency', doc.createNode({ initial: 64, max: 64 })));
  const tree = await startTestTree({ config: loadConfig(cfg.dir), services: createDefaultServices({}), agentPorts: false, dataDir: tempDir('pas-bench-llmgw-data-') });
  try {
    const gw = tree.runtime.llmGateway!;
    const access = gw.openTask({ jobId: 'bench', taskId: 'bench-latency', programmerId: 'Prog-006', models: ['anthropic/claude-sonnet-4'] }, 3_600_000);
    const streamer = gw.openTask({ jobId: 'bench', taskId: 'bench-stream', programmerId: 'Prog-006', models: ['streamer/claude-sonnet-4'] }, 3_600_000);
    log(`  ${calls} small calls each way (interleaved), then ${streams} streamed answers of ${streamWords} words each way, ${concurrency} at once; client in its own process`);
    const plan = {
      direct: { small: `${small.url}/v1/messages`, large: `${large.url}/v1/messages`, key: 'sk-ant-bench-not-a-real-key' },
      via: { small: `${access.baseUrl('anthropic')}/v1/messages`, large: `${streamer.baseUrl('anthropic')}/v1/messages`, key: access.credential, largeKey: streamer.credential },
      concurrency,
    };
    const latency = await runClient({ ...plan, calls, streams: 0 });
    // The gateway's own CPU while it streams (this process does nothing else meanwhile): a cost
    // per MB that the machine's load does not change, unlike the wall-clock ratio.
    const cpuBefore = process.cpuUsage();
    const streaming = await runClient({ ...plan, calls: 0, streams });
    const cpu = process.cpuUsage(cpuBefore);
    const measured = { direct: latency.direct, via: latency.via, streamed: streaming.streamed };
    const directMs = measured.direct;
    const viaMs = measured.via;
    const added = viaMs.map((v, i) => v - directMs[i]!);
    const directBytes = measured.streamed.direct.bytes;
    const viaBytes = measured.streamed.via.bytes;
    const directTime = measured.streamed.direct.ms;
    const viaTime = measured.streamed.via.ms;
    const directMBs = directBytes / 1e6 / (directTime / 1000);
    const viaMBs = viaBytes / 1e6 / (viaTime / 1000);
    const seen = streamer.spent();
    const result = {
      part: 'llm-gateway',
      method: {
        provider: 'anthropic Messages (fake server in its own process)',
        latencyCalls: calls,
        streamedAnswers: streams,
        streamConcurrency: concurrency,
        streamBytesPerAnswer: Math.round(viaBytes / Math.max(1, streams)),
        note: 'the client runs in its own process (as an agent CLI does); direct = the same client straight to the fake server',
      },
      latencyMs: { direct: distribution(directMs), via_gateway: distribution(viaMs) },
      addedLatencyMsP50: round(median(added), 3),
      addedLatencyMs: distribution(added),
      throughputMBps: { direct: round(directMBs, 1), via_gateway: round(viaMBs, 1) },
      throughputRatio: round(viaMBs / directMBs, 3),
      gatewayCpuMsPerMBStreamed: round((cpu.user + cpu.system) / 1000 / (viaBytes / 1e6), 2),
      loadAverage: os.loadavg().map((l) => round(l, 2)),
      usageMeasuredByGateway: seen ? { calls: seen.calls, tokens: seen.tokens } : null,
      targets: { addedLatencyMsP50: 1, throughputRatio: 0.9 },
      meetsTargets: median(added) <= 1 && viaMBs / directMBs >= 0.9,
    };
    const rows = [
      { path: 'direct', 'p50 ms': result.latencyMs.direct.p50, 'p95 ms': result.latencyMs.direct.p95, 'stream MB/s': result.throughputMBps.direct },
      { path: 'via PAS gateway', 'p50 ms': result.latencyMs.via_gateway.p50, 'p95 ms': result.latencyMs.via_gateway.p95, 'stream MB/s': result.throughputMBps.via_gateway },
    ];
    const markdown = [
      `Same Anthropic Messages calls straight to a local fake provider and through \`/llm/anthropic\` (credential, budget, breaker, provider slot, usage read on the side); ${calls} small calls interleaved, ${streams} streamed answers of ~${Math.round(result.method.streamBytesPerAnswer / 1024)} KiB, ${concurrency} at once.`,
      '',
      '| path | p50 ms | p95 ms | stream MB/s |',
      '|---|---:|---:|---:|',
      ...rows.map((r) => `| ${r.path} | ${r['p50 ms']} | ${r['p95 ms']} | ${r['stream MB/s']} |`),
      '',
      `Added latency p50 (paired): **${result.addedLatencyMsP50} ms** (target ≤ 1 ms); streamed throughput **${result.throughputRatio}×** direct (target ≥ 0.9×); the gateway's CPU: ${result.gatewayCpuMsPerMBStreamed} ms per MB streamed (load average ${result.loadAverage.join(' / ')} on ${os.cpus().length} cores).`,
    ].join('\n');
    access.end();
    streamer.end();
    return { ...result, rows, markdown };
  } finally {
    await tree.close();
    await small.close();
    await large.close();
    cfg.cleanup();
  }
}

if (isMain(import.meta.url)) {
  const flags = cliFlags();
  const result = await runLlmGatewayBench({ quick: flags.quick, log: (l) => process.stdout.write(`${l}\n`) });
  const file = writeArtifact('llm-gateway', result, flags.out);
  process.stdout.write(`${result.markdown}\n\nwrote ${file}\n`);
}
