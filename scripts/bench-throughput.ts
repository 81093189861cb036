/**
 * Part 2 — throughput and latency of whole jobs at L = 200 ms. The full tree runs (gateway →
 * Architect → Director → Managers → pool → Programmers) with every model a local server of its
 * provider's wire format answering after L: the Architect's lane question (Anthropic protocol),
 * each Manager's plan (Gemini protocol, a JSON plan giving each file its own subtask), and every
 * programmer's edit (Ollama protocol, a SEARCH/REPLACE block), then the real git worktrees,
 * commits and the merge of the task branches into the job branch.
 * A closed-loop stream: C clients each POST /api/jobs, wait for the job to end, and POST the next,
 * until J jobs are done. Latency = POST sent → job terminal.
 *
 * Run alone: `npx tsx scripts/bench-throughput.ts [--quick]`.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load-config.ts';
import type { RuntimeServices, ServiceContext } from '../src/runtime/create-runtime.ts';
import { createDefaultServices } from '../src/runtime/default-services.ts';
import { llmOnlyServices } from './bench-parallel.ts';
import { startTestTree } from '../test/support/test-tree.ts';
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
  round,
  spawnFakeProvider,
  tempDir,
  writeArtifact,
} from './bench-support.ts';

export interface ThroughputOptions {
  quick?: boolean;
  latencyMs?: number;
  jobs?: number;
  filesPerJob?: number;
  clients?: number;
  programmers?: number;
  log?: (line: string) => void;
}

/**
 * The ceiling of this machine for the same stream in the same run: the whole tree, every model
 * call as shipped, but a subtask is only its model call (no git, no files) and the merge only
 * reports the tasks merged (no git): orchestration, journal, gateway and LLM protocol alone.
 */
function ceilingServices(ctx: ServiceContext): RuntimeServices {
  const services = llmOnlyServices(ctx);
  return {
    ...services,
    async mergeJob({ job, plan, results }) {
      return { mergedBranch: `pas/job-${job.id}`, head: plan.baseCommit ?? '', merged: results.filter((r) => r.status === 'completed').map((r) => r.taskId), conflicts: [] };
    },
  };
}

interface StreamRun {
  jobsPerMinute: number;
  wallMs: number;
  latencies: number[];
  statuses: Record<string, number>;
  taskErrors: Record<string, number>;
}

