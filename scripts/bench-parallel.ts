/**
 * Part 1 — parallel speedup. N = k·P subtasks go into the pool at once with P programmers whose
 * model is a local Ollama-protocol server answering after a fixed latency L. Two variants run in
 * the same process, one after the other:
 *   - `full`: the real path — pool → programmer actor → native executor → LLM client over HTTP →
 *     SEARCH/REPLACE applied in a fresh git worktree → allowlist check → commit → KPIs → receipt.
 *   - `llm-only`: the same pool, actors and LLM client over HTTP, but executeTask only makes the
 *     model call (no git, no files): orchestration + LLM protocol alone.
 * makespan = submit of the first task → the last `task.finished`; ideal = ceil(N/P)·L;
 * efficiency = ideal / makespan; speedup = throughput(P) / throughput(1) (N grows with P, so this
 * is the scaled speedup; with N = k·P it equals P·makespan(1)/makespan(P)).
 *
 * Run alone: `npx tsx scripts/bench-parallel.ts [--quick]`.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TaskResult, TaskSpec } from '../machines/domain.ts';
import { POOL_ID } from '../machines/pas-system.machine.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { openJournal } from '../src/journal/journal.ts';
import { createRuntime, DIRECT_REPLY_TO, type Runtime, type RuntimeServices, type ServiceContext } from '../src/runtime/create-runtime.ts';
import { createDefaultServices } from '../src/runtime/default-services.ts';
import {
  BENCH_EDIT,
  benchConfig,
  benchFiles,
  clearProviderEnv,
  cliFlags,
  createBenchRepo,
  distribution,
  isMain,
  machineInfo,
  median,
  round,
  spawnFakeProvider,
  tempDir,
  writeArtifact,
  type Distribution,
} from './bench-support.ts';

export type ParallelVariant = 'http-only' | 'full' | 'llm-only' | 'llm-only-sync-normal';

export interface ParallelOptions {
  quick?: boolean;
  latencyMs?: number;
  programmers?: number[];
  /** Subtasks per programmer (N = k·P). */
  tasksPerProgrammer?: number;
  repeats?: number;
  variants?: ParallelVariant[];
  log?: (line: string) => void;
}

export interface ParallelRun {
  makespanMs: number;
  /** From the first submit to the last task being assigned to a programmer. */
  lastAssignMs: number;
  /** Per task: submit → assigned to a programmer. */
  dispatchMs: Distribution;
  /** Per task: assigned → its `task.finished` delivered (the programmer's whole turn). */
  turnMs: Distribution;
  /** Per task: the pipeline's own duration (TaskResult.durationMs) minus L: git, files, HTTP. */
  beyondLatencyMs?: Distribution;
  failed: number;
}

export interface ParallelRow {
  variant: ParallelVariant;
  programmers: number;
  tasks: number;
  latencyMs: number;
  idealMs: number;
  /** Median over the repeats. */
  makespanMs: number;
  efficiency: number;
  speedup: number;
  idealSpeedup: number;
  runs: ParallelRun[];
}

const CHILD_PROMPT = 'You are a PAS benchmark programmer. Reply with one SEARCH/REPLACE block.';

/** executeTask that only calls the programmer's model through the real LLM client (no git). */
function llmOnlyServices(ctx: ServiceContext): RuntimeServices {
  const real = createDefaultServices()(ctx);
  return {
    ...real,
    async executeTask({ task, programmerId }, signal): Promise<TaskResult> {
      const started = Date.now();
      const choice = ctx.llmSettings.get(programmerId)!;
      const reply = await real.llm.call({
        agentId: programmerId,
        primary: choice.primary,
        ...(choice.backup ? { backup: choice.backup } : {}),
        request: {
          messages: [
            { role: 'system', content: CHILD_PROMPT },
            { role: 'user', content: task.instruction },
          ],
          signal,
          meta: { agentId: programmerId, role: 'programmer', jobId: task.jobId, taskId: task.id, purpose: 'edit' },
        },
      });
      return {
        taskId: task.id,
        jobId: task.jobId,
        programmerId,
        status: 'completed',
        provider: reply.provider,
        model: reply.model,
        usedBackup: reply.usedBackup,
        tokens: reply.usage,
        costUsd: reply.costUsd,
        durationMs: Date.now() - started,
        kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 },
      };
    },
  };
}

