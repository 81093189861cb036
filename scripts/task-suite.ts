/**
 * The task suite (test/fixtures/tasks/<name>/): small real-looking repositories, each with a job
 * to do, held-out tests that fail before the job and pass after it, and a cassette that plays a
 * plausible model for the plan and every subtask, wrong first attempts included. `runSuiteTask`
 * copies a fixture into a fresh git repository, runs its job through a real in-process runtime
 * (Architect → Director → Manager → pool → native programmers, real git, real SQLite, the job's
 * verify command run by the edit–test loop and on the merged branch) with the task's cassette,
 * then judges the merged job branch in a clean clone: the held-out tests are copied in and the
 * task's test command runs there. `pas bench --only tasks` and the suite's test share it.
 *
 * A fixture:
 *   task.json       {title, task, lane, files?, verify, test, plays}
 *   cassette.yaml   the scripted model's replies (src/llm/providers/scripted-adapter.ts)
 *   repo/           the repository at its base commit (its own tests pass there)
 *   tests/          the held-out tests, copied to `test/held-out/` of the checkout being judged
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { pino } from 'pino';
import { z } from 'zod';
import { loadConfig, defaultConfigDir } from '../src/config/load-config.ts';
import { commandEnv } from '../src/executors/command-runner.ts';
import { git } from '../src/executors/git-command.ts';
import { jobBranchName } from '../src/executors/worktree.ts';
import { createCassetteAdapter, type ScriptedCall } from '../src/llm/providers/scripted-adapter.ts';
import { ReceiptWriter } from '../src/llm/receipt-writer.ts';
import { createDefaultServices } from '../src/runtime/default-services.ts';
import { createRuntime } from '../src/runtime/create-runtime.ts';

export const TASKS_DIR = path.resolve(import.meta.dirname, '..', 'test', 'fixtures', 'tasks');

/** What a task's cassette makes happen, each checked against the run's receipts and calls. */
export const PLAYS = ['edit-test-loop', 'resolver', 'fixup', 'repo-map'] as const;
export type Play = (typeof PLAYS)[number];

const argv = z.array(z.string().min(1)).min(1);

export const taskFileSchema = z.strictObject({
  title: z.string().min(1),
  /** The job's text, as a user would submit it. */
  task: z.string().min(1),
  lane: z.enum(['Code', 'Models', 'Data', 'DevSecOps', 'Docs']),
  /** The files the job names; absent: the Manager plans from the repository map. */
  files: z.array(z.string().min(1)).min(1).optional(),
  /** The job's verify command (each subtask's edit–test loop, and the merged branch). */
  verify: argv,
  /** The task's test command, run with the held-out tests in place. */
  test: argv,
  plays: z.array(z.enum(PLAYS)).default([]),
});
export type SuiteTaskFile = z.infer<typeof taskFileSchema>;

export interface SuiteTask extends SuiteTaskFile {
  name: string;
  dir: string;
}

/** One task's fixture, validated (a bad one names its file and key). */
export function loadSuiteTask(dir: string): SuiteTask {
  const file = path.join(dir, 'task.json');
  const parsed = taskFileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  for (const part of ['cassette.yaml', 'repo', 'tests']) {
    if (!existsSync(path.join(dir, part))) throw new Error(`${dir}: the fixture has no ${part}`);
  }
  return { ...parsed.data, name: path.basename(dir), dir };
}

/** Every task of the suite, by name. */
export function loadSuite(tasksDir = TASKS_DIR): SuiteTask[] {
  return readdirSync(tasksDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => loadSuiteTask(path.join(tasksDir, d.name)))
    .sort((a, b) => a.name.localeCompare(b.name));
}

const GIT_IDENTITY = ['-c', 'user.name=PAS task suite', '-c', 'user.email=tasks@pas.invalid', '-c', 'commit.gpgsign=false'];

/** A fresh git repository holding the fixture's repo/ as one commit on main. */
export async function createTaskRepo(task: SuiteTask, dir: string): Promise<{ repo: string; base: string }> {
  const repo = path.join(dir, 'repo');
  cpSync(path.join(task.dir, 'repo'), repo, { recursive: true });
  await git(repo, ['init', '--quiet', '--initial-branch=main']);
  await git(repo, ['add', '-A']);
  await git(repo, [...GIT_IDENTITY, 'commit', '--quiet', '-m', `${task.name}: base`]);
  const base = (await git(repo, ['rev-parse', 'HEAD'])).stdout.trim();
  return { repo, base };
}

