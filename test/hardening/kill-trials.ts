/**
 * Random kill -9 trials of `pas up` (used by kill9.test.ts with a few trials and by
 * scripts/soak-kill.ts with many): boot the real CLI on a shared data dir with the offline
 * scripted model, submit jobs over HTTP, SIGKILL it at a random moment, boot again, repeat;
 * finally boot once more and let everything finish. Then check what must have survived:
 * every accepted (202) job listed and terminal with a reason, no task branch merged twice,
 * no receipt written twice in one run, a receipt for every completed task.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { isTerminalJobStatus } from '../../machines/statuses.ts';
import { openJournal } from '../../src/journal/journal.ts';
import type { CassetteEntry } from '../../src/llm/providers/scripted-adapter.ts';
import { kill9 } from '../support/pas-process.ts';
import { tempConfig } from '../support/test-config.ts';
import { readAllReceipts, reasonOf } from './hardening-support.ts';
import { doubledInBranch, git, pasBoots, prng } from './kill-support.ts';

const FILES = ['k1', 'k2', 'k3'] as const;
/** How long each file's edit takes to answer: kills land before, during and after them. */
const DELAYS: Record<(typeof FILES)[number], number> = { k1: 150, k2: 600, k3: 1400 };

export interface KillTrialOptions {
  trials: number;
  seed: number;
  jobsPerTrial: number;
  /** Upper bound of the random wait between the submissions and the kill. */
  maxKillDelayMs?: number;
  log?: (line: string) => void;
}

export interface KillTrialReport {
  trials: number;
  seed: number;
  accepted: number;
  jobs: Record<string, number>;
  tasks: number;
  receipts: number;
  kills: Array<{ trial: number; afterMs: number; accepted: number }>;
  violations: string[];
}

function cassette(): CassetteEntry[] {
  return FILES.map((f) => ({
    match: { purpose: 'edit', contains: `This subtask covers only src/${f}.js.` },
    reply: `src/${f}.js\n<<<<<<< SEARCH\nexport const ${f} = 1;\n=======\nexport const ${f} = 2;\n>>>>>>> REPLACE\n`,
    usage: { input: 30, output: 8 },
    delay_ms: DELAYS[f],
  }));
}

export async function runKillTrials(options: KillTrialOptions): Promise<KillTrialReport> {
  const log = options.log ?? (() => {});
  const random = prng(options.seed);
  const cfg = tempConfig('pas-soak-');
  writeFileSync(path.join(cfg.dir, 'cassettes', 'demo.yaml'), stringify({ entries: cassette() }));
  const root = mkdtempSync(path.join(os.tmpdir(), 'pas-soak-data-'));
  const dataDir = path.join(root, 'data');
  const repo = path.join(root, 'repo');
  const accepted: string[] = [];
  const kills: KillTrialReport['kills'] = [];
  const violations: string[] = [];

  const boots = await pasBoots(cfg.dir, dataDir);
  const up = () => boots.up();

  const submit = async (url: string, n: number): Promise<void> => {
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        try {
          const res = await fetch(`${url}/api/jobs`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ task: `Bump the k counters (${accepted.length}-${i})`, lane: 'Code', files: FILES.map((f) => `src/${f}.js`), repo }),
          });
          const body = (await res.json()) as { job_id?: string };
          if (res.status === 202 && body.job_id) accepted.push(body.job_id);
        } catch {
          // The kill can land while a request is in flight: it was never accepted.
        }
      }),
    );
  };

  try {
    mkdirSync(path.join(repo, 'src'), { recursive: true });
    await execa('git', ['init', '--quiet', '--initial-branch=main', repo]);
    for (const f of FILES) writeFileSync(path.join(repo, 'src', `${f}.js`), `export const ${f} = 1;\n`);
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '--quiet', '-m', 'initial');

    for (let trial = 1; trial <= options.trials; trial++) {
      const running = await up();
      // Kill while the submissions are still arriving in some trials, after them in others.
      const afterMs = Math.floor(random() * (options.maxKillDelayMs ?? 2500));
      const killer = new Promise<void>((resolve) => setTimeout(() => void kill9(running.child).then(() => resolve()), afterMs));
      await submit(running.url, options.jobsPerTrial);
      await killer;
      kills.push({ trial, afterMs, accepted: accepted.length });
      log(`trial ${trial}/${options.trials}: killed after ${afterMs} ms, ${accepted.length} jobs accepted so far`);
    }

    // The last boot finishes everything that was accepted.
    const final = await up();
    const deadline = Date.now() + 30_000 + accepted.length * 2_000;
    const statuses = new Map<string, string>();
    for (;;) {
      const res = await fetch(`${final.url}/api/jobs?limit=1000`);
      const body = (await res.json()) as { total: number; jobs: Array<{ job_id: string; status: string }> };
      statuses.clear();
      for (const j of body.jobs) statuses.set(j.job_id, j.status);
      const open = accepted.filter((id) => !isTerminalJobStatus(statuses.get(id) ?? ''));
      if (open.length === 0) break;
      if (Date.now() > deadline) {
        violations.push(`still not terminal after the final boot: ${open.map((id) => `${id}=${statuses.get(id) ?? 'missing'}`).join(', ')}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const id of accepted) if (!statuses.has(id)) violations.push(`accepted job ${id} is not listed by GET /api/jobs`);
    await kill9(final.child);

    // What survived, read from the journal, the receipts and git.
    const journal = openJournal(path.join(dataDir, 'pas.db'));
    const jobs: Record<string, number> = {};
    let taskCount = 0;
    const receipts = readAllReceipts(dataDir);
    try {
      for (const id of accepted) {
        const job = journal.getJob(id);
        if (!job) {
          violations.push(`accepted job ${id} is not in the journal`);
          continue;
        }
        jobs[job.status] = (jobs[job.status] ?? 0) + 1;
        if (!isTerminalJobStatus(job.status)) violations.push(`job ${id} ended ${job.status}`);
        if (job.status !== 'completed' && !/^PAS_ERR_/.test(reasonOf(job) ?? '')) violations.push(`job ${id} is ${job.status} without a coded reason`);
        for (const task of journal.tasksForJob(id)) {
          taskCount++;
          if (task.merged && task.status !== 'completed') violations.push(`task ${task.id} is merged but ${task.status}`);
          if (task.status === 'completed' && !receipts.some((r) => r.task_id === task.id && r.status === 'completed')) violations.push(`completed task ${task.id} has no receipt`);
        }
        violations.push(...(await doubledInBranch(repo, `pas/job-${id}`)));
      }
    } finally {
      journal.close();
    }
    const seen = new Map<string, number>();
    for (const r of receipts) seen.set(`${r.run_id} ${r.task_id}`, (seen.get(`${r.run_id} ${r.task_id}`) ?? 0) + 1);
    for (const [key, n] of seen) if (n > 1) violations.push(`receipt written ${n} times in one run: ${key}`);
    return { trials: options.trials, seed: options.seed, accepted: accepted.length, jobs, tasks: taskCount, receipts: receipts.length, kills, violations };
  } finally {
    await boots.killAll();
    cfg.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}