export async function runThroughputBench(options: ThroughputOptions = {}) {
  const quick = options.quick ?? false;
  const latencyMs = options.latencyMs ?? 200;
  const jobs = options.jobs ?? (quick ? 8 : 30);
  const filesPerJob = options.filesPerJob ?? 4;
  const clients = options.clients ?? 6;
  const programmers = options.programmers ?? 10;
  const log = options.log ?? (() => {});
  clearProviderEnv();

  const files = benchFiles(filesPerJob);
  const plan = JSON.stringify({ subtasks: files.map((f) => ({ instruction: `Add a one-line doc comment to ${f}.`, files: [f] })) });
  const [coder, planner, router] = await Promise.all([
    spawnFakeProvider({ kind: 'ollama', latencyMs, reply: BENCH_EDIT }),
    spawnFakeProvider({ kind: 'google', latencyMs, reply: plan }),
    spawnFakeProvider({ kind: 'anthropic', latencyMs, reply: 'Code' }),
  ]);
  const cfg = benchConfig({ programmers, programmerUrl: coder.url, leadUrl: planner.url, routerUrl: router.url });

  /** One closed-loop stream of `jobs` jobs through a fresh tree with these services. */
  const stream = async (services: (ctx: ServiceContext) => RuntimeServices): Promise<StreamRun> => {
    const work = tempDir('pas-bench-throughput-');
    const tree = await startTestTree({ config: loadConfig(cfg.dir), services, agentPorts: false, dataDir: path.join(work, 'data') });
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    const taskErrors: Record<string, number> = {};
    let wallMs = 0;
    try {
      const { repo } = await createBenchRepo(path.join(work, 'repo'), files);
      const submit = async (): Promise<void> => {
        const t = performance.now();
        const res = await fetch(`${tree.url}/api/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ task: 'Document every module with a one-line doc comment.', files, repo }),
        });
        if (res.status !== 202) throw new Error(`POST /api/jobs answered ${res.status}: ${await res.text()}`);
        const { job_id } = (await res.json()) as { job_id: string };
        const job = await tree.runtime.waitForJob(job_id, 600_000);
        latencies.push(performance.now() - t);
        statuses[job.status] = (statuses[job.status] ?? 0) + 1;
        if (job.outcome?.error) {
          const key = `job:${job.outcome.error.code}`;
          taskErrors[key] = (taskErrors[key] ?? 0) + 1;
          if (job.status === 'failed') log(`  job ${job_id} failed: ${job.outcome.error.code}: ${job.outcome.error.message}`);
        }
        const conflicts = job.outcome?.conflicts?.length ?? 0;
        if (conflicts > 0) taskErrors.PAS_ERR_MERGE_CONFLICT = (taskErrors.PAS_ERR_MERGE_CONFLICT ?? 0) + conflicts;
        for (const task of tree.runtime.journal.tasksForJob(job_id)) {
          if (task.status === 'completed') continue;
          const code = task.error?.code ?? task.status;
          taskErrors[code] = (taskErrors[code] ?? 0) + 1;
        }
      };
      // Warm-up: one job alone (not counted).
      await submit();
      latencies.length = 0;
      for (const k of Object.keys(statuses)) delete statuses[k];
      let issued = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (issued < jobs) {
            issued++;
            await submit();
          }
        }),
      );
      wallMs = performance.now() - t0;
    } finally {
      await tree.close();
      rmSync(work, { recursive: true, force: true });
    }
    return { jobsPerMinute: round(jobs / (wallMs / 60_000), 1), wallMs, latencies, statuses, taskErrors };
  };

  let full: StreamRun;
  let ceiling: StreamRun;
  try {
    ceiling = await stream(ceilingServices);
    log(`  throughput llm-only ceiling: ${ceiling.jobsPerMinute} jobs/min (${JSON.stringify(ceiling.statuses)})`);
    full = await stream(createDefaultServices());
  } finally {
    await Promise.all([coder.close(), planner.close(), router.close()]);
    cfg.cleanup();
  }
  const lat = distribution(full.latencies, 0);
  // A job's critical path with no contention: route + plan + one subtask (all in parallel), each one L.
  const floorMs = 3 * latencyMs;
  const result = {
    part: 'throughput',
    machine: machineInfo(),
    method: {
      latencyMs,
      jobs,
      filesPerJob,
      clients,
      programmers,
      stream: `closed loop: ${clients} clients each POST /api/jobs (gateway, real HTTP), wait for the job to end, POST the next, until ${jobs} jobs are done (after one warm-up job)`,
      path: 'gateway → Architect (LLM lane routing, Anthropic protocol) → Dir-Code → Manager (LLM plan, Gemini protocol) → pool → Programmers (native executor, Ollama protocol, edits committed as git objects) → merge into pas/job-<id>',
      ceiling: 'the same stream through a fresh tree in the same run, each subtask only its model call and the merge only reporting the tasks merged (no git at all): the machine’s ceiling for this stream',
      latency: 'POST /api/jobs sent → job terminal in the journal',
      floor: `3·L = ${floorMs} ms: the lane call, the plan call and one round of subtasks, each at least L, with nothing else (git, merge) counted`,
    },
    jobsPerMinute: full.jobsPerMinute,
    ceilingJobsPerMinute: ceiling.jobsPerMinute,
    wallMs: round(full.wallMs, 0),
    latencyMs: lat,
    latencyP50OverFloor: round(lat.p50 / floorMs, 2),
    statuses: full.statuses,
    /** Subtasks that did not complete by error code, and job-level errors as `job:<code>`. */
    taskErrors: full.taskErrors,
  };
  log(`  throughput ${jobs} jobs × ${filesPerJob} files, ${clients} clients, L=${latencyMs} ms: ${result.jobsPerMinute} jobs/min (ceiling ${ceiling.jobsPerMinute}), P50 ${lat.p50} ms, P95 ${lat.p95} ms (${JSON.stringify(full.statuses)})`);
  return result;
}

if (isMain(import.meta.url)) {
  const flags = cliFlags();
  const result = await runThroughputBench({ quick: flags.quick, log: (l) => console.log(l) });
  console.log(`wrote ${writeArtifact('throughput', result, flags.out)}`);
}
