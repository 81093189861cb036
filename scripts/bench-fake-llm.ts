/**
 * A local model server in its own process (so its fixed latency is not delayed by the runtime's
 * event loop, and its CPU is not the runtime's): the real wire format of one provider from
 * test/support/fake-llm-server.ts. Started by `spawnFakeProvider`; prints `{"url": …}` once
 * listening and exits when its stdin closes. A line `{"latencyMs": n}` on its stdin changes the
 * latency from the next request on (n whole, 0 to 2^31 - 1); it answers with the same line once
 * it has (anything else: `{"error": …}`, the latency unchanged). It keeps none of the requests.
 *
 * Alone: `npx tsx scripts/bench-fake-llm.ts '{"kind":"ollama","latencyMs":200}'`.
 */
import { createInterface } from 'node:readline';
import { startFakeProvider, type FakeProviderOptions } from '../test/support/fake-llm-server.ts';

const options = JSON.parse(process.argv[2] ?? '{"kind":"ollama"}') as FakeProviderOptions;
// Nothing reads what it was asked: it answers thousands of requests and keeps none.
const fake = await startFakeProvider({ ...options, record: false });
process.stdout.write(`${JSON.stringify({ url: fake.url, origin: fake.origin })}\n`);
const stop = () => {
  void fake.close().finally(() => process.exit(0));
};
createInterface({ input: process.stdin }).on('line', (line) => {
  let latencyMs: unknown;
  try {
    latencyMs = (JSON.parse(line) as { latencyMs?: unknown }).latencyMs;
  } catch {
    // answered below as refused
  }
  // A timer of more than 2^31 - 1 ms fires at once: refused, not an instant answer.
  if (typeof latencyMs !== 'number' || !Number.isInteger(latencyMs) || latencyMs < 0 || latencyMs > 2 ** 31 - 1) {
    process.stdout.write(`${JSON.stringify({ error: `expected {"latencyMs": n} with n a whole number of ms from 0 to 2^31 - 1, got ${line}` })}\n`);
    return;
  }
  fake.setLatency(latencyMs);
  process.stdout.write(`${JSON.stringify({ latencyMs })}\n`);
});
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
