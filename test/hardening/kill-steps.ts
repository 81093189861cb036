/**
 * `pas up` killed with SIGKILL at each journaled step of a job whose second subtask conflicts and
 * is re-run on top of the first one's merge: accepted, at its Manager, running, plan made, a
 * subtask started, one finished, both finished (the first merge: the kill lands before, during or
 * after it), re-run created, re-run started, re-run finished (the second merge, likewise), the re-run
 * merged, job finished. The job's progress is read from the journal the process writes; each kill
 * waits for its step, then a random delay (seeded, so a failure replays), and the next boot resumes
 * the job. Afterwards: no branch merged twice, no task the journal had finished run again, and
 * every job ends with a status that matches what git holds. The runner takes other jobs as a
 * KillScenario (kill-repair-steps.ts: conflict resolvers and a fix-up).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { isTerminalJobStatus } from '../../machines/statuses.ts';
import { openJournal, type Journal, type TaskRecord } from '../../src/journal/journal.ts';
import type { CassetteEntry } from '../../src/llm/providers/scripted-adapter.ts';
import { kill9 } from '../support/pas-process.ts';
import { tempConfig, type TempConfig } from '../support/test-config.ts';
import { readAllReceipts } from './hardening-support.ts';
import { doubledInBranch, git, pasBoots, prng } from './kill-support.ts';

/** The journaled steps of the job, in the order they happen. */
/** The steps of every job up to its first merge. */
export const FIRST_STEPS = ['accepted', 'at-manager', 'running', 'plan-made', 'task-started', 'task-finished', 'merge-1'] as const;
export type FirstStep = (typeof FIRST_STEPS)[number];

export const STEPS = [
  ...FIRST_STEPS,
  'rerun-created',
  'rerun-started',
  'rerun-finished',
  'rerun-merged',
  'job-finished',
] as const;
export type Step = (typeof STEPS)[number];

/** A job the runner drives through its journaled steps, killing `pas up` at each. */
export interface KillScenario<S extends string = string> {
  /** The steps in the order they happen; the last is the job's end. */
  steps: readonly S[];
  files: Record<string, string>;
  cassette: CassetteEntry[];
  /** The job body without its repository (`task` must be what the cassette's plan entry matches). */
  job: (round: number) => Record<string, unknown>;
  stepReached(journal: Journal, jobId: string): S | 'none';
  /** Steps followed by a merge: half of their kills are aimed inside it. */
  mergeSteps: readonly S[];
  /** What the job branch holds once the job completed (`git show` text). */
  want: Record<string, string>;
  /** Changes to the temp configs folder (the cassette is written for you). */
  configure?(cfg: TempConfig): void;
  /** More checks on a completed job (its branch, its journaled tasks); returns the violations. */
  checkCompleted?(job: { repo: string; branch: string; journal: Journal; jobId: string }): Promise<string[]>;
}

export interface KillStepOptions<S extends string = Step> {
  seed: number;
  /** The job (default: the conflict re-run job of this file). */
  scenario?: KillScenario<S>;
  /** The steps a kill is aimed at (default: every step). */
  targets?: readonly S[];
  /** How many jobs go through every step (default 1). */
  rounds?: number;
  /** Upper bound of the random delay after a step is journaled (default 250 ms). */
  maxDelayMs?: number;
  log?: (line: string) => void;
}

export interface KillRecord<S extends string = Step> {
  job: string;
  target: S;
  delayMs: number;
  /** The furthest step the journal held when the process was gone. */
  reached: S | 'none';
  /** A merge worktree was in use: the kill landed inside a merge. */
  duringMerge: boolean;
}

export interface KillStepReport<S extends string = Step> {
  seed: number;
  jobs: Record<string, string>;
  kills: KillRecord<S>[];
  violations: string[];
}

const FILES = {
  'src/a.js': 'export const a = 1;\n',
  'src/b.js': 'export const b = 1;\n',
  'src/version.js': '// the release\nexport const VERSION = 1;\n',
};

function block(file: string, search: string, replace: string): string {
  return `${file}\n<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE\n`;
}

/** b's edit when its prompt shows VERSION = `from`: b 1 → 2, and VERSION `from` → 3. */
function bEdit(from: number, delayMs: number): CassetteEntry {
  return {
    match: { purpose: 'edit', regex: `\\[b\\][\\s\\S]*export const VERSION = ${from};` },
    reply: block('src/b.js', 'export const b = 1;', 'export const b = 2;') + block('src/version.js', `export const VERSION = ${from};`, 'export const VERSION = 3;'),
    usage: { input: 40, output: 12 },
    delay_ms: delayMs,
  };
}

/**
 * a sets VERSION 1 → 2; b sets it 1 → 3 on the base (a conflict with a's merge) and 2 → 3 on top of
 * a's merge (its re-run). b's replies are chosen by what its prompt shows, not by call count, so
 * they are the same in every boot.
 */
