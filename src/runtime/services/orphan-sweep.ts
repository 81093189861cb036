/**
 * The sweep of worktrees a killed run left behind. After a restart, the repositories of the
 * unfinished jobs and running tasks are swept once (task and merge worktrees alike: nothing of
 * this run holds one yet); any other repository is swept once before this run's first task in it
 * (sparing the tasks running now and live merge worktrees). Every task and merge waits for the
 * sweep of its repository: a worktree made while it runs would be taken for an orphan.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

import { toErrorData } from '../../errors.ts';
import { repoKey } from '../../executors/git-command.ts';
import { cleanupOrphanWorktrees } from '../../executors/index.ts';
import type { Journal } from '../../journal/journal.ts';
import { loadPlan } from '../job-progress.ts';
import type { Repositories } from './repositories.ts';

export interface OrphanSweep {
  /** Resolves once the sweep after the last crash is done. */
  readonly afterCrash: Promise<void>;
  /** Resolves once `repo` is swept (the first call for a repository starts its sweep). */
  before(repo: string): Promise<void>;
}

export interface OrphanSweepOptions {
  journal: Journal;
  repositories: Repositories;
  workspacesDir: string;
  logger: Logger;
}

/**
 * The repositories a killed run may have left something in: those of the unfinished jobs and of
 * the running tasks, as the journal names them before recovery.
 */
export function repositoriesAfterCrash(journal: Journal, repositories: Repositories): Set<string> {
  const repos = new Set<string>();
  for (const job of journal.unfinishedJobs()) repos.add(loadPlan(journal, job.id)?.repo ?? repositories.pathOf(job.id, job.spec.repo));
  for (const task of journal.runningTasks()) repos.add(repositories.pathOf(task.jobId, task.spec.repo));
  return repos;
}

/** Built before the runtime recovers and starts, so the journal still names what a killed run held. */
export function createOrphanSweep({ journal, repositories, workspacesDir, logger }: OrphanSweepOptions): OrphanSweep {
  /** One sweep per repository (by repoKey: however its path is written) per run. */
  const sweeps = new Map<string, Promise<void>>();
  const afterCrash = sweepAfterCrash();

  async function sweepAfterCrash(): Promise<void> {
    let repos: Set<string>;
    try {
      repos = repositoriesAfterCrash(journal, repositories);
    } catch (err) {
      logger.error({ err: toErrorData(err) }, 'could not list the repositories to sweep after a restart');
      return;
    }
    if (!existsSync(workspacesDir)) return;
    for (const repo of repos) {
      if (!existsSync(path.join(repo, '.git'))) continue;
      try {
        sweeps.set(await repoKey(repo), Promise.resolve());
      } catch {
        continue;
      }
      try {
        const removed = await cleanupOrphanWorktrees(repo, workspacesDir, new Set());
        if (removed.length > 0) logger.warn({ repo, removed }, 'removed worktrees left by an earlier run');
      } catch (err) {
        logger.error({ repo, err: toErrorData(err) }, 'could not sweep the worktrees left by an earlier run');
      }
    }
  }

  return {
    afterCrash,
    async before(repo) {
      await afterCrash;
      const key = await repoKey(repo);
      let sweep = sweeps.get(key);
      if (!sweep) {
        const running = new Set(journal.runningTasks().map((t) => t.id));
        sweep = cleanupOrphanWorktrees(repo, workspacesDir, running, { keepMerges: true }).then(
          (removed) => {
            if (removed.length > 0) logger.warn({ repo, removed }, 'removed worktrees left by an earlier run');
          },
          () => undefined,
        );
        sweeps.set(key, sweep);
      }
      await sweep;
    },
  };
}