export interface TestRun {
  passed: boolean;
  exitCode: number | null;
  /** The test runner's pass/fail counts. */
  tests: number;
  failed: number;
  /** The tail of what it printed. */
  output: string;
}

/** Clones `ref` of `repo` into `dir`, puts the held-out tests in, and runs the task's test command. */
export async function judge(task: SuiteTask, repo: string, ref: string, dir: string): Promise<TestRun> {
  rmSync(dir, { recursive: true, force: true });
  const commit = (await git(repo, ['rev-parse', '--verify', `${ref}^{commit}`])).stdout.trim();
  await git(os.tmpdir(), ['clone', '--quiet', '--no-hardlinks', '--no-checkout', repo, dir]);
  await git(dir, ['checkout', '--quiet', '--detach', commit]);
  return runTaskTests(task, dir);
}

/** The fixture's repository as it is at its base (no git), with the held-out tests, judged. */
export async function judgeBase(task: SuiteTask, dir: string): Promise<TestRun> {
  rmSync(dir, { recursive: true, force: true });
  cpSync(path.join(task.dir, 'repo'), dir, { recursive: true });
  return runTaskTests(task, dir);
}

/** Copies the held-out tests into `dir`/test/held-out and runs the task's test command there. */
async function runTaskTests(task: SuiteTask, dir: string): Promise<TestRun> {
  cpSync(path.join(task.dir, 'tests'), path.join(dir, 'test', 'held-out'), { recursive: true });
  const [program, ...args] = task.test;
  // As PAS runs a verify command: no shell, no secret in the environment.
  const ran = await execa(program!, args, { cwd: dir, reject: false, all: true, timeout: 120_000, extendEnv: false, env: { ...commandEnv(process.env), NODE_OPTIONS: '' } });
  const all = ran.all ?? '';
  const count = (label: string) => Number(new RegExp(`^# ${label} (\\d+)$`, 'm').exec(all)?.[1] ?? NaN);
  return { passed: ran.exitCode === 0, exitCode: ran.exitCode ?? null, tests: count('tests'), failed: count('fail'), output: all.split('\n').slice(-40).join('\n') };
}

export interface SubtaskRounds {
  taskId: string;
  status: string;
  /** Edit–test rounds its receipt shows (1 when it records none). */
  rounds: number;
  /** The verify exit code of each round. */
  verifyExitCodes: Array<number | null>;
  error?: string;
}

export interface SuiteRun {
  name: string;
  title: string;
  plays: Play[];
  solved: boolean;
  jobId: string;
  jobStatus: string;
  error?: string;
  /** Per subtask (plan order, then re-runs and fix-ups), from the receipts. */
  subtasks: SubtaskRounds[];
  /** Edit–test rounds over all subtasks, and the most any one took. */
  rounds: number;
  maxRounds: number;
  /** Subtasks in the plan. */
  planned: number;
  /** Conflict re-runs, those of them that were resolvers (shown the hunks), and fix-up subtasks: task ids. */
  reruns: string[];
  resolvers: string[];
  fixups: string[];
  /** `llm` (the cassette's plan was used) or `fallback`. */
  planner: string | null;
  tokens: { input: number; output: number };
  /** Model calls by purpose (plan, edit, edit.verify, …). */
  calls: Record<string, number>;
  wallMs: number;
  verification: { passed: boolean; fixups: number } | null;
  /** The held-out tests on the merged job branch, and on the base commit (they must fail there). */
  merged: TestRun | null;
  base?: TestRun;
  mergedBranch: string | null;
}

export interface RunSuiteTaskOptions {
  /** Also run the held-out tests on the base commit (they must fail there). */
  checkBase?: boolean;
  /** Keep the scratch folder (repo, data dir, checkouts). */
  keep?: boolean;
  jobTimeoutMs?: number;
}

function countCalls(calls: readonly ScriptedCall[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of calls) out[c.purpose ?? 'unknown'] = (out[c.purpose ?? 'unknown'] ?? 0) + 1;
  return out;
}

