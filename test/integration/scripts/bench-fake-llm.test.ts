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

  it('refuses a latency that is not a whole number of ms from 0 to 2^31 - 1, or a line that is not JSON, and keeps the one it had', async () => {
    fake = await spawnFakeProvider({ kind: 'ollama', latencyMs: 1_000, reply: 'done' });
    await expect(fake.setLatency(-1)).rejects.toThrow(/latency/);
    await expect(fake.setLatency(2 ** 31)).rejects.toThrow(/latency/);
    expect(JSON.parse(await fake.request('not json'))).toEqual({ error: expect.stringMatching(/expected \{"latencyMs": n\}/) });
    expect((await timedChat(fake.url)).ms).toBeGreaterThanOrEqual(1_000);
  });

  it('fails a request to a server process that is gone, and one made after close, instead of waiting forever', async () => {
    fake = await spawnFakeProvider({ kind: 'ollama', latencyMs: 0, reply: 'done' });
    const pending = fake.setLatency(5);
    process.kill(fake.pid, 'SIGKILL');
    // Answered or failed, never left pending (the kill may come before or after the answer).
    await pending.catch((err: Error) => expect(err.message).toMatch(/exited|stdin|not running/));
    // Whether its exit was seen yet or not: refused, failed by the broken pipe, or by the exit.
    await expect(fake.setLatency(0)).rejects.toThrow(/not running|exited|stdin/);
    await fake.close();
    await expect(fake.setLatency(0)).rejects.toThrow(/not running/);
    fake = undefined;
  });
});
