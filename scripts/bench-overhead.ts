/**
 * Part 3 — orchestration overhead at L = 0. N tasks whose work is nothing (executeTask resolves at
 * once) go through the real pool and programmer actors (journal projection included) at
 * concurrency P, next to p-queue running N no-op async tasks at the same concurrency, in the same
 * process, one after the other. The client feeds the pool the way its own admission allows
 * (at most P running + max_queue_per_programmer·P queued outstanding); p-queue gets all N at once.
 *
 * Run alone: `npx tsx scripts/bench-overhead.ts [--quick]`.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import PQueue from 'p-queue';
import type { TaskResult, TaskSpec } from '../machines/domain.ts';
import { POOL_ID } from '../machines/pas-system.machine.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { openJournal } from '../src/journal/journal.ts';
import { createRuntime, DIRECT_REPLY_TO, type RuntimeServices } from '../src/runtime/create-runtime.ts';
import { inProcessServices } from '../test/support/in-process-services.ts';
import { benchConfig, cliFlags, distribution, isMain, machineInfo, round, tempDir, writeArtifact, type Distribution } from './bench-support.ts';

export interface OverheadOptions {
  quick?: boolean;
  tasks?: number;
  concurrency?: number;
  log?: (line: string) => void;
}

export interface OverheadRow {
  runner: 'pas-pool' | 'pas-pool-sync-normal' | 'p-queue';
  tasks: number;
  concurrency: number;
  makespanMs: number;
  tasksPerSecond: number;
  /** makespan / N: the runner's serial (event-loop) cost per task. */
  loopMsPerTask: number;
  /** Per task: started on a worker → its completion delivered (zero work in between). */
  perTaskMs: Distribution;
  /** Per task: handed to the runner → started on a worker. */
  waitMs: Distribution;
  failed: number;
}

function zeroResult(task: TaskSpec, programmerId: string): TaskResult {
  return {
    taskId: task.id,
    jobId: task.jobId,
    programmerId,
    status: 'completed',
    provider: 'none',
    model: 'none',
    usedBackup: false,
    tokens: { input: 0, output: 0 },
    costUsd: 0,
    durationMs: 0,
    kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 },
  };
}

/** The in-process services with an executeTask that does no work at all (not even a timer). */
function zeroWorkServices(): RuntimeServices {
  return {
    ...inProcessServices(),
    executeTask: async ({ task, programmerId }) => zeroResult(task, programmerId),
  };
}

