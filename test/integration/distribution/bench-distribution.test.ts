/**
 * `pas bench --only distribution` end to end at the smallest size: a real nats-server, the
 * in-process run, one `pas worker` process, and one lost-worker sample. Asserts what the part
 * writes (its JSON shape, a finite ratio, timings in order), never how fast anything was.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distributionMarkdown, runDistributionBench } from '../../../scripts/bench-distribution.ts';
import { writeArtifact } from '../../../scripts/bench-support.ts';

const out = mkdtempSync(path.join(os.tmpdir(), 'pas-bench-dist-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('the distribution benchmark', () => {
  it('measures in-process and over a pas worker in the same run, each repeat running both in turn after a JIT warm-up, and times a SIGKILLed worker from kill to re-dispatch', async () => {
    const lines: string[] = [];
    const result = await runDistributionBench({ latencyMs: 100, programmers: [2], workerCounts: [2], tasksPerProgrammer: 1, repeats: 2, warmupTasks: 4, detectionSamples: 1, heartbeatMs: 100, offlineAfterMs: 1_000, log: (l) => lines.push(l) });
    const written = JSON.parse(readFileSync(writeArtifact('distribution', result, out), 'utf8')) as typeof result;
    // Every process of every run ran the warm-up's 4 tasks (in batches of N = 2) before the
    // measured batch: in-process 4, over two workers 8 in all.
    expect(written.method.warmupTasks).toBe(4);
    expect(lines.filter((l) => /in-process: JIT warm-up of 4 tasks/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => /2 workers: JIT warm-up of 8 tasks/.test(l))).toHaveLength(2);
    // Each distributed run's streams (work queues, owners and attempts buckets, bundle store) are deleted after it.
    const deleted = lines.map((l) => /2 workers: its (\d+) streams deleted/.exec(l)?.[1]).filter((n) => n !== undefined);
    expect(deleted).toHaveLength(2);
    for (const n of deleted) expect(Number(n)).toBeGreaterThanOrEqual(4);

    expect(written.skipped).toBeNull();
    expect(written.part).toBe('distribution');
    expect(written.rows.map((r) => [r.mode, r.workers, r.programmers, r.tasks, r.idealMs])).toEqual([
      ['in-process', 0, 2, 2, 100],
      ['workers', 2, 2, 2, 100],
    ]);
    for (const r of written.rows) {
      expect(r.runs).toHaveLength(2);
      for (const run of r.runs) expect(run.failed).toBe(0);
      // Measured with the model's latency back (the warm-up's 0 ends before): no run beats the ideal.
      for (const run of r.runs) expect(run.makespanMs).toBeGreaterThanOrEqual(r.idealMs);
      expect(r.makespanMs).toBeGreaterThan(0);
      expect(Number.isFinite(r.efficiency) && r.efficiency > 0).toBe(true);
      // CPU per task by process (Linux /proc): every figure a finite amount, none made up.
      expect(Object.keys(r.cpuSplit ?? {}).sort()).toEqual(['broker', 'central', 'centralGit', 'model', 'workers']);
      for (const v of Object.values(r.cpuSplit!)) expect(Number.isFinite(v) && v >= 0).toBe(true);
      // Run-queue wait per task where the kernel keeps schedstat, none made up where it does not.
      if (existsSync('/proc/self/schedstat')) expect(Number.isFinite(r.runQueueMsPerTask) && r.runQueueMsPerTask! >= 0).toBe(true);
      else expect(r.runQueueMsPerTask).toBeNull();
    }
    expect(written.rows[0]!.cpuSplit).toMatchObject({ workers: 0, broker: 0 });
    expect(written.rows[0]!.ratio).toBe(1);
    expect(written.rows[1]!.broker?.msgsInPerTask).toBeGreaterThan(0);
    const ratio = written.rows[1]!.ratio;
    expect(Number.isFinite(ratio) && ratio > 0).toBe(true);

    const d = written.detection!;
    expect(d).toMatchObject({ workers: 2, heartbeatMs: 100, offlineAfterMs: 1_000 });
    expect(d.samples).toHaveLength(1);
    const [sample] = d.samples;
    expect(sample!.startedOn).not.toBe(sample!.killedWorker);
    // From the kill: declared offline, then the task started again, then received by the other worker.
    expect(sample!.offlineMs).toBeGreaterThan(0);
    expect(sample!.redispatchMs).toBeGreaterThanOrEqual(sample!.offlineMs);
    expect(sample!.startedElsewhereMs).toBeGreaterThanOrEqual(sample!.redispatchMs);
    expect(d.offlineMs).toMatchObject({ n: 1, p50: sample!.offlineMs, max: sample!.offlineMs });

    const table = distributionMarkdown(result).join('\n');
    expect(table).toContain('| 2 | 2 workers | 2 | 100 |');
    expect(table).toContain('| worker declared offline |');
  }, 120_000);
});
