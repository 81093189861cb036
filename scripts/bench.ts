/**
 * `pas bench [--quick] [--only parts] [--out DIR] [--readme]`: every benchmark part in one run,
 * one after the other, in this process (except the model servers and `pas up`, which get their
 * own processes). Writes artifacts/bench/<part>.json, summary.json and summary.md, and prints the
 * markdown table; `--readme` also puts that table into README.md between the bench markers.
 *
 * Run alone: `npx tsx scripts/bench.ts [--quick]`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { distributionMarkdown, runDistributionBench } from './bench-distribution.ts';
import { runFootprintBench } from './bench-footprint.ts';
import { runLlmGatewayBench } from './bench-llm-gateway.ts';
import { runOverheadBench } from './bench-overhead.ts';
import { runParallelBench } from './bench-parallel.ts';
import { runTasksBench } from './bench-tasks.ts';
import { BENCH_DIR, isMain, machineInfo, REPO_ROOT, round, writeArtifact, type MachineInfo } from './bench-support.ts';
import { runThroughputBench } from './bench-throughput.ts';
import { distributionTargets, parallelTargets, targetsTable, throughputTarget, type TargetRow } from './bench-targets.ts';

export const PARTS = ['parallel', 'throughput', 'overhead', 'gateway', 'llm-gateway', 'footprint', 'tasks', 'distribution'] as const;
export type Part = (typeof PARTS)[number];

type PartResult = Record<string, unknown> & { part?: string };
type PartOutcome = { ok: true; seconds: number; result: PartResult } | { ok: false; seconds: number; error: string; missing?: boolean };

const GATEWAY_SCRIPT = path.join(REPO_ROOT, 'scripts', 'bench-gateway.ts');

async function runGatewayPart(quick: boolean, log: (l: string) => void): Promise<PartResult> {
  if (!existsSync(GATEWAY_SCRIPT)) {
    const error = new Error('scripts/bench-gateway.ts does not exist yet: the gateway part was not run') as Error & { missing: true };
    error.missing = true;
    throw error;
  }
  const mod = (await import(GATEWAY_SCRIPT)) as { runGatewayBench?: (o: { quick: boolean; log?: (l: string) => void }) => Promise<PartResult> };
  if (typeof mod.runGatewayBench !== 'function') throw new Error('scripts/bench-gateway.ts exports no runGatewayBench');
  return mod.runGatewayBench({ quick, log });
}

function runPart(part: Part, quick: boolean, log: (l: string) => void): Promise<PartResult> {
  switch (part) {
    case 'parallel':
      return runParallelBench({ quick, log });
    case 'throughput':
      return runThroughputBench({ quick, log });
    case 'overhead':
      return runOverheadBench({ quick, log });
    case 'gateway':
      return runGatewayPart(quick, log);
    case 'llm-gateway':
      return runLlmGatewayBench({ quick, log });
    case 'footprint':
      return runFootprintBench({ quick, log });
    case 'tasks':
      return runTasksBench({ quick, log });
    case 'distribution':
      return runDistributionBench({ quick, log });
  }
}

const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(1)} %` : '–');
const num = (v: unknown, digits = 0) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–');

/** A table of whatever flat rows a part returned (used for the gateway part, written by another script). */
function genericTable(rows: Array<Record<string, unknown>>): string[] {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => r[k] === null || typeof r[k] !== 'object')))];
  const cell = (v: unknown) => (typeof v === 'number' ? String(round(v, 3)) : String(v ?? '–'));
  return [`| ${keys.join(' | ')} |`, `|${keys.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${keys.map((k) => cell(r[k])).join(' | ')} |`)];
}

