/**
 * The load generator of scripts/bench-llm-gateway.ts, in its own process (as an agent CLI is):
 * sends the same calls straight to the fake provider, through a bare pass-through proxy and
 * through PAS's gateway, the three paths rotated call by call (latency) and batch by batch
 * (throughput) so the machine's load hits each alike. Each path has its own kept-alive socket
 * pool with room for every call in flight. Around every batch it reads the CPU time of each
 * process involved from /proc, so the report can say which process the time went to.
 * Prints one JSON line (ClientResult). Input: one JSON argument (ClientPlan).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface PathPlan {
  name: string;
  /** POST URL of the model that answers "ok" (latency) and of the one that answers long texts. */
  small: string;
  /** Streamed answers of many small frames. */
  large: string;
  /** Large plain JSON answers. */
  bulky: string;
  key: string;
  largeKey: string;
  bulkyKey: string;
}

export interface ClientPlan {
  paths: PathPlan[];
  /** Processes whose CPU time is read around each batch (name → pid); the client adds itself. */
  pids: Record<string, number>;
  warmupCalls: number;
  latencyCalls: number;
  throughputRounds: number;
  concurrency: number;
  /** Size of the agent-sized request (system prompt, tools, history), in bytes. */
  agentRequestBytes: number;
}

export interface BatchTotals {
  bytes: number;
  ms: number;
  batches: number;
  /** CPU ms of each process while this path's batches ran. */
  cpuMs: Record<string, number>;
}

export interface ClientResult {
  /** Per workload, per path: the milliseconds of each call, in the same round order for every path. */
  latency: Record<string, Record<string, number[]>>;
  /** Per latency workload, per path: the CPU ms each process spent on that path's calls. */
  latencyCpuMs: Record<string, Record<string, Record<string, number>>>;
  /** Per workload (streamed, json), per path. */
  throughput: Record<string, Record<string, BatchTotals>>;
  requestBytes: Record<string, number>;
}

/** CPU ms of a process's main thread (where its JavaScript and its socket I/O run), from /proc. */
function cpuMs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'latin1').split(' ')[0]) / 1e6;
  } catch {
    return Number.NaN;
  }
}

function post(agent: http.Agent, url: string, body: Buffer, key: string): Promise<{ ms: number; bytes: number; status: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, 'x-api-key': key, 'anthropic-version': '2023-06-01' } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ ms: performance.now() - started, bytes, status: res.statusCode ?? 0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function requestBody(stream: boolean, padBytes: number): Buffer {
  const base = { model: 'claude-sonnet-4', max_tokens: 1024, stream };
  if (padBytes <= 0) return Buffer.from(JSON.stringify({ ...base, messages: [{ role: 'user', content: 'hello' }] }));
  // Roughly what an agent CLI sends: a long system prompt, tool definitions, the conversation so far.
  const tools = Array.from({ length: 16 }, (_, i) => ({
    name: `tool_${i}`,
    description: 'Reads, edits or runs something in the working tree; "quoted" and \\ escaped text. '.repeat(8),
    input_schema: { type: 'object', properties: { path: { type: 'string', description: 'a path' }, content: { type: 'string' } }, required: ['path'] },
  }));
  const messages: Array<{ role: string; content: Array<{ type: string; text: string }> }> = [];
  const sized = () => Buffer.byteLength(JSON.stringify({ ...base, system: 'You are a coding agent. '.repeat(200), tools, messages }));
  while (sized() < padBytes) {
    messages.push({ role: messages.length % 2 ? 'assistant' : 'user', content: [{ type: 'text', text: `Step ${messages.length}: the file src/x.ts says "export const x = 1;" and the test passes. `.repeat(12) }] });
  }
  // The conversation must end with the user's turn.
  if (messages.length % 2 === 0) messages.push({ role: 'user', content: [{ type: 'text', text: 'go on' }] });
  return Buffer.from(JSON.stringify({ ...base, system: 'You are a coding agent. '.repeat(200), tools, messages }));
}

