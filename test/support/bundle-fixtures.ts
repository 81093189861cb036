/**
 * A user repository ("central") and a worker's data dir with its repository cache, for the tests
 * of code without a shared filesystem (src/distribution/bundles.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { repoKeyOf, WorkerRepoCache } from '../../src/distribution/bundles.ts';
import { createTempRepo, gitOut, writeFiles, type TempRepo } from './git-fixtures.ts';

export interface BundleFixture {
  central: TempRepo;
  workerDir: string;
  cache: WorkerRepoCache;
  repoKey: string;
  cleanup(): Promise<void>;
}

export async function bundleFixture(): Promise<BundleFixture> {
  const central = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n', 'README.md': '# app\n' });
  const workerDir = await mkdtemp(path.join(os.tmpdir(), 'pas-worker-'));
  return {
    central,
    workerDir,
    cache: new WorkerRepoCache(workerDir),
    repoKey: await repoKeyOf(central.repo),
    cleanup: async () => {
      await central.cleanup();
      await rm(workerDir, { recursive: true, force: true });
    },
  };
}

/** A commit in a worker's clone on top of `base` (what an executor leaves behind). */
export async function workerCommit(clone: string, base: string, files: Record<string, string>, message = 'task work'): Promise<string> {
  await gitOut(clone, 'checkout', '-q', '--detach', base);
  return commitFiles(clone, files, message);
}

/** Writes `files` in the checkout `dir`, commits them and answers the commit. */
export async function commitFiles(dir: string, files: Record<string, string>, message = 'central work'): Promise<string> {
  await writeFiles(dir, files);
  await gitOut(dir, 'add', '--all');
  await gitOut(dir, 'commit', '-q', '-m', message);
  return gitOut(dir, 'rev-parse', 'HEAD');
}