export function markdown(machine: MachineInfo, command: string, outcomes: Partial<Record<Part, PartOutcome>>): string {
  const lines: string[] = [];
  lines.push(`Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memGiB} GiB, ${machine.platform}, Node ${machine.node}; load average at start ${machine.loadAvgAtStart.join(' / ')} (shared machine: read the ratios, not the absolute times).`);
  lines.push(`Date: ${machine.date}. Reproduce: \`${command}\`.`, '');
  const failed = (part: Part) => {
    const o = outcomes[part];
    if (o && !o.ok) lines.push(`*${part}: ${o.missing ? 'MISSING' : 'FAILED'} — ${o.error.split('\n')[0]}*`, '');
    return !o || !o.ok ? undefined : o.result;
  };

  const targets = targetRows(outcomes);
  if (targets.length > 0) {
    const parallelL = (outcomes.parallel?.ok ? (outcomes.parallel.result as Awaited<ReturnType<typeof runParallelBench>>).method.latencyMs : undefined);
    const note = parallelL !== undefined && parallelL !== 1500 ? ` *This run's parallel part used L = ${parallelL} ms (the targets are set at L = 1.5 s): run \`pas bench\` without --quick to check them.*` : '';
    lines.push(`**Targets** — each git-backed path is held to its target, or, when this machine's ceiling for that path in the same run is lower, to within 2 points of that ceiling (throughput: within 2 %). Ceilings: *full* rows use llm-only (the same orchestration and model calls, no git); *full-verify* rows use verify-ceiling (no PAS: P loops of a model call, then the edit written and the verify command run in a checkout made clean before the run, same repository); *full-checkout* rows use checkout-ceiling (no PAS: P loops of a model call, then the edit written into a clean checkout, same repository); throughput uses the llm-only tree; the distribution rows are the distributed efficiency over the in-process efficiency of the same run. Load average at start ${machine.loadAvgAtStart.join(' / ')}.${note}`, '');
    lines.push(...targetsTable(targets), '');
  }

  const parallel = failed('parallel') as Awaited<ReturnType<typeof runParallelBench>> | undefined;
  if (parallel) {
    const m = parallel.method;
    const large = m.largeRepository ? `${m.largeRepository.files} files, ${m.largeRepository.mib} MiB` : 'not run';
    lines.push(`**1. Parallel speedup** — N = ${m.tasksPerProgrammer}·P subtasks, model latency L = ${m.latencyMs} ms, ideal = ceil(N/P)·L, median of ${m.repeats} (git paths and their ceilings: ${m.fullPathRepeats} at P = 10 and 49, 1 elsewhere). *full*: pool → programmer → native executor → LLM over HTTP → edit committed as git objects (no checkout); *full-verify*: full plus a verify command in the programmer's reused checkout; *full-checkout*: the path of executors that need files on disk (agent CLIs, aider): reused checkout reset, edited, staged; *llm-only*: the same without git; *llm-only-sync-normal*: llm-only with the journal not fsyncing each write; *http-only*: no PAS, P concurrent loops of POSTs to the same model server on the cheapest client here (node:http over kept-alive sockets, as PAS's adapters; the machine's ceiling); *verify-ceiling*: http-only plus the edit written and the verify command run after each answer in the worker's own checkout (made clean before the run), in a small process of its own (a command started from the bench process would fork its heap) (the ceiling of full-verify, same repository and checkouts, its runs interleaved with full-verify's); *checkout-ceiling*: http-only plus the edit written into the worker's own clean checkout, in a process of its own too (the ceiling of full-checkout, its runs interleaved with full-checkout's). Repositories: *demo* (N small files) and *large* (${large}). speedup = throughput(P)/throughput(1): against the measured P = 1 run, or where a path's rows have none (*large*, the ceilings) against the ideal one (one task per L). Each configuration runs 600 tasks with the model answering at once before its measured runs (a warm runtime: V8 has optimized its code). git/task = git processes started per task. main CPU ms/task = the bench process's main thread (the event loop, where every task's work is serialized when answers land together), median over the runs.`, '');
    lines.push('| variant | repo | P | N | ideal ms | makespan ms | speedup (ideal) | efficiency | git/task | main CPU ms/task |', '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of parallel.rows) {
      lines.push(`| ${r.variant} | ${r.repo} | ${r.programmers} | ${r.tasks} | ${r.idealMs} | ${num(r.makespanMs)} | ${num(r.speedup, 2)}× (${r.idealSpeedup}×) | ${pct(r.efficiency)} | ${r.gitProcessesPerTask === undefined ? '–' : num(r.gitProcessesPerTask, 2)} | ${r.mainThreadCpuMsPerTask === undefined ? '–' : num(r.mainThreadCpuMsPerTask, 2)} |`);
    }
    lines.push('');
  }
  const throughput = failed('throughput') as Awaited<ReturnType<typeof runThroughputBench>> | undefined;
  if (throughput) {
    const m = throughput.method;
    lines.push(`**2. Throughput** — whole tree (gateway → Architect → Director → Manager → pool → ${m.programmers} Programmers → merge), L = ${m.latencyMs} ms for every model call, ${m.jobs} jobs × ${m.filesPerJob} files, ${m.clients} clients in a closed loop.`, '');
    lines.push('| jobs/min | ceiling jobs/min (llm-only tree) | P50 latency ms | P95 latency ms | P50 / floor (3·L) | job statuses |', '|---:|---:|---:|---:|---:|---|');
    lines.push(`| ${num(throughput.jobsPerMinute, 1)} | ${num(throughput.ceilingJobsPerMinute, 1)} | ${num(throughput.latencyMs.p50)} | ${num(throughput.latencyMs.p95)} | ${num(throughput.latencyP50OverFloor, 1)}× | ${Object.entries(throughput.statuses).map(([k, v]) => `${k} ${v}`).join(', ')} |`, '');
  }
  const overhead = failed('overhead') as Awaited<ReturnType<typeof runOverheadBench>> | undefined;
  if (overhead) {
    lines.push(`**3. Orchestration overhead** — L = 0, ${overhead.method.tasks} zero-work tasks at concurrency ${overhead.method.concurrency}, same process, back to back.`, '');
    lines.push('Per-task = started on a worker → completion delivered (with up to P·11 tasks outstanding, so it includes waiting behind other tasks\' events); loop ms/task = makespan / N.', '');
    lines.push('| runner | tasks/s | loop ms/task | per-task P50 ms | per-task P99 ms | makespan ms | makespan / p-queue |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const r of overhead.rows) lines.push(`| ${r.runner} | ${num(r.tasksPerSecond)} | ${num(r.loopMsPerTask, 3)} | ${num(r.perTaskMs.p50, 3)} | ${num(r.perTaskMs.p99, 3)} | ${num(r.makespanMs, 1)} | ${num(r.makespanRatioVsPQueue, 1)}× |`);
    lines.push('');
  }
  const gateway = failed('gateway');
  if (gateway) {
    lines.push('**4. Gateway**', '');
    if (typeof gateway.markdown === 'string') lines.push(gateway.markdown);
    else if (Array.isArray(gateway.rows)) lines.push(...genericTable(gateway.rows as Array<Record<string, unknown>>));
    else lines.push('```json', JSON.stringify(gateway, null, 2).slice(0, 2000), '```');
    lines.push('');
  }
  const llmGateway = failed('llm-gateway') as Awaited<ReturnType<typeof runLlmGatewayBench>> | undefined;
  if (llmGateway) lines.push('**LLM gateway (CONTRACT §9)**', '', llmGateway.markdown, '');
  const footprint = failed('footprint') as Awaited<ReturnType<typeof runFootprintBench>> | undefined;
  if (footprint) {
    lines.push(`**5. Footprint** — \`pas up --offline --quiet\` as its own process, median of ${footprint.method.repeats}; start-up = spawn → gateway /health 200.`, '');
    lines.push('| process | programmers | agents | start-up ms | RSS MiB | RSS after 2 s idle MiB | vs bare node:http (start / RSS) |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const r of footprint.rows) {
      const ratio = `${r.startupVsBare}× / ${r.rssVsBare}×`;
      lines.push(`| ${r.process} | ${r.programmers} | ${r.agents} | ${num(r.startupMs)} | ${num(r.rssMiB, 1)} | ${num(r.rssIdleMiB, 1)} | ${ratio} |`);
    }
    lines.push('');
  }
  const tasks = failed('tasks') as Awaited<ReturnType<typeof runTasksBench>> | undefined;
  if (tasks) {
    lines.push(`**6. Task suite** — ${tasks.solved} of ${tasks.total} tasks solved (test/fixtures/tasks/: each job through the whole tree with its scripted model, ${tasks.method.concurrency} at a time; rounds from the receipts; the held-out tests on a clean clone of the merged job branch).`, '');
    lines.push(tasks.markdown, '');
  }
  const distribution = failed('distribution') as Awaited<ReturnType<typeof runDistributionBench>> | undefined;
  if (distribution) lines.push(...distributionMarkdown(distribution), '');
  return lines.join('\n');
}

const README_START = '<!-- bench:start -->';
const README_END = '<!-- bench:end -->';

/** Replaces the table between the bench markers under "## Benchmarks" (adds the section when missing). */
export function updateReadme(table: string, readmePath = path.join(REPO_ROOT, 'README.md')): void {
  const readme = readFileSync(readmePath, 'utf8');
  const block = `${README_START}\n${table.trim()}\n${README_END}`;
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  const next =
    start >= 0 && end > start
      ? `${readme.slice(0, start)}${block}${readme.slice(end + README_END.length)}`
      : `${readme.trimEnd()}\n\n## Benchmarks\n\n${block}\n`;
  writeFileSync(readmePath, next);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' }, readme: { type: 'boolean' } },
    strict: true,
  });
  const quick = values.quick === true;
  const outDir = values.out ? path.resolve(values.out) : BENCH_DIR;
  const only = values.only ? values.only.split(',').map((p) => p.trim()) : [...PARTS];
  const unknown = only.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown.length > 0) {
    process.stderr.write(`pas bench: unknown part(s) ${unknown.join(', ')}; parts are ${PARTS.join(', ')}\n`);
    return 2;
  }
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const machine = machineInfo();
  const command = `npx pas bench${quick ? ' --quick' : ''}${values.only ? ` --only ${values.only}` : ''}`;
  log(`PAS bench${quick ? ' (quick)' : ''}: ${only.join(', ')} on ${machine.cpu} × ${machine.cores}, load ${machine.loadAvgAtStart.join(' / ')}`);
  const t0 = performance.now();
  const outcomes: Partial<Record<Part, PartOutcome>> = {};
  for (const part of only as Part[]) {
    const started = performance.now();
    log(`— ${part}`);
    try {
      const result = await runPart(part, quick, log);
      const seconds = round((performance.now() - started) / 1000, 1);
      outcomes[part] = { ok: true, seconds, result };
      log(`  wrote ${writeArtifact(part, { ...result, quick, seconds }, outDir)} (${seconds} s)`);
    } catch (err) {
      const seconds = round((performance.now() - started) / 1000, 1);
      const missing = (err as { missing?: boolean }).missing === true;
      outcomes[part] = { ok: false, seconds, error: (err as Error).stack ?? String(err), ...(missing ? { missing } : {}) };
      log(`  ${part} ${missing ? 'MISSING' : 'FAILED'}: ${(err as Error).message}`);
    }
  }
  const table = markdown(machine, command, outcomes);
  const summary = {
    command,
    quick,
    machine,
    seconds: round((performance.now() - t0) / 1000, 1),
    parts: Object.fromEntries(
      Object.entries(outcomes).map(([part, o]) => [part, o.ok ? { ok: true, seconds: o.seconds, file: `${part}.json` } : { ok: false, seconds: o.seconds, missing: o.missing ?? false, error: o.error.split('\n')[0] }]),
    ),
    headline: headline(outcomes),
    markdown: table,
  };
  writeArtifact('summary', summary, outDir);
  writeFileSync(path.join(outDir, 'summary.md'), `${table}\n`);
  if (values.readme) updateReadme(table);
  log(`\n${table}`);
  log(`summary: ${path.join(outDir, 'summary.json')} (${summary.seconds} s)`);
  const tasks = outcomes.tasks;
  const unsolved = tasks?.ok ? (tasks.result as Awaited<ReturnType<typeof runTasksBench>>).total - (tasks.result as Awaited<ReturnType<typeof runTasksBench>>).solved : 0;
  const failedParts = Object.values(outcomes).filter((o) => !o.ok && !o.missing).length + (unsolved > 0 ? 1 : 0);
  return failedParts > 0 ? 1 : 0;
}