/** Puts `tasks` into the pool at once and resolves when every one has finished. */
export async function runBatch(runtime: Runtime, tasks: TaskSpec[], latencyMs: number, timeoutMs = 600_000): Promise<ParallelRun> {
  const ids = new Set(tasks.map((t) => t.id));
  const assignedAt = new Map<string, number>();
  const finishedAt = new Map<string, number>();
  const results: TaskResult[] = [];
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  const off = runtime.onFact((stated) => {
    if (stated.name === 'recordTaskStarted') {
      const id = stated.fact.task.id;
      if (ids.has(id) && !assignedAt.has(id)) assignedAt.set(id, performance.now());
    } else if (stated.name === 'recordTaskFinished') {
      const result = stated.fact.result;
      if (!ids.has(result.taskId) || finishedAt.has(result.taskId)) return;
      finishedAt.set(result.taskId, performance.now());
      results.push(result);
      if (finishedAt.size === ids.size) resolveAll();
    }
  });
  const t0 = performance.now();
  try {
    for (const task of tasks) runtime.send(POOL_ID, { type: 'task.submitted', task });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      all,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${finishedAt.size}/${ids.size} tasks finished within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  } finally {
    off();
  }
  const makespanMs = Math.max(...finishedAt.values()) - t0;
  const dispatch = tasks.map((t) => (assignedAt.get(t.id) ?? t0) - t0);
  const turn = tasks.map((t) => finishedAt.get(t.id)! - (assignedAt.get(t.id) ?? t0));
  const durations = results.map((r) => r.durationMs).filter((d): d is number => typeof d === 'number');
  const run: ParallelRun = {
    makespanMs: round(makespanMs, 1),
    lastAssignMs: round(Math.max(...dispatch), 1),
    dispatchMs: distribution(dispatch, 1),
    turnMs: distribution(turn, 1),
    failed: results.filter((r) => r.status !== 'completed').length,
  };
  if (durations.length === results.length) run.beyondLatencyMs = distribution(durations.map((d) => d - latencyMs), 1);
  return run;
}

/**
 * No PAS at all: P workers each POST k chat requests one after the other (fetch, the same body the
 * Ollama adapter sends) to the same kind of model server. The ceiling the other variants are held to.
 */
