/**
 * A probe for the benchmarks (off unless PAS_BENCH_CPU_PROFILE names a directory): V8's CPU
 * profile of this process over one measured batch only (not its warm-up), written as
 * `<dir>/<label>.cpuprofile` for Chrome DevTools or `scripts/profile-top.ts`. Workers are profiled
 * with PAS_BENCH_WORKER_NODE_ARGS (`--cpu-prof`), over their whole life.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';

/** Where profiles go (PAS_BENCH_CPU_PROFILE), if anywhere. */
export function cpuProfileDir(): string | undefined {
  return process.env.PAS_BENCH_CPU_PROFILE || undefined;
}

/**
 * Runs `batch` under the profiler when the probe is on (sampling every 250 µs). The profiler slows
 * the process it samples: a profiled run's figures are not comparable with others; what `batch`
 * measures, it measures before it returns (stopping and writing the profile follow).
 */
export async function profileBatch<T>(label: string, batch: () => Promise<T>): Promise<T> {
  const dir = cpuProfileDir();
  if (!dir) return batch();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 250 });
  await session.post('Profiler.start');
  try {
    return await batch();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${label.replace(/[^\w.-]/g, '_')}.cpuprofile`), JSON.stringify(profile));
  }
}