function cassette(): CassetteEntry[] {
  return [
    {
      match: { purpose: 'plan', contains: 'Release a and b' },
      reply: JSON.stringify({
        subtasks: [
          { instruction: 'Set a to 2 and bump the release [a].', files: ['src/a.js'] },
          { instruction: 'Set b to 2 and bump the release [b].', files: ['src/b.js', 'src/version.js'] },
        ],
      }),
      usage: { input: 90, output: 30 },
      delay_ms: 200,
    },
    // b's re-run is a resolver whose prompt also quotes a's instruction (the merged subtask that
    // changed the same file), so b's entries are matched before a's.
    bEdit(1, 600),
    bEdit(2, 400),
    {
      match: { purpose: 'edit', contains: '[a]' },
      reply: block('src/a.js', 'export const a = 1;', 'export const a = 2;') + block('src/version.js', 'export const VERSION = 1;', 'export const VERSION = 2;'),
      usage: { input: 40, output: 12 },
      delay_ms: 250,
    },
  ];
}

/** The furthest step of the job the journal holds now. */
export function stepReached(journal: Journal, jobId: string): Step | 'none' {
  const job = journal.getJob(jobId);
  if (!job) return 'none';
  if (isTerminalJobStatus(job.status)) return 'job-finished';
  const tasks = journal.tasksForJob(jobId);
  const finished = (s: string) => ['completed', 'failed', 'cancelled', 'interrupted'].includes(s);
  const rerun = tasks.find((t) => t.id.endsWith('-r1'));
  const originals = tasks.filter((t) => !t.id.endsWith('-r1'));
  if (rerun?.merged) return 'rerun-merged';
  if (rerun && finished(rerun.status)) return 'rerun-finished';
  if (rerun && rerun.attempt > 0) return 'rerun-started';
  if (rerun) return 'rerun-created';
  return firstStepReached(journal, jobId, originals, 2);
}

/** How far a job that is not finished got before its first merge: `originals` are its plan's `planned` subtasks. */
export function firstStepReached(journal: Journal, jobId: string, originals: readonly TaskRecord[], planned: number): FirstStep {
  const finished = (s: string) => ['completed', 'failed', 'cancelled', 'interrupted'].includes(s);
  const job = journal.getJob(jobId)!;
  if (originals.length === planned && originals.every((t) => finished(t.status))) return 'merge-1';
  if (originals.some((t) => finished(t.status))) return 'task-finished';
  if (originals.some((t) => t.attempt > 0)) return 'task-started';
  if (journal.loadSnapshot(`plan:${jobId}`) || originals.length > 0) return 'plan-made';
  if (job.status === 'running') return 'running';
  if (job.managerId) return 'at-manager';
  return 'accepted';
}

/** The job of this file: a conflict re-run (a resolver) on top of the first merge. */
export const CONFLICT_RERUN: KillScenario<Step> = {
  steps: STEPS,
  files: FILES,
  cassette: cassette(),
  job: (round) => ({ task: `Release a and b (round ${round + 1})`, lane: 'Code', files: Object.keys(FILES) }),
  stepReached,
  mergeSteps: ['merge-1', 'rerun-finished'],
  want: { 'src/a.js': 'export const a = 2;', 'src/b.js': 'export const b = 2;', 'src/version.js': '// the release\nexport const VERSION = 3;' },
};

