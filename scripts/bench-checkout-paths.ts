/**
 * The checkout paths alone (full-verify and full-checkout with their same-run ceilings), on the demo
 * and the large repository at P = 10 and 49: efficiency, git processes and CPU per task in one run.
 *
 * Run alone: `npx tsx scripts/bench-checkout-paths.ts [--quick] [--out DIR]`.
 */
import os from 'node:os';
import { runParallelBench } from './bench-parallel.ts';
import { cliFlags, isMain, writeArtifact } from './bench-support.ts';

if (isMain(import.meta.url)) {
  const flags = cliFlags();
  const loads: number[] = [];
  const sampler = setInterval(() => loads.push(os.loadavg()[0]!), 5_000);
  const result = await runParallelBench({ quick: flags.quick, variants: ['full-verify', 'full-checkout'], programmers: [10, 49], largeProgrammers: [10, 49], log: (l) => console.log(l) });
  clearInterval(sampler);
  const file = writeArtifact('checkout-paths', { ...result, loadDuringRun: { min: Math.min(...loads), max: Math.max(...loads), samples: loads.length } }, flags.out);
  for (const r of result.rows) {
    const cpu = r.cpuMsPerTask ? ` CPU/task ${r.cpuMsPerTask.process} ms + children ${r.cpuMsPerTask.children} ms` : '';
    const git = r.gitProcessesPerTask !== undefined ? ` git/task ${r.gitProcessesPerTask}` : '';
    console.log(`${r.variant.padEnd(16)} ${r.repo.padEnd(5)} P=${String(r.programmers).padStart(2)} N=${String(r.tasks).padStart(3)} makespan ${r.makespanMs} ms efficiency ${(r.efficiency * 100).toFixed(1)} %${git}${cpu}`);
  }
  console.log(`load (1 min) during the run: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`);
  console.log(`wrote ${file}`);
}