async function runHttpOnly(url: string, P: number, k: number, latencyMs: number): Promise<ParallelRun> {
  const body = JSON.stringify({ model: 'qwen2.5-coder:7b-instruct', messages: [{ role: 'user', content: 'Add a one-line doc comment.' }], stream: false });
  const beyond: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: P }, async () => {
      for (let i = 0; i < k; i++) {
        const t = performance.now();
        const res = await fetch(`${url}/api/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await res.json();
        beyond.push(performance.now() - t - latencyMs);
      }
    }),
  );
  const makespanMs = performance.now() - t0;
  const zero = distribution([0], 1);
  return { makespanMs: round(makespanMs, 1), lastAssignMs: 0, dispatchMs: zero, turnMs: distribution(beyond.map((b) => b + latencyMs), 1), beyondLatencyMs: distribution(beyond, 1), failed: 0 };
}

function taskSpecs(prefix: string, files: string[], repo: string, baseCommit: string, managerId: string): TaskSpec[] {
  return files.map((file, i) => ({
    id: `${prefix}-t${i + 1}`,
    jobId: prefix,
    managerId,
    replyTo: DIRECT_REPLY_TO,
    instruction: `Add a one-line doc comment to ${file}.`,
    files: [file],
    repo,
    baseCommit,
  }));
}

export async function runParallelBench(options: ParallelOptions = {}) {
  const quick = options.quick ?? false;
  const latencyMs = options.latencyMs ?? (quick ? 500 : 1500);
  const programmerCounts = options.programmers ?? [1, 3, 10, 49];
  const k = options.tasksPerProgrammer ?? (quick ? 1 : 2);
  const repeats = options.repeats ?? (quick ? 1 : 3);
  /** The git-bound full path is slow on a small machine; once is enough to see where it stands. */
  const fullRepeats = options.repeats ?? 1;
  const variants = options.variants ?? ['http-only', 'llm-only', 'llm-only-sync-normal', 'full'];
  const log = options.log ?? (() => {});
  clearProviderEnv();

  const row = (variant: ParallelVariant, P: number, N: number, runs: ParallelRun[], base: { p1?: number }): ParallelRow => {
    const makespanMs = median(runs.map((r) => r.makespanMs));
    const idealMs = Math.ceil(N / P) * latencyMs;
    if (base.p1 === undefined) base.p1 = makespanMs / N; // ms per task at the first (smallest) P
    return {
      variant,
      programmers: P,
      tasks: N,
      latencyMs,
      idealMs,
      makespanMs: round(makespanMs, 1),
      efficiency: round(idealMs / makespanMs, 4),
      speedup: round(base.p1 / (makespanMs / N), 2),
      idealSpeedup: P / (programmerCounts[0] ?? 1),
      runs,
    };
  };
  const rows: ParallelRow[] = [];
  for (const variant of variants) {
    const base: { p1?: number } = {};
    for (const P of programmerCounts) {
      const N = k * P;
      const fake = await spawnFakeProvider({ kind: 'ollama', latencyMs, reply: BENCH_EDIT });
      if (variant === 'http-only') {
        const runs: ParallelRun[] = [];
        try {
          await runHttpOnly(fake.url, 1, 1, latencyMs);
          for (let r = 0; r < repeats; r++) {
            const run = await runHttpOnly(fake.url, P, k, latencyMs);
            runs.push(run);
            log(`  parallel ${variant.padEnd(8)} P=${String(P).padStart(2)} N=${String(N).padStart(3)} run ${r + 1}: makespan ${run.makespanMs.toFixed(0)} ms (ideal ${Math.ceil(N / P) * latencyMs})`);
          }
        } finally {
          await fake.close();
        }
        rows.push(row(variant, P, N, runs, base));
        continue;
      }
      const cfg = benchConfig({ programmers: P, programmerUrl: fake.url });
      const dataDir = tempDir('pas-bench-parallel-');
      const journal = openJournal(path.join(dataDir, 'pas.db'), variant === 'llm-only-sync-normal' ? { synchronous: 'NORMAL' } : {});
      const runtime = createRuntime({
        config: loadConfig(cfg.dir),
        dataDir,
        journal,
        services: variant === 'full' ? createDefaultServices() : llmOnlyServices,
      });
      const managerId = runtime.config.programmers[0]!.parent;
      const runs: ParallelRun[] = [];
      try {
        const { repo, baseCommit } = await createBenchRepo(path.join(dataDir, 'repo'), benchFiles(N));
        // Warm-up (not counted): one task, so JIT, the HTTP agent and git's caches are warm.
        await runBatch(runtime, taskSpecs(`warm-${variant}-p${P}`, benchFiles(1), repo, baseCommit, managerId), latencyMs);
        const runsHere = variant === 'full' ? fullRepeats : repeats;
        for (let r = 0; r < runsHere; r++) {
          const run = await runBatch(runtime, taskSpecs(`bench-${variant}-p${P}-r${r + 1}`, benchFiles(N), repo, baseCommit, managerId), latencyMs);
          runs.push(run);
          log(`  parallel ${variant.padEnd(8)} P=${String(P).padStart(2)} N=${String(N).padStart(3)} run ${r + 1}: makespan ${run.makespanMs.toFixed(0)} ms (ideal ${Math.ceil(N / P) * latencyMs})${run.failed ? `, ${run.failed} failed` : ''}`);
        }
      } finally {
        await runtime.stop();
        journal.close();
        await fake.close();
        cfg.cleanup();
        rmSync(dataDir, { recursive: true, force: true });
      }
      rows.push(row(variant, P, N, runs, base));
    }
  }

  return {
    part: 'parallel',
    machine: machineInfo(),
    method: {
      latencyMs,
      tasksPerProgrammer: k,
      repeats,
      fullPathRepeats: fullRepeats,
      why:
        `Every programmer model is a local Ollama-protocol HTTP server that answers after L = ${latencyMs} ms, so a subtask can never take less than L and ` +
        `N = ${k}·P subtasks on P programmers can never finish before ceil(N/P)·L. L is large against the per-task work of the orchestration ` +
        `so the ideal is meaningful, and small enough that the whole part runs in minutes.`,
      makespan: 'performance.now() before the first task.submitted is sent to the pool → the last task.finished delivered to its replyTo, median over the repeats (after one warm-up task per configuration)',
      speedup: 'throughput(P)/throughput(1) with N = k·P (scaled speedup); ideal = P',
      efficiency: 'ideal / makespan with ideal = ceil(N/P)·L',
      variants: {
        'http-only': 'no PAS: P concurrent fetch loops, k POST /api/chat each, to the same model server: the ceiling of this machine for P concurrent model calls',
        full: 'pool → programmer actor → runProgrammerTask: git worktree add → native executor (LLM client over HTTP, SEARCH/REPLACE applied through the fs guard) → allowlist check → git commit → diff KPIs → worktree removed → receipt',
        'llm-only': 'pool → programmer actor → executeTask that makes only the LLM client call over HTTP (no git, no files): orchestration + LLM protocol, journal as shipped (SQLite WAL, synchronous=FULL: one fsync per journal write, on the event loop)',
        'llm-only-sync-normal': 'the same as llm-only with the journal opened synchronous=NORMAL (WAL still survives a killed process, not a power loss): what the per-write fsyncs cost',
      },
      modelServer: 'test/support/fake-llm-server.ts started in its own process (scripts/bench-fake-llm.ts), so its latency timer is not delayed by the runtime event loop',
      logging: 'silent logger (createRuntime default); pino file logging is part of the footprint measurement, not of this one',
    },
    rows,
  };
}

if (isMain(import.meta.url)) {
  const flags = cliFlags();
  const result = await runParallelBench({ quick: flags.quick, log: (l) => console.log(l) });
  const file = writeArtifact('parallel', result, flags.out);
  for (const r of result.rows) {
    console.log(`${r.variant.padEnd(8)} P=${String(r.programmers).padStart(2)} N=${String(r.tasks).padStart(3)} makespan ${r.makespanMs} ms ideal ${r.idealMs} ms efficiency ${(r.efficiency * 100).toFixed(1)} % speedup ${r.speedup}×`);
  }
  console.log(`wrote ${file}`);
}
