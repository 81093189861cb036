/**
 * Part `tasks` — the task suite (test/fixtures/tasks/, scripts/task-suite.ts): every task's job
 * runs through a real in-process runtime with its scripted model, then its held-out tests run on
 * a clean clone of the merged job branch. Per task: solved or not, job status, edit–test rounds
 * (from the receipts), conflict resolvers and fix-ups, tokens, wall time, merged-branch tests.
 * With the scripted models every task must end solved; `pas bench` exits 1 when one does not.
 *
 * Run alone: `npx tsx scripts/bench-tasks.ts [--quick]`.
 */
import { performance } from 'node:perf_hooks';
import { cliFlags, isMain, machineInfo, round, writeArtifact } from './bench-support.ts';
import { loadSuite, runSuite, type SuiteRun } from './task-suite.ts';

export interface TasksBenchOptions {
  quick?: boolean;
  /** Tasks run at the same time (each in its own runtime). */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface TaskRow {
  task: string;
  plays: string[];
  solved: boolean;
  jobStatus: string;
  /** Rounds per subtask in the receipts' order, e.g. `1+2+1`. */
  rounds: string;
  subtasks: number;
  resolvers: number;
  fixups: number;
  planner: string | null;
  tokensIn: number;
  tokensOut: number;
  wallMs: number;
  mergedTests: string;
  error?: string;
}

function row(run: SuiteRun): TaskRow {
  const tests = run.merged ? `${run.merged.passed ? 'pass' : 'FAIL'} ${run.merged.tests - run.merged.failed}/${run.merged.tests}` : 'no branch';
  return {
    task: run.name,
    plays: run.plays,
    solved: run.solved,
    jobStatus: run.jobStatus,
    rounds: run.subtasks.map((s) => s.rounds).join('+') || '0',
    subtasks: run.subtasks.length,
    resolvers: run.resolvers.length,
    fixups: run.fixups.length,
    planner: run.planner,
    tokensIn: run.tokens.input,
    tokensOut: run.tokens.output,
    wallMs: run.wallMs,
    mergedTests: tests,
    ...(run.error ? { error: run.error } : {}),
  };
}

/** The markdown table of a run. */
export function tasksTable(rows: readonly TaskRow[]): string {
  const lines = [
    '| task | plays | solved | job | rounds per subtask | resolvers | fix-ups | tokens in / out | wall s | merged-branch tests |',
    '|---|---|---|---|---|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.task} | ${r.plays.join(', ') || '–'} | ${r.solved ? 'yes' : '**no**'} | ${r.jobStatus} | ${r.rounds} | ${r.resolvers} | ${r.fixups} | ${r.tokensIn} / ${r.tokensOut} | ${(r.wallMs / 1000).toFixed(1)} | ${r.mergedTests} |`,
    );
  }
  return lines.join('\n');
}

export async function runTasksBench(options: TasksBenchOptions = {}) {
  const log = options.log ?? (() => {});
  const tasks = loadSuite();
  const concurrency = options.concurrency ?? (options.quick ? 5 : 3);
  const t0 = performance.now();
  const runs = await runSuite(tasks, {
    concurrency,
    onDone: (run) => log(`  ${run.solved ? 'solved' : 'NOT SOLVED'} ${run.name}: job ${run.jobStatus}, rounds ${run.subtasks.map((s) => s.rounds).join('+')}, ${(run.wallMs / 1000).toFixed(1)} s${run.error ? ` (${run.error})` : ''}`),
  });
  const rows = runs.map(row);
  const solved = rows.filter((r) => r.solved).length;
  const result = {
    part: 'tasks',
    method: {
      tasks: tasks.length,
      concurrency,
      note: 'each task in its own in-process runtime (native programmers, real git and SQLite, the job verify command in each edit–test loop and on the merged branch); scripted model from the task cassette; held-out tests run on a clean clone of the merged job branch',
    },
    solved,
    total: rows.length,
    makespanMs: round(performance.now() - t0, 0),
    rows,
    /** Each run in full (per-subtask rounds and verify exit codes, calls by purpose); test output only when it failed. */
    runs: runs.map((run) => ({ ...run, merged: run.merged && { ...run.merged, output: run.merged.passed ? '' : run.merged.output } })),
    markdown: tasksTable(rows),
  };
  return result;
}

if (isMain(import.meta.url)) {
  const { quick } = cliFlags();
  const result = await runTasksBench({ quick, log: (l) => process.stdout.write(`${l}\n`) });
  process.stdout.write(`\nMachine: ${machineInfo().cpu}\n${result.markdown}\n`);
  writeArtifact('tasks', result);
  if (result.solved < result.total) process.exitCode = 1;
}