export async function runKillSteps<S extends string = Step>(options: KillStepOptions<S>): Promise<KillStepReport<S>> {
  const scenario = (options.scenario ?? CONFLICT_RERUN) as KillScenario<S>;
  const steps = scenario.steps;
  const order = (s: S | 'none') => (s === 'none' ? -1 : steps.indexOf(s));
  const targets = options.targets ?? steps;
  const last = steps.at(-1)!;
  const log = options.log ?? (() => {});
  const random = prng(options.seed);
  const maxDelay = options.maxDelayMs ?? 250;
  const cfg = tempConfig('pas-killsteps-');
  writeFileSync(path.join(cfg.dir, 'cassettes', 'demo.yaml'), stringify({ entries: scenario.cassette }));
  scenario.configure?.(cfg);
  const root = mkdtempSync(path.join(os.tmpdir(), 'pas-killsteps-data-'));
  const dataDir = path.join(root, 'data');
  const repo = path.join(root, 'repo');
  const kills: KillRecord<S>[] = [];
  const violations: string[] = [];
  const jobs: string[] = [];
  /** What the journal held finished at each kill: it must never run again. */
  const finishedAtKill = new Map<string, { attempt: number; commit: string | undefined }>();
  let journal: Journal | undefined;
  const reachedNow = (jobId: string) => scenario.stepReached(journalNow(), jobId);

  const boots = await pasBoots(cfg.dir, dataDir);
  const up = () => boots.up();
  const journalNow = () => (journal ??= openJournal(path.join(dataDir, 'pas.db')));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const mergeWorktreeInUse = () => {
    const merges = path.join(dataDir, 'workspaces', '.merge');
    return existsSync(merges) && readdirSync(merges).length > 0;
  };

  try {
    await execa('git', ['init', '--quiet', '--initial-branch=main', repo]);
    for (const [file, text] of Object.entries(scenario.files)) {
      mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
      writeFileSync(path.join(repo, file), text);
    }
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '--quiet', '-m', 'initial');

    let running = await up();
    for (let round = 0; round < (options.rounds ?? 1); round++) {
      const res = await fetch(`${running.url}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...scenario.job(round), repo }),
      });
      const body = (await res.json()) as { job_id?: string };
      if (res.status !== 202 || !body.job_id) throw new Error(`job not accepted: ${res.status} ${JSON.stringify(body)}`);
      const jobId = body.job_id;
      jobs.push(jobId);
      for (const target of targets) {
        if (order(reachedNow(jobId)) > order(target)) continue;
        const deadline = Date.now() + 30_000;
        while (order(reachedNow(jobId)) < order(target) && Date.now() < deadline) await sleep(5);
        if (reachedNow(jobId) === last) break;
        let delayMs = Math.floor(random() * maxDelay);
        if (scenario.mergeSteps.includes(target) && random() < 0.5) {
          // Aim inside the merge: wait for its worktree to appear (briefly), then kill at once.
          const seen = Date.now();
          while (!mergeWorktreeInUse() && Date.now() - seen < 1_500) await sleep(2);
          delayMs = Math.floor(random() * 20);
        }
        await sleep(delayMs);
        const duringMerge = mergeWorktreeInUse();
        await kill9(running.child);
        const reached = reachedNow(jobId);
        kills.push({ job: jobId, target, delayMs, reached, duringMerge });
        log(`killed at ${target} + ${delayMs} ms: journal at ${reached}${duringMerge ? ' (inside a merge)' : ''}`);
        for (const t of journalNow().tasksForJob(jobId)) {
          if (['completed', 'failed'].includes(t.status) && !finishedAtKill.has(t.id)) finishedAtKill.set(t.id, { attempt: t.attempt, commit: t.result?.commit });
        }
        running = await up();
        if (reached === last) break;
      }
      // The last boot finishes the job.
      const deadline = Date.now() + 90_000;
      while (reachedNow(jobId) !== last && Date.now() < deadline) await sleep(50);
    }
    await kill9(running.child);

    const statuses: Record<string, string> = {};
    const receipts = readAllReceipts(dataDir);
    for (const jobId of jobs) {
      const job = journalNow().getJob(jobId)!;
      statuses[jobId] = job.status;
      if (job.status !== 'completed') {
        // Each failed subtask's error says which call failed (a model call's causes, a command's output).
        const why = journalNow()
          .tasksForJob(jobId)
          .filter((t) => t.status === 'failed')
          .map((t) => `${t.id} (attempt ${t.attempt}): ${t.error?.message ?? 'no error'}`);
        violations.push(`job ${jobId} ended ${job.status} (${job.outcome?.error?.code ?? job.error?.code ?? 'no reason'}); this job always completes${why.length ? `; failed: ${why.join('; ')}` : ''}`);
      }
      const branch = `pas/job-${jobId}`;
      violations.push(...(await doubledInBranch(repo, branch)));
      // What git holds and what the journal says agree, task by task.
      for (const task of journalNow().tasksForJob(jobId)) {
        const commit = task.result?.commit;
        if (task.status !== 'completed' || !commit) continue;
        const held = (await git(repo, 'merge-base', '--is-ancestor', commit, branch)).exitCode === 0;
        if (held !== task.merged) violations.push(`task ${task.id}: git ${held ? 'holds' : 'does not hold'} its commit, the journal says merged=${task.merged}`);
        const before = finishedAtKill.get(task.id);
        if (before && (before.attempt !== task.attempt || before.commit !== commit)) {
          violations.push(`task ${task.id} was finished (attempt ${before.attempt}, ${before.commit}) and ran again (attempt ${task.attempt}, ${commit})`);
        }
      }
      for (const [taskId, before] of finishedAtKill) {
        const now = journalNow().getTask(taskId);
        if (now && now.attempt !== before.attempt) violations.push(`task ${taskId} was finished at a kill and started again (attempt ${before.attempt} → ${now.attempt})`);
      }
      if (job.status === 'completed') {
        const show = async (file: string) => (await git(repo, 'show', `${branch}:${file}`)).stdout;
        for (const [file, text] of Object.entries(scenario.want)) if ((await show(file)) !== text) violations.push(`${branch}:${file} is ${JSON.stringify(await show(file))}, not ${JSON.stringify(text)}`);
        if (scenario.checkCompleted) violations.push(...(await scenario.checkCompleted({ repo, branch, journal: journalNow(), jobId })));
      }
      const completedRuns = receipts.filter((r) => r.task_id.startsWith(jobId) && r.status === 'completed');
      const seen = new Map<string, number>();
      for (const r of completedRuns) seen.set(`${r.run_id} ${r.task_id}`, (seen.get(`${r.run_id} ${r.task_id}`) ?? 0) + 1);
      for (const [key, n] of seen) if (n > 1) violations.push(`receipt written ${n} times in one run: ${key}`);
    }
    return { seed: options.seed, jobs: statuses, kills, violations };
  } finally {
    journal?.close();
    await boots.killAll();
    cfg.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}