/** Runs one task end to end and judges its merged branch. */
export async function runSuiteTask(task: SuiteTask, options: RunSuiteTaskOptions = {}): Promise<SuiteRun> {
  const work = mkdtempSync(path.join(os.tmpdir(), `pas-task-${task.name}-`));
  const scripted = createCassetteAdapter(path.join(task.dir, 'cassette.yaml'));
  const runtime = createRuntime({
    config: loadConfig(defaultConfigDir()),
    services: createDefaultServices({ offline: true, scripted }),
    dataDir: path.join(work, 'data'),
    logger: pino({ level: 'silent' }),
  });
  const seen = { planner: null as string | null, planned: 0, resolvers: [] as string[], reruns: [] as string[], fixups: [] as string[] };
  runtime.onFact((stated) => {
    if (stated.name === 'recordPlanMade') {
      seen.planner = stated.fact.plan.planner;
      seen.planned = stated.fact.plan.subtasks.length;
    } else if (stated.name === 'recordRerunCreated') {
      seen.reruns.push(stated.fact.rerun.id);
      if (stated.fact.rerun.instruction) seen.resolvers.push(stated.fact.rerun.id);
    } else if (stated.name === 'recordFixupCreated') {
      seen.fixups.push(stated.fact.rerun.id);
    }
  });
  try {
    const { repo, base } = await createTaskRepo(task, work);
    const started = performance.now();
    const job = runtime.submitJob({ task: task.task, lane: task.lane, repo, verify: task.verify, ...(task.files ? { files: task.files } : {}) });
    const finished = await runtime.waitForJob(job.id, options.jobTimeoutMs ?? 180_000);
    const wallMs = Math.round(performance.now() - started);
    const outcome = finished.outcome;
    const branch = outcome?.mergedBranch ?? null;
    const merged = branch ? await judge(task, repo, jobBranchName(job.id), path.join(work, 'judge-merged')) : null;
    const baseRun = options.checkBase ? await judge(task, repo, base, path.join(work, 'judge-base')) : undefined;
    await runtime.stop();
    const receipts = (await new ReceiptWriter(path.join(runtime.dataDir, 'receipts'), runtime.runId).read()).filter((r) => r.job_id === job.id);
    const order = (id: string) => id.slice(job.id.length + 1).replace(/^fix/, 'z');
    receipts.sort((a, b) => order(a.task_id).localeCompare(order(b.task_id), 'en', { numeric: true }));
    const subtasks: SubtaskRounds[] = receipts.map((r) => ({
      taskId: r.task_id,
      status: r.status,
      rounds: r.rounds?.length ?? 1,
      verifyExitCodes: (r.rounds ?? []).map((round) => round.verify_exit_code ?? null),
      ...(r.error ? { error: `${r.error.code}: ${r.error.message.split('\n')[0]}` } : {}),
    }));
    const run: SuiteRun = {
      name: task.name,
      title: task.title,
      plays: task.plays,
      solved: finished.status === 'completed' && merged?.passed === true,
      jobId: job.id,
      jobStatus: finished.status,
      subtasks,
      rounds: subtasks.reduce((n, s) => n + s.rounds, 0),
      maxRounds: Math.max(0, ...subtasks.map((s) => s.rounds)),
      planned: seen.planned,
      reruns: seen.reruns,
      resolvers: seen.resolvers,
      fixups: seen.fixups,
      planner: seen.planner,
      tokens: outcome?.tokens ?? { input: 0, output: 0 },
      calls: countCalls(scripted.calls),
      wallMs,
      verification: outcome?.verification ? { passed: outcome.verification.passed, fixups: outcome.verification.fixups } : null,
      merged,
      mergedBranch: branch,
    };
    if (baseRun) run.base = baseRun;
    const error = outcome?.error ?? finished.error;
    if (error) run.error = `${error.code}: ${error.message.split('\n')[0]}`;
    return run;
  } finally {
    await runtime.stop();
    if (!options.keep) rmSync(work, { recursive: true, force: true });
  }
}

/** A task whose run threw (a job that never ended, git refusing): unsolved, with why. */
function crashedRun(task: SuiteTask, err: unknown): SuiteRun {
  return {
    name: task.name,
    title: task.title,
    plays: task.plays,
    solved: false,
    jobId: '',
    jobStatus: 'not finished',
    error: err instanceof Error ? err.message.split('\n')[0]! : String(err),
    subtasks: [],
    rounds: 0,
    maxRounds: 0,
    planned: 0,
    reruns: [],
    resolvers: [],
    fixups: [],
    planner: null,
    tokens: { input: 0, output: 0 },
    calls: {},
    wallMs: 0,
    verification: null,
    merged: null,
    mergedBranch: null,
  };
}

/** Runs tasks `concurrency` at a time, results in the order given; a task that throws is an unsolved run. */
export async function runSuite(tasks: readonly SuiteTask[], options: RunSuiteTaskOptions & { concurrency?: number; onDone?: (run: SuiteRun) => void } = {}): Promise<SuiteRun[]> {
  const results: SuiteRun[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await runSuiteTask(tasks[i]!, options).catch((err: unknown) => crashedRun(tasks[i]!, err));
      options.onDone?.(results[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 3, tasks.length)) }, worker));
  return results;
}
