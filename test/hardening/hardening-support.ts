/**
 * Shared by the hardening tests: the invariants every fault must leave intact, checked on the
 * journal, the receipts files and the git repositories (every accepted job terminal with a
 * reason, no task branch merged twice, exactly one receipt per executor run), plus a scripted
 * tree whose executor can be made to crash or hang, and small job/cassette builders.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { TaskResult } from '../../machines/domain.ts';
import { TERMINAL_JOB_STATUSES } from '../../machines/domain.ts';
import type { Journal, JobRecord } from '../../src/journal/journal.ts';
import { createScriptedAdapter, type CassetteEntry, type ScriptedAdapter } from '../../src/llm/providers/scripted-adapter.ts';
import type { RuntimeServices, ServiceContext } from '../../src/runtime/create-runtime.ts';
import { createDefaultServices } from '../../src/runtime/default-services.ts';
import { gitOut } from '../support/git-fixtures.ts';
import type { JsonAnswer } from '../support/json-answer.ts';

export interface ReceiptLine {
  run_id: string;
  job_id: string;
  task_id: string;
  agent_id: string;
  status: string;
  error?: { code: string };
}

/** Every receipt line of every run in `{dataDir}/receipts`. */
export function readAllReceipts(dataDir: string): ReceiptLine[] {
  const dir = path.join(dataDir, 'receipts');
  if (!existsSync(dir)) return [];
  const lines: ReceiptLine[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
    for (const line of readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      if (line.trim()) lines.push(JSON.parse(line) as ReceiptLine);
    }
  }
  return lines;
}

/** The reason a job that did not complete gives: its own error, else its first failed task's. */
export function reasonOf(job: JobRecord): string | undefined {
  const outcome = job.outcome;
  if (!outcome) return job.error?.code;
  return outcome.error?.code ?? outcome.tasks.find((t) => t.status !== 'completed' && t.error)?.error?.code ?? job.error?.code;
}

export interface InvariantOptions {
  journal: Journal;
  dataDir: string;
  /** Job ids the API accepted (202); every one must be journaled and terminal. */
  accepted: readonly string[];
  /** Repositories the jobs edited (job branches are checked for double merges). */
  repos?: readonly string[];
  /** Executor runs per task id (each writes exactly one receipt), when the test counted them. */
  executorRuns?: ReadonlyMap<string, number>;
}

/**
 * Asserts what no fault may break: every accepted job is journaled and terminal, with a coded
 * reason when it did not complete; a merged task completed; each task branch is merged into its
 * job branch at most once and each task's commit appears there at most once; receipts are never
 * duplicated within a run, and (when counted) there is exactly one per executor run.
 */
export async function expectInvariants(options: InvariantOptions): Promise<JobRecord[]> {
  const { journal } = options;
  const jobs = options.accepted.map((id) => {
    const job = journal.getJob(id);
    expect(job, `job ${id} is journaled`).toBeDefined();
    return job!;
  });
  for (const job of jobs) {
    expect(TERMINAL_JOB_STATUSES, `job ${job.id} is terminal (${job.status})`).toContain(job.status);
    if (job.status !== 'completed') expect(reasonOf(job), `job ${job.id} (${job.status}) has a coded reason`).toMatch(/^PAS_ERR_/);
    for (const task of journal.tasksForJob(job.id)) {
      expect(['completed', 'failed', 'cancelled', 'interrupted'], `task ${task.id} of job ${job.id} is finished (${task.status})`).toContain(task.status);
      if (task.merged) expect(task.status, `merged task ${task.id} completed`).toBe('completed');
      if (task.status !== 'completed') expect(task.error?.code ?? task.result?.error?.code, `task ${task.id} has a coded reason`).toMatch(/^PAS_ERR_/);
    }
  }

  for (const repo of options.repos ?? []) {
    for (const job of jobs) {
      const branch = `pas/job-${job.id}`;
      const exists = await gitOut(repo, 'branch', '--list', branch);
      if (!exists) continue;
      const subjects = (await gitOut(repo, 'log', '--format=%s', branch)).split('\n');
      const merges = subjects.filter((s) => s.startsWith('pas: merge ')).map((s) => s.split(' ')[2]!);
      expect(merges.length, `no task branch merged twice into ${branch}`).toBe(new Set(merges).size);
      const commits = subjects.filter((s) => s.startsWith('pas: task ')).map((s) => s.split(' ')[2]!);
      expect(commits.length, `no task's commit twice in ${branch}`).toBe(new Set(commits).size);
    }
  }

  const receipts = readAllReceipts(options.dataDir);
  const perRun = new Map<string, number>();
  for (const r of receipts) perRun.set(`${r.run_id} ${r.task_id} ${r.status} ${r.agent_id}`, (perRun.get(`${r.run_id} ${r.task_id} ${r.status} ${r.agent_id}`) ?? 0) + 1);
  if (options.executorRuns) {
    const byTask = new Map<string, number>();
    for (const r of receipts) byTask.set(r.task_id, (byTask.get(r.task_id) ?? 0) + 1);
    const want = Object.fromEntries([...options.executorRuns].filter(([, n]) => n > 0).sort());
    const got = Object.fromEntries([...byTask].sort());
    expect(got, 'exactly one receipt per executor run').toEqual(want);
  }
  // Every completed, journaled task has its completed receipt.
  for (const job of jobs) {
    for (const task of journal.tasksForJob(job.id).filter((t) => t.status === 'completed')) {
      expect(receipts.some((r) => r.task_id === task.id && r.status === 'completed'), `completed task ${task.id} has a receipt`).toBe(true);
    }
  }
  return jobs;
}

