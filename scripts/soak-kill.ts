/**
 * The long random kill -9 soak of `pas up`: many trials of boot → submit jobs → SIGKILL at a
 * random moment → boot again, then a final boot that finishes everything, and the durability
 * checks of test/hardening/kill-trials.ts (every accepted job listed and terminal with a reason,
 * nothing merged twice, no receipt twice in a run, a receipt for every completed task).
 *
 *   npx tsx scripts/soak-kill.ts [--trials 30] [--seed N] [--jobs 4] [--max-kill-ms 2500]
 *
 * Prints a summary, writes artifacts/bench/soak-kill.json, exits 1 on any violation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runKillTrials } from '../test/hardening/kill-trials.ts';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '30' },
    seed: { type: 'string' },
    jobs: { type: 'string', default: '4' },
    'max-kill-ms': { type: 'string', default: '2500' },
  },
});
const seed = values.seed ? Number(values.seed) : Date.now() % 2 ** 31;
const started = Date.now();
const report = await runKillTrials({
  trials: Number(values.trials),
  seed,
  jobsPerTrial: Number(values.jobs),
  maxKillDelayMs: Number(values['max-kill-ms']),
  log: (line) => console.log(line),
});
const result = { date: new Date().toISOString(), node: process.version, cores: os.cpus().length, durationMs: Date.now() - started, ...report };
const dir = path.resolve(import.meta.dirname, '..', 'artifacts', 'bench');
mkdirSync(dir, { recursive: true });
writeFileSync(path.join(dir, 'soak-kill.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(
  `soak-kill: ${report.trials} kills (seed ${seed}), ${report.accepted} jobs accepted → ${Object.entries(report.jobs).map(([s, n]) => `${n} ${s}`).join(', ')}; ` +
    `${report.tasks} tasks, ${report.receipts} receipts; ${report.violations.length} violations`,
);
for (const v of report.violations) console.log(`  VIOLATION ${v}`);
console.log(`written ${path.join(dir, 'soak-kill.json')}`);
process.exitCode = report.violations.length > 0 ? 1 : 0;
