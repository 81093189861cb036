/**
 * The benchmarks' no-PAS loops: P workers each POST k chat requests one after the other (the same
 * body the Ollama adapter sends) to a model server, on the cheapest client there is here: node:http
 * over kept-alive sockets, the client PAS's own adapters use (cheaper on the main thread than
 * fetch). `http-only` runs them in the bench process; the ceilings of the checkout paths run them
 * in a small process of their own (scripts/bench-ceiling.ts), with what each worker must also do
 * after each answer. Imports nothing of the runtime but its HTTP client.
 */
import { performance } from 'node:perf_hooks';
import { Hangup, postUpstream, upstreamTarget } from '../src/llm/http-upstream.ts';
import { leanBody } from '../src/llm/lean-answer.ts';
import { distribution, round, type Distribution } from './bench-support.ts';

/** One run of the loops, in the shape of the parallel part's runs. */
export interface LoopsRun {
  makespanMs: number;
  lastAssignMs: number;
  dispatchMs: Distribution;
  turnMs: Distribution;
  beyondLatencyMs: Distribution;
  failed: number;
}

/** `after`: what worker `w` does after each answer (the ceilings: the edit written, the verify command run). */
export async function runHttpLoops(url: string, P: number, k: number, latencyMs: number, after?: (worker: number) => Promise<void>): Promise<LoopsRun> {
  const body = Buffer.from(JSON.stringify({ model: 'qwen2.5-coder:7b-instruct', messages: [{ role: 'user', content: 'Add a one-line doc comment.' }], stream: false }));
  const target = upstreamTarget(`${url}/api/chat`);
  const beyond: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: P }, async (_, worker) => {
      for (let i = 0; i < k; i++) {
        const t = performance.now();
        const res = await postUpstream({ target, query: '', headers: { 'content-type': 'application/json' }, body, hangup: new Hangup() });
        JSON.parse(await leanBody(res).text());
        if (after) await after(worker);
        beyond.push(performance.now() - t - latencyMs);
      }
    }),
  );
  const makespanMs = performance.now() - t0;
  const zero = distribution([0], 1);
  return { makespanMs: round(makespanMs, 1), lastAssignMs: 0, dispatchMs: zero, turnMs: distribution(beyond.map((b) => b + latencyMs), 1), beyondLatencyMs: distribution(beyond, 1), failed: 0 };
}