export interface FaultyServicesOptions {
  entries: CassetteEntry[];
  /** Decide, before the real executor runs, that this attempt crashes (throws) or hangs (ignores its abort signal). */
  fault?: (taskId: string, instruction: string, attempt: number, programmerId: string) => 'crash' | 'hang' | undefined;
}

export interface FaultyServices {
  services: (ctx: ServiceContext) => RuntimeServices;
  /** Runs of the real executor per task id. */
  executorRuns: Map<string, number>;
  /** Programmer of every attempt, per task id, in order. */
  attempts: Map<string, string[]>;
  /** Hung executors, released at the end of the test. */
  release(): void;
  scripted: ScriptedAdapter;
}

/** The real services (scripted LLM, git worktrees, native executor, merge) with an executor that can crash or hang. */
export function faultyServices(options: FaultyServicesOptions): FaultyServices {
  const executorRuns = new Map<string, number>();
  const attempts = new Map<string, string[]>();
  const hung: Array<() => void> = [];
  const scripted = createScriptedAdapter(options.entries, { source: 'hardening cassette' });
  const make = createDefaultServices({ offline: true, scripted });
  return {
    executorRuns,
    attempts,
    scripted,
    release: () => hung.splice(0).forEach((r) => r()),
    services: (ctx) => {
      const real = make(ctx);
      return {
        ...real,
        async executeTask(input, signal): Promise<TaskResult> {
          const { task, programmerId } = input;
          attempts.set(task.id, [...(attempts.get(task.id) ?? []), programmerId]);
          const fault = options.fault?.(task.id, task.instruction, task.attempt ?? 1, programmerId);
          if (fault === 'crash') throw new Error(`the executor of ${task.id} crashed`);
          if (fault === 'hang') await new Promise<void>((resolve) => hung.push(resolve));
          if (fault === 'hang') throw new Error('released hung executor');
          executorRuns.set(task.id, (executorRuns.get(task.id) ?? 0) + 1);
          return real.executeTask(input, signal);
        },
      };
    },
  };
}

/** Files `src/<name>.js` holding `export const <name> = 1;`. */
export function counterFiles(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [`src/${n}.js`, `export const ${n} = 1;\n`]));
}

/** The SEARCH/REPLACE reply that sets counter `name` to 2. */
export function counterEdit(name: string): string {
  return `src/${name}.js\n<<<<<<< SEARCH\nexport const ${name} = 1;\n=======\nexport const ${name} = 2;\n>>>>>>> REPLACE\n`;
}

/** Matches the edit call of the fallback plan's subtask for `src/<name>.js` of the job whose task is `task`. */
export function editOf(task: string, name: string): CassetteEntry['match'] {
  return { purpose: 'edit', contains: `${task}\n\nThis subtask covers only src/${name}.js.` };
}

/** Cassette entries answering every counter of a job (after any fault entries placed before them). */
export function okEdits(task: string, names: readonly string[], delayMs = 0): CassetteEntry[] {
  return names.map((n) => ({ match: editOf(task, n), reply: counterEdit(n), usage: { input: 20, output: 5 }, ...(delayMs ? { delay_ms: delayMs } : {}) }));
}

export async function postJson<T = JsonAnswer>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let parsed: JsonAnswer = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed as T };
}

export async function getJson<T = JsonAnswer>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

/** Polls until `check` holds (the test's own timeout bounds it). */
export async function until(check: () => boolean | Promise<boolean>, everyMs = 25): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, everyMs));
}
