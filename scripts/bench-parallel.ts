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
import { checkoutPath, prewarmCheckouts } from '../src/executors/checkouts.ts';
import { cpuPerTask, cpuSample, type CpuPerTask } from './bench-cpu.ts';
import { gitProcessCount, gitSpawnCount } from '../src/executors/git-command.ts';
import { spawnerStats } from '../src/executors/spawner.ts';
import { createNativeExecutor } from '../src/executors/native-executor.ts';
import { runProgrammerTask } from '../src/executors/run-task.ts';
import { runHttpLoops } from './bench-http-loops.ts';
import {
  BENCH_EDIT,
  benchConfig,
  benchFiles,
  clearProviderEnv,
  cliFlags,
  createBenchRepo,
  createLargeRepo,
  distribution,
  isMain,
  machineInfo,
  median,
  round,
  atLatency,
  spawnFakeProvider,
  spawnScript,
  type SpawnedFakeProvider,
  tempDir,
  writeArtifact,
  type Distribution,
} from './bench-support.ts';

export type ParallelVariant = 'http-only' | 'full' | 'full-verify' | 'full-checkout' | 'llm-only' | 'llm-only-sync-normal' | 'verify-ceiling' | 'checkout-ceiling';
/** The git-backed variants, run on both repositories. */
const GIT_VARIANTS: readonly ParallelVariant[] = ['full', 'full-verify', 'full-checkout'];
/**
 * The ceiling each checkout path is held to, measured in the same configuration (same repository,
 * same checkouts, same model server), each of its runs right after the path's run of the same
 * index: the work that path cannot avoid, with no PAS.
 */
const CEILING_OF: Partial<Record<ParallelVariant, ParallelVariant>> = { 'full-verify': 'verify-ceiling', 'full-checkout': 'checkout-ceiling' };
/** Programmer counts whose rows are targets: the git paths run as many times as the others there. */
const TARGET_PROGRAMMERS = [10, 49];
export type RepoKind = 'demo' | 'large';

/** The verify command of `full-verify` (allowed by the shipped cmd_allowlist.yaml). */
const VERIFY = ['git', 'status'];
/** README.md once BENCH_EDIT is applied (what both ceilings write: a verify command checks the edit, so it runs after it). */
const BENCH_EDITED_README = '# bench\n\nA scratch repository for PAS benchmarks, edited by a programmer.\n';

export interface ParallelOptions {
  quick?: boolean;
  latencyMs?: number;
  programmers?: number[];
  /** Subtasks per programmer (N = k·P). */
  tasksPerProgrammer?: number;
  repeats?: number;
  variants?: ParallelVariant[];
  /** Programmer counts for the large repository (default: 10 and 49, where the targets are). */
  largeProgrammers?: number[];
  /** Files of the large generated repository (default 5,000, ~10 KB each). */
  largeFiles?: number;
  /** Skip the large repository. */
  skipLarge?: boolean;
  /**
   * Tasks each runtime (and each ceiling) runs with the model answering at once before its
   * measured runs (not counted), so V8 has optimized the code a long-running runtime runs
   * (default 600; 100 with `quick`; 0 for none: the first runs then include the JIT's tier-up).
   */
  warmupTasks?: number;
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
  /** Git processes started per task during the batch (full variants). */
  gitProcessesPerTask?: number;
  /** Spawns of the runtime process per task to run git (a sequence of git commands is one spawn). */
  gitSpawnsPerTask?: number;
  /** CPU per task of this process and of the children it waited for (git, verify commands), and the load. */
  cpu?: CpuPerTask;
  /**
   * Programs (git, verify commands) the spawner started per task, of them those started held (a
   * verify command forked while its task waited for the model, run on its go), the mean time from
   * the request to the start of the others (the spawner's own fork included), and programs this
   * process forked itself per task through the same path (spawner off or unable to start).
   */
  spawner?: { startsPerTask: number; heldPerTask: number; startMs: number; directPerTask: number };
}