async function runPool(tasks: number, concurrency: number, synchronous: 'FULL' | 'NORMAL'): Promise<OverheadRow> {
  const cfg = benchConfig({ programmers: concurrency });
  const dataDir = tempDir('pas-bench-overhead-');
  const journal = openJournal(path.join(dataDir, 'pas.db'), { synchronous });
  const config = loadConfig(cfg.dir);
  const runtime = createRuntime({ config, dataDir, journal, services: zeroWorkServices() });
  const window = concurrency * (1 + config.pool.load_balancing.max_queue_per_programmer);
  const managerId = config.programmers[0]!.parent;
  const spec = (prefix: string, i: number): TaskSpec => ({ id: `${prefix}-t${i}`, jobId: prefix, managerId, replyTo: DIRECT_REPLY_TO, instruction: 'nothing', files: [] });

  const run = (prefix: string, count: number) =>
    new Promise<{ makespan: number; perTask: number[]; wait: number[]; failed: number }>((resolve) => {
      const submitted = new Map<string, number>();
      const assigned = new Map<string, number>();
      const perTask: number[] = [];
      const wait: number[] = [];
      let next = 0;
      let done = 0;
      let failed = 0;
      const t0 = performance.now();
      const submit = () => {
        const task = spec(prefix, next++);
        submitted.set(task.id, performance.now());
        runtime.send(POOL_ID, { type: 'task.submitted', task });
      };
      const off = runtime.onFact((stated) => {
        if (stated.name === 'recordTaskStarted') {
          const id = stated.fact.task.id;
          if (submitted.has(id)) assigned.set(id, performance.now());
          return;
        }
        if (stated.name !== 'recordTaskFinished') return;
        const result = stated.fact.result;
        const at = submitted.get(result.taskId);
        if (at === undefined) return;
        const now = performance.now();
        const start = assigned.get(result.taskId) ?? now;
        perTask.push(now - start);
        wait.push(start - at);
        if (result.status !== 'completed') failed++;
        done++;
        if (done === count) {
          off();
          resolve({ makespan: performance.now() - t0, perTask, wait, failed });
        } else if (next < count) {
          // Keep the pool at its admission limit, as a well-behaved client would.
          queueMicrotask(submit);
        }
      });
      while (next < Math.min(count, window)) submit();
    });

  try {
    await run('warm', Math.min(tasks, 200));
    const measured = await run('bench', tasks);
    return {
      runner: synchronous === 'FULL' ? 'pas-pool' : 'pas-pool-sync-normal',
      tasks,
      concurrency,
      makespanMs: round(measured.makespan, 1),
      tasksPerSecond: round(tasks / (measured.makespan / 1000), 1),
      loopMsPerTask: round(measured.makespan / tasks, 4),
      perTaskMs: distribution(measured.perTask, 3),
      waitMs: distribution(measured.wait, 2),
      failed: measured.failed,
    };
  } finally {
    await runtime.stop();
    journal.close();
    cfg.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function runPQueue(tasks: number, concurrency: number): Promise<OverheadRow> {
  const run = async (count: number) => {
    const queue = new PQueue({ concurrency });
    const perTask: number[] = [];
    const wait: number[] = [];
    const t0 = performance.now();
    const all: Array<Promise<void>> = [];
    for (let i = 0; i < count; i++) {
      const added = performance.now();
      const task: TaskSpec = { id: `pq-t${i}`, jobId: 'pq', managerId: 'none', replyTo: 'none', instruction: 'nothing', files: [] };
      let started = 0;
      all.push(
        queue
          .add(async () => {
            started = performance.now();
            wait.push(started - added);
            return zeroResult(task, `worker-${i % concurrency}`);
          })
          .then(() => {
            perTask.push(performance.now() - started);
          }),
      );
    }
    await Promise.all(all);
    return { makespan: performance.now() - t0, perTask, wait };
  };
  await run(Math.min(tasks, 200));
  const measured = await run(tasks);
  return {
    runner: 'p-queue',
    tasks,
    concurrency,
    makespanMs: round(measured.makespan, 2),
    tasksPerSecond: round(tasks / (measured.makespan / 1000), 1),
    loopMsPerTask: round(measured.makespan / tasks, 4),
    perTaskMs: distribution(measured.perTask, 4),
    waitMs: distribution(measured.wait, 2),
    failed: 0,
  };
}

export async function runOverheadBench(options: OverheadOptions = {}) {
  const quick = options.quick ?? false;
  const tasks = options.tasks ?? (quick ? 1000 : 3000);
  const concurrency = options.concurrency ?? 10;
  const log = options.log ?? (() => {});
  const rows: OverheadRow[] = [];
  for (const runner of ['p-queue', 'pas-pool', 'pas-pool-sync-normal'] as const) {
    const row = runner === 'p-queue' ? await runPQueue(tasks, concurrency) : await runPool(tasks, concurrency, runner === 'pas-pool' ? 'FULL' : 'NORMAL');
    rows.push(row);
    log(`  overhead ${runner.padEnd(20)} ${tasks} tasks at ${concurrency}: ${row.makespanMs} ms, ${row.tasksPerSecond} tasks/s, per task P50 ${row.perTaskMs.p50} ms P99 ${row.perTaskMs.p99} ms`);
  }
  const pq = rows.find((r) => r.runner === 'p-queue')!;
  return {
    part: 'overhead',
    machine: machineInfo(),
    method: {
      latencyMs: 0,
      tasks,
      concurrency,
      work: 'none: executeTask resolves at once with a result object; the p-queue task returns the same object',
      pool: `real pas runtime: pool machine (routing, queue, supervision) → programmer actors → task.finished to the replyTo, with the journal projection writing SQLite (tasks queued/running/finished) and the inspection bus; the client keeps at most P·(1 + max_queue_per_programmer) tasks outstanding, the pool's own admission limit`,
      loopMsPerTask: 'makespan / N: with everything on one event loop, the serial cost of one task through the runner',
      perTask: 'pool: task.assigned delivered to the programmer → task.finished delivered to the replyTo; p-queue: task function started → its add() promise settled',
      ratio: 'makespan(runner) / makespan(p-queue), same N and concurrency, same process, back to back (after a 200-task warm-up each)',
    },
    rows: rows.map((r) => ({ ...r, makespanRatioVsPQueue: round(r.makespanMs / pq.makespanMs, 1) })),
  };
}

if (isMain(import.meta.url)) {
  const flags = cliFlags();
  const result = await runOverheadBench({ quick: flags.quick, log: (l) => console.log(l) });
  console.log(`wrote ${writeArtifact('overhead', result, flags.out)}`);
}
