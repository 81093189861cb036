/**
 * The long soak of test/hardening/kill-steps.ts: jobs with a conflict re-run, `pas up` killed with
 * SIGKILL at every journaled step of each (before, during and after each merge), random delays
 * from a seed. Checks: no branch merged twice, no finished task or re-run redone, every job ends
 * completed with exactly what git holds.
 *
 *   npx tsx scripts/soak-kill-steps.ts [--rounds 10] [--seed N] [--max-delay-ms 250]
 *
 * Prints every kill and a summary, writes artifacts/bench/soak-kill-steps.json, exits 1 on any violation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runKillSteps } from '../test/hardening/kill-steps.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    seed: { type: 'string' },
    'max-delay-ms': { type: 'string', default: '250' },
  },
});
const seed = values.seed ? Number(values.seed) : Date.now() % 2 ** 31;
const started = Date.now();
const report = await runKillSteps({ seed, rounds: Number(values.rounds), maxDelayMs: Number(values['max-delay-ms']), log: (line) => console.log(line) });
const result = { date: new Date().toISOString(), node: process.version, cores: os.cpus().length, durationMs: Date.now() - started, ...report };
const dir = path.resolve(import.meta.dirname, '..', 'artifacts', 'bench');
mkdirSync(dir, { recursive: true });
writeFileSync(path.join(dir, 'soak-kill-steps.json'), `${JSON.stringify(result, null, 2)}\n`);
const statuses = Object.values(report.jobs);
console.log(
  `soak-kill-steps: ${report.kills.length} kills over ${statuses.length} jobs (seed ${seed}), ${report.kills.filter((k) => k.duringMerge).length} inside a merge; ` +
    `jobs ${statuses.filter((s) => s === 'completed').length} completed of ${statuses.length}; ${report.violations.length} violations`,
);
for (const v of report.violations) console.log(`  VIOLATION ${v}`);
console.log(`written ${path.join(dir, 'soak-kill-steps.json')}`);
process.exitCode = report.violations.length > 0 ? 1 : 0;
