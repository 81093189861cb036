/**
 * After a restart of the central process: the quarantine refs (`refs/pas/quarantine/*`) that
 * result imports cut off by a crash (kill -9 mid-import) left behind are removed from every
 * repository the killed run was working in, before this run imports anything. Branches and every
 * other ref stay as they are.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { toErrorData } from '../errors.ts';
import type { Journal } from '../journal/journal.ts';
import { repositoriesAfterCrash } from '../runtime/services/orphan-sweep.ts';
import type { Repositories } from '../runtime/services/repositories.ts';
import { sweepQuarantineRefs } from './bundles.ts';

/** Answers how many quarantine refs it removed. */
export async function sweepQuarantinesAfterCrash(journal: Journal, repositories: Repositories, log: Logger): Promise<number> {
  let repos: Set<string>;
  try {
    repos = repositoriesAfterCrash(journal, repositories);
  } catch (err) {
    log.error({ err: toErrorData(err) }, 'could not list the repositories to sweep for quarantine refs');
    return 0;
  }
  let removed = 0;
  for (const repo of repos) {
    if (!existsSync(path.join(repo, '.git'))) continue;
    try {
      const n = await sweepQuarantineRefs(repo);
      if (n > 0) log.warn({ repo, removed: n }, 'removed quarantine refs left by a result import cut off by a crash');
      removed += n;
    } catch (err) {
      log.error({ repo, err: toErrorData(err) }, 'could not sweep the quarantine refs of a repository');
    }
  }
  return removed;
}
