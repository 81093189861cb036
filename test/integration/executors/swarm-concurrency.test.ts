/**
 * 49 programmers on one repository of 2,000 files at once: no lock error, every commit exactly
 * its task's change, and after a SIGKILL in the middle and a restart (the orphan sweep, then the
 * same tasks again) no worktree, no stray ref, no lock file and a clean `git fsck`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { git } from '../../../src/executors/git-command.ts';
import { mergeTaskBranches } from '../../../src/executors/merge-branches.ts';
import { closeObjectStores } from '../../../src/executors/object-store.ts';
import { cleanupOrphanWorktrees, listWorktrees } from '../../../src/executors/worktree.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { kill9 } from '../../support/pas-process.ts';
import { runSwarm, SwarmLlm, swarmContent, swarmEdited, swarmFile, type SwarmInput } from '../../support/swarm.ts';

const P = 49;
const FILES = 2_000;
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let fixture: TempRepo | undefined;
afterEach(async () => {
  await closeObjectStores();
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

async function bigRepo(): Promise<TempRepo> {
  const files: Record<string, string> = {};
  for (let i = 0; i < FILES; i++) files[swarmFile(i)] = swarmContent(i);
  return createTempRepo(files);
}

/** Every task branch holds exactly its one-line change on top of the base. */
async function expectExactCommits(f: TempRepo): Promise<void> {
  const refs = (await gitOut(f.repo, 'for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads/pas/')).split('\n').filter(Boolean);
  expect(refs.map((r) => r.split(' ')[0]).sort()).toEqual(Array.from({ length: P }, (_, i) => `pas/swarm/t${i}`).sort());
  for (const line of refs) {
    const [ref, sha] = line.split(' ') as [string, string];
    const i = Number(ref.slice('pas/swarm/t'.length));
    expect(await gitOut(f.repo, 'rev-parse', `${sha}^`)).toBe(f.base);
    expect(await gitOut(f.repo, 'diff', '--numstat', f.base, sha)).toBe(`1\t1\t${swarmFile(i)}`);
    expect((await git(f.repo, ['show', `${sha}:${swarmFile(i)}`])).stdout).toBe(swarmEdited(i));
  }
}

async function lockFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.name.endsWith('.lock')) out.push(path.join(entry.parentPath, entry.name));
  }
  return out;
}

describe('49 programmers on one repository', () => {
  it('commit at once with no lock error, each commit exactly its change, and all merge', async () => {
    const f = (fixture = await bigRepo());
    const llm = new SwarmLlm(P);
    const results = await runSwarm({ repo: f.repo, workspacesDir: f.workspacesDir, base: f.base, programmers: P }, llm);

    expect(llm.maxInFlight).toBe(P);
    expect(results.filter((r) => r.status !== 'completed').map((r) => r.error)).toEqual([]);
    for (const r of results) expect(r.kpi).toEqual({ files_changed: 1, lines_added: 1, lines_removed: 1 });
    await expectExactCommits(f);

    const merged = await mergeTaskBranches({ repo: f.repo, jobBranch: 'pas/job-swarm', baseCommit: f.base, branches: results.map((r) => r.branch!) });
    expect(merged.results.filter((r) => r.status !== 'merged')).toEqual([]);
    expect(await gitOut(f.repo, 'diff', '--shortstat', f.base, 'pas/job-swarm')).toBe(`${P} files changed, ${P} insertions(+), ${P} deletions(-)`);
    expect(await gitOut(f.repo, 'rev-parse', 'HEAD')).toBe(f.base);
    expect(await listWorktrees(f.repo)).toHaveLength(1);
    await gitOut(f.repo, 'fsck', '--strict', '--no-dangling');
  }, 90_000);

  it('leaves no worktree, stray ref or lock behind after a SIGKILL mid-swarm and a restart', async () => {
    const f = (fixture = await bigRepo());
    const input: SwarmInput = { repo: f.repo, workspacesDir: f.workspacesDir, base: f.base, programmers: P };
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/support/swarm.ts'), JSON.stringify(input)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    // Kill once some tasks have committed and the others are still on their way.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if ((out.match(/^completed /gm) ?? []).length >= 8) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
      child.once('exit', () => {
        clearInterval(timer);
        reject(new Error(`the swarm ended before it was killed:\n${out}`));
      });
    });
    expect(await kill9(child)).toBe('SIGKILL');
    const committed = (out.match(/^completed /gm) ?? []).length;
    expect(committed).toBeGreaterThanOrEqual(8);
    expect(committed).toBeLessThan(P);
    expect(out).not.toMatch(/^failed /m);

    // Restart: the startup sweep, then the same tasks again (an earlier attempt's branch is replaced).
    await cleanupOrphanWorktrees(f.repo, f.workspacesDir, new Set());
    const results = await runSwarm(input);
    expect(results.filter((r) => r.status !== 'completed').map((r) => r.error)).toEqual([]);
    await expectExactCommits(f);
    expect(await listWorktrees(f.repo)).toHaveLength(1);
    expect(existsSync(path.join(f.workspacesDir, 'swarm'))).toBe(false);
    expect(await lockFiles(path.join(f.repo, '.git'))).toEqual([]);
    await gitOut(f.repo, 'fsck', '--strict', '--no-dangling');
  }, 120_000);
});
