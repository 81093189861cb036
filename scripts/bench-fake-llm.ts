/**
 * A local model server in its own process (so its fixed latency is not delayed by the runtime's
 * event loop, and its CPU is not the runtime's): the real wire format of one provider from
 * test/support/fake-llm-server.ts. Started by `spawnFakeProvider`; prints `{"url": …}` once
 * listening and exits when its stdin closes.
 *
 * Alone: `npx tsx scripts/bench-fake-llm.ts '{"kind":"ollama","latencyMs":200}'`.
 */
import { startFakeProvider, type FakeProviderOptions } from '../test/support/fake-llm-server.ts';

const options = JSON.parse(process.argv[2] ?? '{"kind":"ollama"}') as FakeProviderOptions;
const fake = await startFakeProvider(options);
process.stdout.write(`${JSON.stringify({ url: fake.url, origin: fake.origin })}\n`);
const stop = () => {
  void fake.close().finally(() => process.exit(0));
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
