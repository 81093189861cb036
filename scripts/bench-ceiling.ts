/**
 * A checkout path's ceiling in a small process of its own (no PAS; started by bench-parallel.ts):
 * P loops of a model call, each answer followed by only what the path cannot avoid in its
 * worker's own checkout: the edited file written, then (verify-ceiling) the verify command run.
 * Its own process, because starting a command costs a fork of the process that starts it: from
 * the bench process, which holds the runtimes' heap, that took milliseconds of its main thread per
 * command (PAS starts its commands from a small spawner process for the same reason).
 *
 * Argument: `{"url", "dirs": [checkout per worker], "edited": text, "verify": argv | null}`.
 * Prints `{"ready": true}`, then answers each stdin line `{"P", "k", "latencyMs"}` with the run
 * (scripts/bench-http-loops.ts's LoopsRun) or `{"error": …}`; exits when its stdin closes.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { runHttpLoops } from './bench-http-loops.ts';

const { url, dirs, edited, verify } = JSON.parse(process.argv[2] ?? '{}') as { url: string; dirs: string[]; edited: string; verify: string[] | null };

/** Runs a command in `cwd` to its end, output discarded (no allowlist: this is no PAS). */
function runCommand(argv: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { cwd, maxBuffer: 64 * 2 ** 20 }, (err) => (err ? reject(err) : resolve()));
  });
}

const edit = (w: number) => writeFile(path.join(dirs[w]!, 'README.md'), edited);
const after = verify ? (w: number) => edit(w).then(() => runCommand(verify, dirs[w]!)) : edit;

// One run at a time, in the order asked.
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(async () => {
    try {
      const { P, k, latencyMs } = JSON.parse(line) as { P: number; k: number; latencyMs: number };
      if (!(P >= 1 && P <= dirs.length && k >= 1 && latencyMs >= 0)) throw new Error(`expected {"P": 1..${dirs.length}, "k" ≥ 1, "latencyMs" ≥ 0}, got ${line}`);
      process.stdout.write(`${JSON.stringify(await runHttpLoops(url, P, k, latencyMs, after))}\n`);
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ error: (err as Error).message })}\n`);
    }
  });
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
process.stdin.on('close', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
