/**
 * A program PAS cannot start (no file descriptors left, or not there at all) is a coded,
 * retryable PAS_ERR_RESOURCE at every spawn site — git, the planner's repo map, allowed commands
 * and agent CLIs through the process tree — and never an unhandled 'error' event that ends the process. Runs in a child
 * node under `prlimit --nofile` that uses up its descriptors first.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTempRepo } from '../../support/git-fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

const SCRIPT = `
import fs from 'node:fs';
const { git } = await import(${JSON.stringify(path.join(ROOT, 'src/executors/git-command.ts'))});
const { runProcessTree } = await import(${JSON.stringify(path.join(ROOT, 'src/executors/process-tree.ts'))});
const { buildRepoMap } = await import(${JSON.stringify(path.join(ROOT, 'src/planning/repo-map.ts'))});
const repo = process.argv[process.argv.length - 1];
const held = [];
try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch {}
fs.closeSync(held.pop());
const codes = [];
for (const run of [
  () => git(repo, ['status', '--porcelain']),
  () => runProcessTree({ file: 'sh', args: ['-c', 'true'], cwd: repo, env: { PATH: process.env.PATH } }),
  () => buildRepoMap(repo, 'HEAD'),
]) {
  try { await run(); codes.push('ok'); } catch (err) { codes.push(err.code + (err.retryable ? ':retryable' : '')); }
}
for (const fd of held) fs.closeSync(fd);
const after = await git(repo, ['rev-parse', 'HEAD']).then(() => 'ok', (err) => err.code);
const missing = await git('/nonexistent-folder-for-pas', ['status']).then(() => 'ok', (err) => err.code);
process.stdout.write(JSON.stringify({ codes, after, missing }));
`;

describe('spawn failures', () => {
  it('are PAS_ERR_RESOURCE (retryable) for git, the repo map and the process tree when file descriptors run out, and the process lives on', async () => {
    const repo = await createTempRepo({ 'a.txt': 'a\n' });
    try {
      const run = spawnSync('prlimit', ['--nofile=200:200', process.execPath, '--import', 'tsx', '--input-type=module', '-e', SCRIPT, repo.repo], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(run.stderr).not.toMatch(/Unhandled 'error' event/);
      expect(run.status).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({ codes: ['PAS_ERR_RESOURCE:retryable', 'PAS_ERR_RESOURCE:retryable', 'PAS_ERR_RESOURCE:retryable'], after: 'ok', missing: 'PAS_ERR_GIT' });
    } finally {
      await repo.cleanup();
    }
  });
});
