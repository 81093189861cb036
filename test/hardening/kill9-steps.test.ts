/**
 * `pas up` killed with SIGKILL at every journaled step of a job with a conflict re-run (before,
 * during and after each merge, random delays with a fixed seed), restarted each time on the same
 * data dir: no branch is merged twice, no task the journal had finished runs again, and the job
 * ends completed with exactly what git holds. See kill-steps.ts.
 */
import { describe, expect, it } from 'vitest';
import { runKillSteps, STEPS } from './kill-steps.ts';

describe('pas up killed at each journaled step of a job with a conflict re-run', () => {
  it('merges no branch twice, never redoes a finished subtask or re-run, and ends with what git holds', async () => {
    const report = await runKillSteps({ seed: 20261130, maxDelayMs: 80, log: (line) => process.env.PAS_KILL_LOG && console.log(line) });
    expect(report.violations).toEqual([]);
    expect(Object.values(report.jobs)).toEqual(['completed']);
    // A kill aimed at every step the job had not passed yet; each lands at or after its step. How
    // many steps a restarted job passes before the next kill lands depends on the machine's speed
    // (6–8 on 2 cores), so the count is a floor; what must hold is below.
    expect(report.kills.length).toBeGreaterThanOrEqual(4);
    for (const kill of report.kills) expect(STEPS.indexOf(kill.reached as (typeof STEPS)[number])).toBeGreaterThanOrEqual(STEPS.indexOf(kill.target));
    // Both merges were killed around: once both subtasks had finished, and once the re-run had.
    expect(report.kills.map((k) => k.target)).toEqual(expect.arrayContaining(['merge-1', 'rerun-finished']));
  }, 240_000);
});
