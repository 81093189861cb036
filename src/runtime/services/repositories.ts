/**
 * Where a job's or a task's repository is: the one it names (resolved to an absolute path), or
 * its scratch repository `{dataDir}/repos/{jobId}`, made with one commit on first use. Every
 * service and the orphan sweep ask here, so a repository is resolved one way only.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { JobSpec, TaskSpec } from '../../../machines/domain.ts';
import { PasError } from '../../errors.ts';
import { git } from '../../executors/git-command.ts';

export interface Repositories {
  /** The repository a job names, or where its scratch repository is (without making it). */
  pathOf(jobId: string, named: string | undefined): string;
  /** A job's repository, its scratch repository made when it names none; a named one must exist. */
  forJob(job: JobSpec): Promise<string>;
  /** A task's repository (its job's plan carries it; a direct task may name one or none). */
  forTask(task: TaskSpec): Promise<string>;
}

/** A scratch repository for a job that names none: `{dataDir}/repos/{jobId}` with one commit. */
export async function ensureScratchRepo(dataDir: string, jobId: string, task: string): Promise<string> {
  const repo = path.join(dataDir, 'repos', jobId);
  if (existsSync(path.join(repo, '.git'))) return repo;
  mkdirSync(repo, { recursive: true });
  await git(repo, ['init', '--quiet', '--initial-branch=main']);
  writeFileSync(path.join(repo, 'README.md'), `# Scratch repository for PAS job ${jobId}\n\n${task}\n`);
  await git(repo, ['add', '-A']);
  await git(repo, ['commit', '--quiet', '-m', `pas: scratch repository for job ${jobId}`]);
  return repo;
}

export function createRepositories(dataDir: string): Repositories {
  const pathOf = (jobId: string, named: string | undefined) => (named ? path.resolve(named) : path.join(dataDir, 'repos', jobId));
  return {
    pathOf,
    async forJob(job) {
      if (!job.repo) return ensureScratchRepo(dataDir, job.id, job.task);
      const repo = pathOf(job.id, job.repo);
      if (!existsSync(repo)) throw new PasError('PAS_ERR_GIT', `repository ${repo} does not exist`, { details: { field: 'repo' } });
      return repo;
    },
    async forTask(task) {
      return task.repo ? pathOf(task.jobId, task.repo) : ensureScratchRepo(dataDir, task.jobId, task.instruction);
    },
  };
}
