/**
 * The measuring client of scripts/bench-llm-gateway.ts, in its own process (as an agent CLI is):
 * calls the fake provider directly and through the gateway, interleaved, and prints the timings
 * as one JSON line. Input: one JSON argument (see ClientPlan).
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface ClientPlan {
  direct: { small: string; large: string; key: string };
  via: { small: string; large: string; key: string; largeKey: string };
  calls: number;
  streams: number;
  concurrency: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function call(url: string, body: string, key: string): Promise<{ ms: number; bytes: number; status: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-api-key': key, 'anthropic-version': '2023-06-01' } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ ms: performance.now() - started, bytes, status: res.statusCode ?? 0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const body = (stream: boolean) => JSON.stringify({ model: 'claude-sonnet-4', max_tokens: 1024, stream, messages: [{ role: 'user', content: 'hello' }] });

async function main(plan: ClientPlan) {
  const small = body(false);
  const large = body(true);
  for (let i = 0; i < (plan.calls > 0 ? 50 : 0); i++) {
    await call(plan.direct.small, small, plan.direct.key);
    await call(plan.via.small, small, plan.via.key);
  }
  const direct: number[] = [];
  const via: number[] = [];
  for (let i = 0; i < plan.calls; i++) {
    const first = i % 2 === 0;
    const a = first ? await call(plan.direct.small, small, plan.direct.key) : await call(plan.via.small, small, plan.via.key);
    const b = first ? await call(plan.via.small, small, plan.via.key) : await call(plan.direct.small, small, plan.direct.key);
    const d = first ? a : b;
    const v = first ? b : a;
    if (d.status !== 200 || v.status !== 200) throw new Error(`a bench call failed: direct ${d.status}, via ${v.status}`);
    direct.push(d.ms);
    via.push(v.ms);
  }
  const batch = async (url: string, key: string) => {
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: plan.concurrency }, () => call(url, large, key)));
    if (results.some((r) => r.status !== 200)) throw new Error(`a streamed bench call failed: ${results.map((r) => r.status).join(',')}`);
    return { ms: performance.now() - started, bytes: results.reduce((s, r) => s + r.bytes, 0) };
  };
  if (plan.streams > 0) {
    await batch(plan.direct.large, plan.direct.key);
    await batch(plan.via.large, plan.via.largeKey);
  }
  const streamed = { direct: { bytes: 0, ms: 0 }, via: { bytes: 0, ms: 0 } };
  for (let i = 0; i < plan.streams / plan.concurrency; i++) {
    const first = i % 2 === 0;
    const runDirect = () => batch(plan.direct.large, plan.direct.key);
    const runVia = () => batch(plan.via.large, plan.via.largeKey);
    const a = first ? await runDirect() : await runVia();
    const b = first ? await runVia() : await runDirect();
    const d = first ? a : b;
    const v = first ? b : a;
    streamed.direct.bytes += d.bytes;
    streamed.direct.ms += d.ms;
    streamed.via.bytes += v.bytes;
    streamed.via.ms += v.ms;
  }
  process.stdout.write(`${JSON.stringify({ direct, via, streamed })}\n`);
}

await main(JSON.parse(process.argv[2]!) as ClientPlan);
agent.destroy();