/** The step-14 targets of this run's parallel and throughput parts (those that ran). */
export function targetRows(outcomes: Partial<Record<Part, PartOutcome>>): TargetRow[] {
  const rows: TargetRow[] = [];
  const p = outcomes.parallel;
  if (p?.ok) rows.push(...parallelTargets((p.result as Awaited<ReturnType<typeof runParallelBench>>).rows));
  const t = outcomes.throughput;
  if (t?.ok) {
    const r = t.result as Awaited<ReturnType<typeof runThroughputBench>>;
    rows.push(throughputTarget(r.jobsPerMinute, typeof r.ceilingJobsPerMinute === 'number' ? r.ceilingJobsPerMinute : null));
  }
  const d = outcomes.distribution;
  if (d?.ok) rows.push(...distributionTargets((d.result as Awaited<ReturnType<typeof runDistributionBench>>).rows));
  return rows;
}

/** The ratios the issue asks for, in one place. */
function headline(outcomes: Partial<Record<Part, PartOutcome>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const p = outcomes.parallel;
  if (p?.ok) {
    for (const r of (p.result as Awaited<ReturnType<typeof runParallelBench>>).rows) {
      const at = `${r.variant}${r.repo === 'large' ? '.large' : ''}.P${r.programmers}`;
      out[`efficiency.${at}`] = r.efficiency;
      out[`speedup.${at}`] = r.speedup;
      if (r.gitProcessesPerTask !== undefined) out[`gitProcessesPerTask.${at}`] = r.gitProcessesPerTask;
    }
  }
  for (const row of targetRows(outcomes)) out[`target.${row.name}`] = row.verdict;
  const t = outcomes.throughput;
  if (t?.ok) {
    const r = t.result as Awaited<ReturnType<typeof runThroughputBench>>;
    out.jobsPerMinute = r.jobsPerMinute;
    out.ceilingJobsPerMinute = r.ceilingJobsPerMinute;
    out.jobLatencyP50Ms = r.latencyMs.p50;
    out.jobLatencyP95Ms = r.latencyMs.p95;
  }
  const o = outcomes.overhead;
  if (o?.ok) {
    for (const r of (o.result as Awaited<ReturnType<typeof runOverheadBench>>).rows) out[`makespanVsPQueue.${r.runner}`] = r.makespanRatioVsPQueue;
  }
  const f = outcomes.footprint;
  if (f?.ok) {
    for (const r of (f.result as Awaited<ReturnType<typeof runFootprintBench>>).rows) {
      if (r.programmers === 0) continue;
      out[`startupMs.P${r.programmers}`] = r.startupMs;
      out[`rssMiB.P${r.programmers}`] = r.rssMiB;
    }
  }
  const l = outcomes['llm-gateway'];
  if (l?.ok) {
    const r = l.result as Awaited<ReturnType<typeof runLlmGatewayBench>>;
    out.llmGatewayAddedMsP50 = r.addedLatencyMsP50;
    out.llmGatewayThroughputRatio = r.throughputRatio;
  }
  const k = outcomes.tasks;
  if (k?.ok) {
    const r = k.result as Awaited<ReturnType<typeof runTasksBench>>;
    out.tasksSolved = `${r.solved}/${r.total}`;
  }
  const d = outcomes.distribution;
  if (d?.ok) {
    const r = d.result as Awaited<ReturnType<typeof runDistributionBench>>;
    if (r.skipped) out.distribution = `skipped: ${r.skipped}`;
    for (const row of r.rows) if (row.mode === 'workers') out[`distributionRatio.W${row.workers}.P${row.programmers}`] = row.ratio;
    if (r.detection) {
      out.lostWorkerOfflineMsP50 = r.detection.offlineMs.p50;
      out.lostWorkerRedispatchMsP50 = r.detection.redispatchMs.p50;
    }
  }
  const g = outcomes.gateway;
  if (g && !g.ok && g.missing) out.gateway = 'missing: scripts/bench-gateway.ts not present';
  return out;
}

if (isMain(import.meta.url)) process.exitCode = await main();