/** The order the paths go in round `i`: rotated, so none is always first or last. */
const rotated = <T>(items: readonly T[], i: number): T[] => items.map((_, k) => items[(k + i) % items.length]!);

async function main(plan: ClientPlan): Promise<ClientResult> {
  const agents = new Map(plan.paths.map((p) => [p.name, new http.Agent({ keepAlive: true, maxSockets: Math.max(8, plan.concurrency * 2), scheduling: 'lifo' })]));
  const pids = { ...plan.pids, client: process.pid };
  const bodies = { tiny: requestBody(false, 0), agent: requestBody(false, plan.agentRequestBytes), stream: requestBody(true, 0) };

  const cpuNow = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMs(pid)]));
  const latency: ClientResult['latency'] = { tiny: {}, agent: {} };
  const latencyCpuMs: ClientResult['latencyCpuMs'] = { tiny: {}, agent: {} };
  for (const workload of ['tiny', 'agent'] as const) {
    const body = bodies[workload];
    for (const p of plan.paths) {
      latency[workload]![p.name] = [];
      latencyCpuMs[workload]![p.name] = Object.fromEntries(Object.keys(pids).map((k) => [k, 0]));
    }
    for (let i = -plan.warmupCalls; i < plan.latencyCalls; i++) {
      for (const p of rotated(plan.paths, i + plan.warmupCalls)) {
        const before = cpuNow();
        const r = await post(agents.get(p.name)!, p.small, body, p.key);
        if (r.status !== 200) throw new Error(`a ${workload} call via ${p.name} answered ${r.status}`);
        if (i < 0) continue;
        latency[workload]![p.name]!.push(r.ms);
        const after = cpuNow();
        const cpu = latencyCpuMs[workload]![p.name]!;
        for (const k of Object.keys(pids)) cpu[k]! += after[k]! - before[k]!;
      }
    }
  }

  const throughput: ClientResult['throughput'] = { streamed: {}, json: {} };
  for (const workload of ['streamed', 'json'] as const) {
    const body = workload === 'streamed' ? bodies.stream : bodies.tiny;
    const url = (p: PathPlan) => (workload === 'streamed' ? p.large : p.bulky);
    const totals = throughput[workload]!;
    for (const p of plan.paths) totals[p.name] = { bytes: 0, ms: 0, batches: 0, cpuMs: Object.fromEntries(Object.keys(pids).map((k) => [k, 0])) };
    const batch = async (p: PathPlan) => {
      const agent = agents.get(p.name)!;
      const before = cpuNow();
      const started = performance.now();
      const results = await Promise.all(Array.from({ length: plan.concurrency }, () => post(agent, url(p), body, workload === 'streamed' ? p.largeKey : p.bulkyKey)));
      const ms = performance.now() - started;
      if (results.some((r) => r.status !== 200)) throw new Error(`a ${workload} batch via ${p.name} answered ${results.map((r) => r.status).join(',')}`);
      return { ms, bytes: results.reduce((s, r) => s + r.bytes, 0), before };
    };
    // One warm-up round (sockets open, code compiled) that is not counted.
    for (const p of plan.paths) await batch(p);
    for (let i = 0; i < plan.throughputRounds; i++) {
      for (const p of rotated(plan.paths, i)) {
        const { ms, bytes, before } = await batch(p);
        const t = totals[p.name]!;
        t.ms += ms;
        t.bytes += bytes;
        t.batches++;
        for (const [k, pid] of Object.entries(pids)) t.cpuMs[k]! += cpuMs(pid) - before[k]!;
      }
    }
  }
  for (const agent of agents.values()) agent.destroy();
  return { latency, latencyCpuMs, throughput, requestBytes: { tiny: bodies.tiny.length, agent: bodies.agent.length, stream: bodies.stream.length } };
}

const result = await main(JSON.parse(process.argv[2]!) as ClientPlan);
process.stdout.write(`${JSON.stringify(result)}\n`);
