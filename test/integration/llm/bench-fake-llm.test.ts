/**
 * The benchmarks' model server in its own process (scripts/bench-fake-llm.ts): its latency is
 * changed over stdin, so a benchmark's JIT warm-up runs with the model answering at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnFakeProvider, type SpawnedFakeProvider } from '../../../scripts/bench-support.ts';

let fake: SpawnedFakeProvider | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function timedChat(url: string): Promise<{ ms: number; content: string }> {
  const t = performance.now();
  const res = await fetch(`${url}/api/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: false }) });
  const body = (await res.json()) as { message: { content: string } };
  return { ms: performance.now() - t, content: body.message.content };
}

describe('the benchmarks’ model server process', () => {
  it('answers after its latency, then at once once told a latency of 0, then after the latency it is given back', async () => {
    fake = await spawnFakeProvider({ kind: 'ollama', latencyMs: 1_500, reply: 'done' });
    const slow = await timedChat(fake.url);
    expect(slow.content).toBe('done');
    expect(slow.ms).toBeGreaterThanOrEqual(1_500);

    await fake.setLatency(0);
    const fast = await timedChat(fake.url);
    expect(fast.content).toBe('done');
    expect(fast.ms).toBeLessThan(1_500);

    await fake.setLatency(1_500);
    expect((await timedChat(fake.url)).ms).toBeGreaterThanOrEqual(1_500);
  });

  it('refuses a latency that is not a number of ms ≥ 0 and keeps the one it had', async () => {
    fake = await spawnFakeProvider({ kind: 'ollama', latencyMs: 1_000, reply: 'done' });
    await expect(fake.setLatency(-1)).rejects.toThrow(/latency/);
    expect((await timedChat(fake.url)).ms).toBeGreaterThanOrEqual(1_000);
  });
});
