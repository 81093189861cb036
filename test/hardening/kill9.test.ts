/**
 * `pas up` killed with SIGKILL at random moments (a fixed seed, so a failure replays), restarted
 * on the same data dir each time: every job it accepted is still listed and ends with a reason,
 * no task branch is merged twice, no receipt is written twice, no completed task lacks one.
 * scripts/soak-kill.ts runs the same trials many more times.
 */
import { describe, expect, it } from 'vitest';
import { runKillTrials } from './kill-trials.ts';

describe('pas up under random kill -9', () => {
  it('loses no accepted job, merges nothing twice and keeps one receipt per run of a task across four random SIGKILLs', async () => {
    const report = await runKillTrials({ trials: 4, seed: 20261121, jobsPerTrial: 3 });
    expect(report.violations).toEqual([]);
    expect(report.accepted).toBeGreaterThan(0);
    expect(Object.values(report.jobs).reduce((a, b) => a + b, 0)).toBe(report.accepted);
    expect(report.jobs.completed ?? 0).toBeGreaterThan(0);
  }, 120_000);
});