/** One configuration's batches: N = tasks on `programmers`, ideal = ceil(N/P)·L, efficiency = ideal / makespan. */
export interface BatchFigures {
  programmers: number;
  tasks: number;
  latencyMs: number;
  idealMs: number;
  /** Median over the repeats. */
  makespanMs: number;
  efficiency: number;
  runs: ParallelRun[];
}

export interface ParallelRow extends BatchFigures {
  variant: ParallelVariant;
  repo: RepoKind;
  /** Median git processes per task over the runs (full variants). */
  gitProcessesPerTask?: number;
  /** Median CPU ms per task over the runs: the runtime process, and the children it waited for (git, verify commands). */
  cpuMsPerTask?: { process: number; children: number };
  /** Median over the runs of the main thread's CPU ms per task (Linux; not for http-only). */
  mainThreadCpuMsPerTask?: number;
  speedup: number;
  idealSpeedup: number;
}

const CHILD_PROMPT = 'You are a PAS benchmark programmer. Reply with one SEARCH/REPLACE block.';

/** executeTask that only calls the programmer's model through the real LLM client (no git). */
export function llmOnlyServices(ctx: ServiceContext): RuntimeServices {
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

/**
 * The real services with the native executor made to need a checkout: the path an agent CLI
 * (or aider) takes: the programmer's reused checkout is restored to the base, edited on disk, staged and its tree
 * written (everything else as shipped).
 */
function checkoutServices(ctx: ServiceContext): RuntimeServices {
  const real = createDefaultServices()(ctx);
  const executor = createNativeExecutor({ fsAllowlist: ctx.config.fsAllowlist, checkout: 'required' });
  return {
    ...real,
    async executeTask({ task, programmerId }, signal): Promise<TaskResult> {
      const programmer = ctx.config.programmers.find((p) => p.id === programmerId)!;
      const live = ctx.llmSettings.get(programmerId);
      return runProgrammerTask({
        task,
        programmer: live ? { ...programmer, primary: live.primary, ...(live.backup ? { backup: live.backup } : {}) } : programmer,
        repo: task.repo!,
        workspacesDir: path.join(ctx.dataDir, 'workspaces'),
        executor,
        llm: real.llm,
        receipts: real.receipts,
        runId: ctx.runId,
        signal,
        fsAllowlist: ctx.config.fsAllowlist,
        cmdAllowlist: ctx.config.cmdAllowlist,
      });
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
  const gitBefore = gitProcessCount();
  const spawnsBefore = gitSpawnCount();
  const spawnerBefore = spawnerStats();
  const cpuBefore = cpuSample();
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
    gitProcessesPerTask: round((gitProcessCount() - gitBefore) / tasks.length, 2),
    gitSpawnsPerTask: round((gitSpawnCount() - spawnsBefore) / tasks.length, 2),
    cpu: cpuPerTask(cpuBefore, cpuSample(), tasks.length),
  };
  const spawner = spawnerStats();
  const starts = spawner.viaSpawner - spawnerBefore.viaSpawner;
  const held = spawner.held - spawnerBefore.held;
  run.spawner = {
    startsPerTask: round(starts / tasks.length, 2),
    heldPerTask: round(held / tasks.length, 2),
    // Held starts wait for their go: the mean is of the others.
    startMs: round(starts > held ? (spawner.startMsTotal - spawnerBefore.startMsTotal) / (starts - held) : 0, 2),
    directPerTask: round((spawner.direct - spawnerBefore.direct) / tasks.length, 2),
  };
  if (durations.length === results.length) run.beyondLatencyMs = distribution(durations.map((d) => d - latencyMs), 1);
  return run;
}

/**
 * JIT warm-up (not counted): the model set to answer at once, batches of `N` (`specs(b)`: batch b's
 * tasks) until `tasks` have run, then `also` (a ceiling's own warm-up), the latency given back
 * whatever happened. Without it V8 still optimizes the runtime's functions one after the other
 * during the measured batches, on helper threads that take CPU from the tasks. A batch with a
 * failed task throws: what failed (a model server gone, a breaker opened) would carry into the
 * measured runs. Returns how many tasks ran.
 */
export async function jitWarmUp(runtime: Runtime, fake: SpawnedFakeProvider, o: { tasks: number; N: number; latencyMs: number; label: string; specs: (batch: number) => TaskSpec[]; also?: () => Promise<unknown> }): Promise<number> {
  return atLatency(fake, 0, o.latencyMs, async () => {
    let done = 0;
    for (let b = 1; done < o.tasks; done += o.N, b++) {
      const warm = await runBatch(runtime, o.specs(b), 0);
      if (warm.failed > 0) throw new Error(`${o.label}: ${warm.failed} of the JIT warm-up's ${o.N} tasks failed`);
    }
    await o.also?.();
    return done;
  });
}

/**
 * A ceiling's runs in the configuration of its path, in a small process of its own
 * (scripts/bench-ceiling.ts): each of `ids`'s checkouts of `repo` made clean (not timed), then P
 * loops of a model call (as http-only), each followed by only what the path cannot avoid in its
 * worker's own checkout: the edit written (checkout-ceiling), then the verify command run
 * (verify-ceiling: the command checks the edit, as full-verify's does). `close` ends the process.
 */
async function ceilingOf(ceiling: ParallelVariant, url: string, repo: string, workspaces: string, ids: readonly string[], baseCommit: string) {
  const dirs = await Promise.all(ids.map((id) => checkoutPath(repo, workspaces, id)));
  const loops = await spawnScript('bench-ceiling.ts', JSON.stringify({ url, dirs, edited: BENCH_EDITED_README, verify: ceiling === 'verify-ceiling' ? VERIFY : null }));
  const request = async (P: number, k: number, latencyMs: number): Promise<ParallelRun> => {
    const answer = JSON.parse(await loops.request(JSON.stringify({ P, k, latencyMs }))) as ParallelRun | { error: string };
    if ('error' in answer) throw new Error(`${ceiling}: ${answer.error}`);
    return answer;
  };
  return {
    run: async (P: number, k: number, latencyMs: number): Promise<ParallelRun> => {
      await prewarmCheckouts(repo, workspaces, ids, baseCommit);
      return request(P, k, latencyMs);
    },
    /** The same loops, `k` model calls each, for the JIT's warm-up (the model answering at once). */
    warm: (P: number, k: number) => request(P, k, 0),
    close: () => loops.close(),
  };
}

export function taskSpecs(prefix: string, files: string[], repo: string, baseCommit: string, managerId: string, verify = false): TaskSpec[] {
  return files.map((file, i) => ({
    ...(verify ? { verify: VERIFY } : {}),
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
  const largeCounts = options.largeProgrammers ?? [10, 49];
  const largeFiles = options.largeFiles ?? 5_000;
  const k = options.tasksPerProgrammer ?? (quick ? 1 : 2);
  const repeats = options.repeats ?? (quick ? 1 : 3);
  const warmupTasks = options.warmupTasks ?? (quick ? 100 : 600);
  /** The git paths run as often as the others where they are targets (P = 10, 49), once elsewhere. */
  const fullRepeats = repeats;
  const gitRepeats = (P: number) => (TARGET_PROGRAMMERS.includes(P) ? fullRepeats : 1);
  const variants = options.variants ?? ['http-only', 'llm-only', 'llm-only-sync-normal', 'full', 'full-verify', 'full-checkout'];
  const log = options.log ?? (() => {});
  clearProviderEnv();

  const row = (variant: ParallelVariant, repoKind: RepoKind, P: number, N: number, runs: ParallelRun[], base: { p1?: number }): ParallelRow => {
    const makespanMs = median(runs.map((r) => r.makespanMs));
    const idealMs = Math.ceil(N / P) * latencyMs;
    if (base.p1 === undefined) {
      // ms per task at P = 1: measured where the rows start there; else (the large repository, the
      // ceilings, which start at P = 10) the ideal one, L: a speedup is always against one programmer.
      base.p1 = P === 1 ? makespanMs / N : latencyMs;
    }
    const git = runs.map((r) => r.gitProcessesPerTask).filter((g): g is number => typeof g === 'number');
    const cpu = runs.map((r) => r.cpu).filter((c): c is CpuPerTask => c !== undefined);
    const mainCpu = cpu.map((c) => c.mainThreadMs).filter((c): c is number => typeof c === 'number');
    return {
      variant,
      repo: repoKind,
      programmers: P,
      tasks: N,
      latencyMs,
      idealMs,
      makespanMs: round(makespanMs, 1),
      efficiency: round(idealMs / makespanMs, 4),
      speedup: round(base.p1 / (makespanMs / N), 2),
      idealSpeedup: P,
      ...(GIT_VARIANTS.includes(variant) && git.length > 0 ? { gitProcessesPerTask: median(git) } : {}),
      ...(cpu.length > 0 ? { cpuMsPerTask: { process: median(cpu.map((c) => c.processMs)), children: median(cpu.map((c) => c.childrenMs)) } } : {}),
      ...(mainCpu.length > 0 ? { mainThreadCpuMsPerTask: median(mainCpu) } : {}),
      runs,
    };
  };

  const rows: ParallelRow[] = [];
  // One generated large repository for the whole part; its programmers' checkouts are made once and reused.
  const largeDir = tempDir('pas-bench-large-');
  let large: { repo: string; baseCommit: string; files: number; bytes: number } | undefined;
  try {
    const plan: Array<{ variant: ParallelVariant; repoKind: RepoKind; counts: number[] }> = [];
    for (const variant of variants) {
      // A ceiling runs with its path (same repository and checkouts), never alone.
      if (Object.values(CEILING_OF).includes(variant)) continue;
      plan.push({ variant, repoKind: 'demo', counts: programmerCounts });
      if (GIT_VARIANTS.includes(variant) && !options.skipLarge) plan.push({ variant, repoKind: 'large', counts: largeCounts });
    }
    for (const { variant, repoKind, counts } of plan) {
      const base: { p1?: number } = {};
      const ceilingBase: { p1?: number } = {};
      const ceilingRows: ParallelRow[] = [];
      if (repoKind === 'large' && !large) {
        const t = performance.now();
        large = await createLargeRepo(path.join(largeDir, 'repo'), largeFiles);
        log(`  parallel: generated a repository of ${large.files} files, ${(large.bytes / 2 ** 20).toFixed(1)} MiB, in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      }
      for (const P of counts) {
        const N = k * P;
        const fake = await spawnFakeProvider({ kind: 'ollama', latencyMs, reply: BENCH_EDIT });
        if (variant === 'http-only') {
          const runs: ParallelRun[] = [];
          try {
            // JIT warm-up as every configuration's (the model answering at once), then one call at its latency.
            if (warmupTasks > 0) await atLatency(fake, 0, latencyMs, () => runHttpLoops(fake.url, P, Math.ceil(warmupTasks / P), 0));
            await runHttpLoops(fake.url, 1, 1, latencyMs);
            for (let r = 0; r < repeats; r++) {
              const run = await runHttpLoops(fake.url, P, k, latencyMs);
              runs.push(run);
              log(`  parallel ${variant.padEnd(13)} P=${String(P).padStart(2)} N=${String(N).padStart(3)} run ${r + 1}: makespan ${run.makespanMs.toFixed(0)} ms (ideal ${Math.ceil(N / P) * latencyMs})`);
            }
          } finally {
            await fake.close();
          }
          rows.push(row(variant, repoKind, P, N, runs, base));
          continue;
        }
        const cfg = benchConfig({ programmers: P, programmerUrl: fake.url });
        // The large repository's variants share one data dir, so its checkouts are made once.
        const dataDir = repoKind === 'large' ? path.join(largeDir, 'data') : tempDir('pas-bench-parallel-');
        const journalFile = path.join(dataDir, `pas-${variant}-p${P}.db`);
        const journal = openJournal(journalFile, variant === 'llm-only-sync-normal' ? { synchronous: 'NORMAL' } : {});
        const services = variant === 'full' || variant === 'full-verify' ? createDefaultServices() : variant === 'full-checkout' ? checkoutServices : llmOnlyServices;
        const runtime = createRuntime({ config: loadConfig(cfg.dir), dataDir, journal, services });
        const managerId = runtime.config.programmers[0]!.parent;
        const runs: ParallelRun[] = [];
        let ceilingRun: Awaited<ReturnType<typeof ceilingOf>> | undefined;
        try {
          const { repo, baseCommit } = repoKind === 'large' ? large! : await createBenchRepo(path.join(dataDir, 'repo'), benchFiles(N));
          const verify = variant === 'full-verify';
          if (variant === 'full-verify' || variant === 'full-checkout') {
            // Pre-warmed at start: each programmer's checkout of the repository, made once, all at once.
            const t = performance.now();
            await prewarmCheckouts(repo, path.join(dataDir, 'workspaces'), runtime.config.programmers.map((p) => p.id), baseCommit);
            log(`  parallel ${variant} ${repoKind} P=${P}: checkouts ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);
          }
          const runsHere = GIT_VARIANTS.includes(variant) ? gitRepeats(P) : repeats;
          // Ceilings only where the rows are targets (P = 10, 49).
          const ceiling = TARGET_PROGRAMMERS.includes(P) ? CEILING_OF[variant] : undefined;
          // The same configuration without PAS: P loops of a model call, then only what this path
          // cannot avoid, each in its own checkout made clean before the run (not timed).
          ceilingRun = ceiling ? await ceilingOf(ceiling, fake.url, repo, path.join(dataDir, 'workspaces'), runtime.config.programmers.map((p) => p.id), baseCommit) : undefined;
          // JIT warm-up: the runtime as it runs for hours (see jitWarmUp); its ceiling's loops as many.
          if (warmupTasks > 0) {
            const t = performance.now();
            const ran = await jitWarmUp(runtime, fake, {
              tasks: warmupTasks,
              N,
              latencyMs,
              label: `${variant} ${repoKind} P=${P}`,
              specs: (b) => taskSpecs(`jit-${variant}-${repoKind}-p${P}-w${b}`, benchFiles(N), repo, baseCommit, managerId, verify),
              ...(ceilingRun ? { also: () => ceilingRun!.warm(P, Math.ceil(warmupTasks / P)) } : {}),
            });
            log(`  parallel ${variant} ${repoKind} P=${P}: JIT warm-up of ${ran} tasks${ceilingRun ? ' (and its ceiling)' : ''} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
          }
          // Warm-up (not counted): one task at the model's latency, so the HTTP agent and git's caches are warm.
          await runBatch(runtime, taskSpecs(`warm-${variant}-${repoKind}-p${P}`, benchFiles(1), repo, baseCommit, managerId, verify), latencyMs);
          const ceilingRuns: ParallelRun[] = [];
          // Each ceiling run follows the path's run of the same index (A B A B …): a machine whose
          // speed drifts during the part (other load, CPU frequency) moves both alike, not one.
          for (let r = 0; r < runsHere; r++) {
            const run = await runBatch(runtime, taskSpecs(`bench-${variant}-${repoKind}-p${P}-r${r + 1}`, benchFiles(N), repo, baseCommit, managerId, verify), latencyMs);
            runs.push(run);
            const git = GIT_VARIANTS.includes(variant) ? `, ${run.gitProcessesPerTask} git processes/task (${run.gitSpawnsPerTask} spawns), spawner ${run.spawner?.startsPerTask} starts/task (${run.spawner?.heldPerTask} held; request→start of the others ${run.spawner?.startMs} ms) + ${run.spawner?.directPerTask} direct, CPU/task ${run.cpu?.processMs} ms + children ${run.cpu?.childrenMs} ms` : '';
            const main = `, main thread ${run.cpu?.mainThreadMs ?? '–'} ms/task, loop busy ${run.cpu?.loopBusyMs} ms/task (load ${run.cpu?.load1})`;
            log(`  parallel ${variant.padEnd(13)} ${repoKind.padEnd(5)} P=${String(P).padStart(2)} N=${String(N).padStart(3)} run ${r + 1}: makespan ${run.makespanMs.toFixed(0)} ms (ideal ${Math.ceil(N / P) * latencyMs})${git}${main}${run.failed ? `, ${run.failed} failed` : ''}`);
            if (!ceiling || !ceilingRun) continue;
            const cRun = await ceilingRun.run(P, k, latencyMs);
            ceilingRuns.push(cRun);
            log(`  parallel ${ceiling.padEnd(13)} ${repoKind.padEnd(5)} P=${String(P).padStart(2)} N=${String(N).padStart(3)} run ${r + 1}: makespan ${cRun.makespanMs.toFixed(0)} ms (ideal ${Math.ceil(N / P) * latencyMs})`);
          }
          if (ceiling) ceilingRows.push(row(ceiling, repoKind, P, N, ceilingRuns, ceilingBase));
        } finally {
          await ceilingRun?.close();
          await runtime.stop();
          journal.close();
          await fake.close();
          cfg.cleanup();
          if (repoKind === 'large') for (const suffix of ['', '-wal', '-shm']) rmSync(`${journalFile}${suffix}`, { force: true });
          else rmSync(dataDir, { recursive: true, force: true });
        }
        rows.push(row(variant, repoKind, P, N, runs, base));
        // A path's ceiling row follows its own rows.
        if (P === counts[counts.length - 1]) rows.push(...ceilingRows.splice(0));
      }
    }
  } finally {
    rmSync(largeDir, { recursive: true, force: true });
  }

  return {
    part: 'parallel',
    machine: machineInfo(),
    method: {
      latencyMs,
      tasksPerProgrammer: k,
      repeats,
      warmupTasks,
      warmUp:
        `before each configuration's measured runs (not counted): batches of N with the model answering at once until ${warmupTasks} tasks have run (http-only: ${warmupTasks} calls), and for its ceiling P loops of ceil(${warmupTasks}/P) calls with their edit (and verify command), then one task at the model's latency. ` +
        'So what is measured is the runtime as it runs for hours: without it V8 was still optimizing the runtime\'s functions during the measured batches, on helper threads that take CPU from the tasks (the checkout path at P = 49, 7 batches of 98 in a row: 175–445 ms of compiling per batch, the first batches 2–5 points lower). The option warmupTasks sets it (0: none).',
      /** Runs of the git paths (and their ceilings) at P = 10 and 49; once at other P. */
      fullPathRepeats: fullRepeats,
      largeRepository: large ? { files: large.files, mib: round(large.bytes / 2 ** 20, 1) } : null,
      cpu:
        'per run: CPU ms per task of the runtime process (process.cpuUsage) and of the children it waited for during the batch (/proc/self/stat cutime+cstime: short-lived git processes and verify commands; the long-lived cat-file and update-ref count when they end), ' +
        'of its main thread alone (/proc/self/task/<pid>/schedstat) and the event loop\'s busy ms per task (performance.eventLoopUtilization: CPU plus blocking calls), and the 1-minute load average at the end of the batch. ' +
        'When 49 answers land at once, what the main thread does per task is done one task after another: the rows are bound by it; wall-clock makespans on a loaded machine are not.',
      gitProcessesPerTask: 'git processes started by the runtime (through its spawner for the short-lived ones) during a batch / N (long-lived cat-file and update-ref processes count once, when they start)',
      why:
        `Every programmer model is a local Ollama-protocol HTTP server that answers after L = ${latencyMs} ms, so a subtask can never take less than L and ` +
        `N = ${k}·P subtasks on P programmers can never finish before ceil(N/P)·L. L is large against the per-task work of the orchestration ` +
        `so the ideal is meaningful, and small enough that the whole part runs in minutes.`,
      makespan: 'performance.now() before the first task.submitted is sent to the pool → the last task.finished delivered to its replyTo, median over the repeats (after the warm-up, see warmUp)',
      speedup: 'throughput(P)/throughput(1) with N = k·P (scaled speedup); ideal = P. throughput(1) is the measured P = 1 run where a path\'s rows start at P = 1, else (the large repository, the ceilings, any run without P = 1) the ideal one, 1/L',
      efficiency: 'ideal / makespan with ideal = ceil(N/P)·L',
      variants: {
        'http-only': "no PAS: P concurrent loops, k POST /api/chat each, to the same model server, on the cheapest client here (node:http over kept-alive sockets, the one PAS's adapters use; cheaper than fetch): the ceiling of this machine for P concurrent model calls",
        full: 'pool → programmer actor → runProgrammerTask: native executor reading the base commit through a long-lived git cat-file (LLM client over HTTP, SEARCH/REPLACE applied in memory, allowlist-checked) → blobs, trees and commit written as objects → KPIs in-process → task branch created through a long-lived git update-ref → receipt (no checkout)',
        'full-verify': `full, plus a verify command (${VERIFY.join(' ')}) run in the programmer's reused checkout: restored to the base in-process by the paths the last task changed (watched with inotify; the index checked in-process), the edits written, the command run, then the commit as in full`,
        'full-checkout': "the path of an executor that needs files on disk (agent CLIs, aider): the programmer's reused checkout restored to the base by the paths the last task changed (in-process; its index read back by git read-tree), the native executor editing it on disk, git add there, its tree written from the index in-process, commit and branch as objects",
        repos: `demo: a fresh repository of N small files per configuration; large: one generated repository of ${largeFiles} files (~10 KB each) shared by the large runs, with each programmer's checkout made once before the runs (pre-warmed)`,
        'llm-only': 'pool → programmer actor → executeTask that makes only the LLM client call over HTTP (no git, no files): orchestration + LLM protocol, journal as shipped (SQLite WAL, synchronous=FULL: one fsync per journal write, on the event loop)',
        'llm-only-sync-normal': 'the same as llm-only with the journal opened synchronous=NORMAL (WAL still survives a killed process, not a power loss): what the per-write fsyncs cost',
        'verify-ceiling': `the ceiling of full-verify, each run right after full-verify's run of the same index (interleaved), on the same repository and checkouts, in a small process of its own (scripts/bench-ceiling.ts: a command started from the bench process, which holds the runtimes' heap, costs a fork of that heap): no PAS, P loops of a model call (as http-only) then the edited file written and the verify command (${VERIFY.join(' ')}) run in the worker's own checkout, made clean before the run`,
        'checkout-ceiling': "the ceiling of full-checkout, each run right after full-checkout's run of the same index (interleaved), on the same repository and checkouts, in a small process of its own (scripts/bench-ceiling.ts): no PAS, P loops of a model call (as http-only) then the edited file written into the worker's own checkout, made clean before the run",
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
    console.log(`${r.variant.padEnd(13)} ${r.repo.padEnd(5)} P=${String(r.programmers).padStart(2)} N=${String(r.tasks).padStart(3)} makespan ${r.makespanMs} ms ideal ${r.idealMs} ms efficiency ${(r.efficiency * 100).toFixed(1)} % speedup ${r.speedup}×`);
  }
  console.log(`wrote ${file}`);
}
