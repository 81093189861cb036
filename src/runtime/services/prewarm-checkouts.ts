/**
 * The start-up prewarm of the programmers' reused checkouts (executors/checkouts.ts): for each
 * repository this run is known to work on (the jobs a restart resumes, the tasks it re-queues, and
 * the repositories the latest jobs named), the checkout of every programmer that will need one (an
 * executor that runs on files; every programmer when a job there has a `verify` command) is made in
 * the background, a few at a time, so the first task does not pay for checking out the whole
 * repository. Nothing waits for it: the tree is ready at once, and a task that needs a checkout
 * still being made waits for it through the checkout's lease (never two writers in one folder).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { PasConfig, ResolvedProgrammer } from '../../config/load-config.ts';
import { toErrorData } from '../../errors.ts';
import { stopSettles, warmCheckout, type CheckoutInput } from '../../executors/checkouts.ts';
import type { Journal } from '../../journal/journal.ts';
import { loadPlan } from '../job-progress.ts';
import type { OrphanSweep } from './orphan-sweep.ts';
import type { Repositories } from './repositories.ts';

/** How many of the latest jobs name the repositories worth a prewarm besides the resumed ones. */
const RECENT_JOBS = 20;
/** How many distinct repositories of those latest jobs are prewarmed. */
const RECENT_REPOS = 3;
/** Checkouts made at once: the machine keeps serving while they are made. */
const DEFAULT_CONCURRENCY = 2;

export interface KnownRepository {
  repo: string;
  /** The commit to check out (the resumed plan's base, else HEAD). */
  baseCommit: string;
  /** A job or task there runs a verify command: every programmer needs a checkout. */
  verify: boolean;
}

/**
 * The repositories this run is known to work on, read from the journal before the restart's
 * recovery changes it: unfinished jobs and their plans, queued and running tasks, then the named
 * repositories of the latest jobs. Only repositories that exist are kept.
 */
export function knownRepositories(journal: Journal, repositories: Repositories, config: PasConfig): KnownRepository[] {
  const found = new Map<string, KnownRepository>();
  const add = (repo: string, baseCommit: string | undefined, verify: boolean) => {
    const known = found.get(repo);
    if (known) {
      known.verify ||= verify;
      return;
    }
    found.set(repo, { repo, baseCommit: baseCommit ?? 'HEAD', verify });
  };
  const laneVerify = (lane: string | null | undefined) => (lane ? (config.pas.verify.lanes[lane]?.length ?? 0) > 0 : false);
  for (const job of journal.unfinishedJobs()) {
    const plan = loadPlan(journal, job.id);
    add(plan?.repo ?? repositories.pathOf(job.id, job.spec.repo), plan?.baseCommit, !!job.spec.verify?.length || !!plan?.verify?.length || laneVerify(job.lane ?? job.spec.lane));
  }
  for (const task of [...journal.runningTasks(), ...journal.queuedTasks()]) {
    add(repositories.pathOf(task.jobId, task.spec.repo), task.spec.baseCommit, !!task.spec.verify?.length);
  }
  let recent = 0;
  for (const job of journal.listJobs({ limit: RECENT_JOBS })) {
    if (!job.spec.repo) continue; // a scratch repository is its job's alone
    const repo = repositories.pathOf(job.id, job.spec.repo);
    if (!found.has(repo) && ++recent > RECENT_REPOS) continue;
    add(repo, undefined, !!job.spec.verify?.length || laneVerify(job.lane ?? job.spec.lane));
  }
  return [...found.values()].filter((k) => existsSync(path.join(k.repo, '.git')));
}

export interface PrewarmDeps {
  config: PasConfig;
  journal: Journal;
  repositories: Repositories;
  workspacesDir: string;
  sweep: OrphanSweep;
  logger: Logger;
  /** Whether this programmer's executor runs on files (aider, the agent CLIs). */
  needsCheckout: (programmer: ResolvedProgrammer) => boolean;
  /** Makes one checkout unless made or in use (default: executors/checkouts.ts's warmCheckout). */
  warm?: (input: CheckoutInput) => Promise<boolean>;
  concurrency?: number;
}

export interface Prewarm {
  /** The repositories and programmers being prewarmed (fixed at start). */
  readonly plan: ReadonlyArray<{ repo: string; baseCommit: string; programmerIds: string[] }>;
  /** Resolves once every checkout is made (or failed: a failure is logged, the task makes it later). */
  readonly done: Promise<void>;
  /** Starts no more checkouts, waits for the ones being made and stops their index settles (checkouts.ts). */
  stop(): Promise<void>;
}

/** Starts the prewarm in the background (after the sweep of what a killed run left); returns at once. */
export function startPrewarm(deps: PrewarmDeps): Prewarm {
  const { config, journal, repositories, workspacesDir, sweep, logger } = deps;
  const warm = deps.warm ?? warmCheckout;
  let repos: KnownRepository[] = [];
  try {
    repos = knownRepositories(journal, repositories, config);
  } catch (err) {
    logger.warn({ err: toErrorData(err) }, 'could not list the repositories to prewarm checkouts for');
  }
  const plan = repos
    .map((k) => ({ repo: k.repo, baseCommit: k.baseCommit, programmerIds: config.programmers.filter((p) => k.verify || deps.needsCheckout(p)).map((p) => p.id) }))
    .filter((p) => p.programmerIds.length > 0);
  const queue: CheckoutInput[] = plan.flatMap((p) => p.programmerIds.map((programmerId) => ({ repo: p.repo, workspacesDir, programmerId, baseCommit: p.baseCommit })));
  let stopped = false;
  let made = 0;

  const worker = async () => {
    for (let next = queue.shift(); next && !stopped; next = queue.shift()) {
      try {
        if (await warm(next)) made++;
      } catch (err) {
        logger.warn({ repo: next.repo, programmerId: next.programmerId, err: toErrorData(err) }, 'could not prewarm a checkout; the first task that needs it makes it');
      }
    }
  };
  const done =
    queue.length === 0
      ? Promise.resolve()
      : (async () => {
          await sweep.afterCrash;
          const total = queue.length;
          await Promise.all(Array.from({ length: Math.max(1, deps.concurrency ?? DEFAULT_CONCURRENCY) }, worker));
          logger.info({ repos: plan.map((p) => p.repo), checkouts: total, made }, 'checkouts prewarmed');
        })();
  return {
    plan,
    done,
    async stop() {
      stopped = true;
      await done;
      // Nothing of the prewarm runs in a checkout once stopped (its folders may go next).
      await stopSettles(workspacesDir);
    },
  };
}
