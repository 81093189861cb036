import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git } from '../../../src/executors/git-command.ts';
import { mergeTaskBranches } from '../../../src/executors/merge-branches.ts';
import {
  cleanupOrphanWorktrees,
  commitWorktree,
  createTaskWorktree,
  diffKpi,
  listWorktrees,
  removeTaskWorktree,
  resolveBaseCommit,
} from '../../../src/executors/worktree.ts';
import { createTempRepo, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;

afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

async function setup(files: Record<string, string | Buffer> = { 'a.txt': 'one\ntwo\nthree\n', 'b.txt': 'bee\n' }): Promise<TempRepo> {
  fixture = await createTempRepo(files);
  return fixture;
}

async function taskCommit(f: TempRepo, taskId: string, files: Record<string, string>): Promise<string> {
  const wt = await createTaskWorktree({ repo: f.repo, workspacesDir: f.workspacesDir, jobId: 'j1', taskId, baseCommit: f.base });
  await writeFiles(wt.path, files);
  await commitWorktree(wt.path, `task ${taskId}`);
  await removeTaskWorktree({ repo: f.repo, worktree: wt.path });
  return wt.branch;
}

describe('task worktrees', () => {
  it('creates a worktree on its own branch at the base commit without touching the user checkout', async () => {
    const f = await setup();
    await writeFile(path.join(f.repo, 'a.txt'), 'user edit in progress\n');
    const wt = await createTaskWorktree({ repo: f.repo, workspacesDir: f.workspacesDir, jobId: 'j1', taskId: 't1', baseCommit: f.base });

    expect(wt.path).toBe(path.join(f.workspacesDir, 'j1', 't1'));
    expect(wt.branch).toBe('pas/j1/t1');
    expect(await gitOut(wt.path, 'rev-parse', 'HEAD')).toBe(f.base);
    expect(await gitOut(wt.path, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('pas/j1/t1');
    expect(await readFile(path.join(wt.path, 'a.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
    expect(await gitOut(f.repo, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
    expect(await gitOut(f.repo, 'status', '--porcelain')).toBe('M a.txt');
  });

  it('commits the changes as PAS and measures them with numstat, counting a binary file as changed', async () => {
    const f = await setup();
    const wt = await createTaskWorktree({ repo: f.repo, workspacesDir: f.workspacesDir, jobId: 'j1', taskId: 't1', baseCommit: f.base });
    await writeFiles(wt.path, {
      'a.txt': 'one\n2\nthree\nfour\n',
      'src/new.ts': 'export const x = 1;\nexport const y = 2;\n',
      'img.bin': Buffer.from([0, 1, 2, 3, 0, 255, 0]),
    });
    const result = await commitWorktree(wt.path, 'pas: task t1 of job j1: edit');

    expect(result.changed).toBe(true);
    expect(await gitOut(f.repo, 'rev-parse', 'pas/j1/t1')).toBe(result.commit);
    expect(await gitOut(f.repo, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%s', 'pas/j1/t1')).toBe('PAS <pas@localhost>|PAS <pas@localhost>|pas: task t1 of job j1: edit');
    expect(await diffKpi(f.repo, f.base, 'pas/j1/t1')).toEqual({ files_changed: 3, lines_added: 4, lines_removed: 1 });
  });

  it('reports no change and keeps the base when the worktree is untouched', async () => {
    const f = await setup();
    const wt = await createTaskWorktree({ repo: f.repo, workspacesDir: f.workspacesDir, jobId: 'j1', taskId: 't1', baseCommit: f.base });
    expect(await commitWorktree(wt.path, 'nothing')).toEqual({ commit: f.base, changed: false });
    expect(await diffKpi(f.repo, f.base, wt.branch)).toEqual({ files_changed: 0, lines_added: 0, lines_removed: 0 });
  });

  it('re-creates a retried task’s worktree clean at the base', async () => {
    const f = await setup();
    const first = await createTaskWorktree({ repo: f.repo, workspacesDir: f.workspacesDir, jobId: 'j1', taskId: 't1', baseCommit: f.base });
    await writeFiles(first.path, { 'a.txt': 'changed\n', 'junk.txt': 'junk\n' });
    await commitWorktree(first.path, 'first attempt');
    const again = await createTaskWorktree({ repo: f.repo, workspacesDir: f.workspacesDir, jobId: 'j1', taskId: 't1', baseCommit: f.base });
    expect(again.path).toBe(first.path);
    expect(await gitOut(again.path, 'rev-parse', 'HEAD')).toBe(f.base);
    expect(existsSync(path.join(again.path, 'junk.txt'))).toBe(false);
  });

  it('removes a worktree and, when asked, its branch', async () => {
    const f = await setup();
    const wt = await createTaskWorktree({ repo: f.repo, workspacesDir: f.workspacesDir, jobId: 'j1', taskId: 't1', baseCommit: f.base });
    await removeTaskWorktree({ repo: f.repo, worktree: wt.path, deleteBranch: wt.branch });
    expect(existsSync(wt.path)).toBe(false);
    expect((await listWorktrees(f.repo)).map((w) => w.path)).not.toContain(wt.path);
    expect(await gitOut(f.repo, 'branch', '--list', 'pas/*')).toBe('');
  });

  it('refuses an empty repository as a base and an unknown base commit', async () => {
    const f = await setup();
    await expect(resolveBaseCommit(f.repo, 'deadbeef')).rejects.toMatchObject({ code: 'PAS_ERR_GIT' });
    const empty = path.join(f.root, 'empty');
    await mkdir(empty);
    await gitOut(empty, 'init', '--quiet');
    await expect(resolveBaseCommit(empty)).rejects.toMatchObject({ code: 'PAS_ERR_GIT' });
  });

  it('sweeps worktrees and folders a crash left behind, keeping the tasks still wanted', async () => {
    const f = await setup();
    const make = (taskId: string) => createTaskWorktree({ repo: f.repo, workspacesDir: f.workspacesDir, jobId: 'j1', taskId, baseCommit: f.base });
    const keep = await make('keep-me');
    const orphan = await make('orphan');
    const vanished = await make('vanished');
    await rm(vanished.path, { recursive: true, force: true });
    const stray = path.join(f.workspacesDir, 'j0', 'half-made');
    await mkdir(stray, { recursive: true });
    await writeFile(path.join(stray, 'x.txt'), 'x');

    const removed = await cleanupOrphanWorktrees(f.repo, f.workspacesDir, new Set(['keep-me']));

    expect(removed.sort()).toEqual([orphan.path, stray].sort());
    expect(existsSync(keep.path)).toBe(true);
    expect(existsSync(orphan.path)).toBe(false);
    expect(existsSync(path.join(f.workspacesDir, 'j0'))).toBe(false);
    const listed = (await listWorktrees(f.repo)).map((w) => w.path);
    expect(listed).toContain(keep.path);
    expect(listed).not.toContain(orphan.path);
    expect(listed).not.toContain(vanished.path);
  });

  it('spares a job\'s merge worktree while PAS runs, and sweeps it after a crash', async () => {
    const f = await setup();
    const mergeDir = path.join(f.workspacesDir, '.merge', 'pas_job-j1');
    await mkdir(path.dirname(mergeDir), { recursive: true });
    await gitOut(f.repo, 'worktree', 'add', '--quiet', '-b', 'pas/job-j1', mergeDir, f.base);

    expect(await cleanupOrphanWorktrees(f.repo, f.workspacesDir, new Set(), { keepMerges: true })).toEqual([]);
    expect((await listWorktrees(f.repo)).map((w) => w.path)).toContain(mergeDir);

    expect(await cleanupOrphanWorktrees(f.repo, f.workspacesDir, new Set())).toEqual([mergeDir]);
    expect(existsSync(mergeDir)).toBe(false);
  });

  it('leaves alone a worktree folder that belongs to another repository', async () => {
    const f = await setup();
    const other = await createTempRepo({ 'o.txt': 'o\n' });
    try {
      const foreign = await createTaskWorktree({ repo: other.repo, workspacesDir: f.workspacesDir, jobId: 'j9', taskId: 'theirs', baseCommit: other.base });
      expect(await cleanupOrphanWorktrees(f.repo, f.workspacesDir, new Set())).toEqual([]);
      expect(existsSync(foreign.path)).toBe(true);
    } finally {
      await other.cleanup();
    }
  });
});

describe('locks', () => {
  it('removes a stale lock file left by a crashed git and carries on', async () => {
    const f = await setup();
    const lock = path.join(f.repo, '.git', 'refs', 'heads', 'stale.lock');
    await writeFile(lock, '');
    const old = new Date(Date.now() - 10 * 60_000);
    await utimes(lock, old, old);
    await git(f.repo, ['branch', 'stale', f.base], { lock: true });
    expect(await gitOut(f.repo, 'rev-parse', 'stale')).toBe(f.base);
    expect(existsSync(lock)).toBe(false);
  });

  it('waits for a lock another process releases', async () => {
    const f = await setup();
    const lock = path.join(f.repo, '.git', 'refs', 'heads', 'busy.lock');
    await writeFile(lock, '');
    const release = setTimeout(() => void rm(lock, { force: true }), 300);
    try {
      await git(f.repo, ['branch', 'busy', f.base], { lock: true });
    } finally {
      clearTimeout(release);
    }
    expect(await gitOut(f.repo, 'rev-parse', 'busy')).toBe(f.base);
  });
});

describe('mergeTaskBranches', () => {
  it('merges task branches into the job branch in its own worktree and never twice', async () => {
    const f = await setup();
    const t1 = await taskCommit(f, 't1', { 'a.txt': 'one\nTWO\nthree\n' });
    const t2 = await taskCommit(f, 't2', { 'b.txt': 'bee\nbuzz\n', 'c.txt': 'new\n' });
    const userHead = await gitOut(f.repo, 'rev-parse', 'HEAD');

    const first = await mergeTaskBranches({ repo: f.repo, jobBranch: 'pas/job-j1', baseCommit: f.base, branches: [t1, t2], workspacesDir: f.workspacesDir });
    expect(first.results).toEqual([
      { branch: t1, status: 'merged', commit: expect.any(String), alreadyMerged: false },
      { branch: t2, status: 'merged', commit: expect.any(String), alreadyMerged: false },
    ]);
    expect(await gitOut(f.repo, 'rev-parse', 'pas/job-j1')).toBe(first.head);
    expect(await gitOut(f.repo, 'show', 'pas/job-j1:a.txt')).toBe('one\nTWO\nthree');
    expect(await gitOut(f.repo, 'show', 'pas/job-j1:c.txt')).toBe('new');
    expect(await gitOut(f.repo, 'rev-parse', 'HEAD')).toBe(userHead);
    expect(await gitOut(f.repo, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
    expect(await gitOut(f.repo, 'status', '--porcelain')).toBe('');
    expect((await listWorktrees(f.repo)).length).toBe(1);

    const again = await mergeTaskBranches({ repo: f.repo, jobBranch: 'pas/job-j1', baseCommit: f.base, branches: [t1, t2] });
    expect(again.head).toBe(first.head);
    expect(again.results.map((r) => r.status === 'merged' && r.alreadyMerged)).toEqual([true, true]);
  });

  it('works in a sha256 repository: worktrees at a 64-digit base, and a merge git writes (two edits to one file) as well as a trivial one', async () => {
    fixture = await createTempRepo({ 'a.txt': 'one\ntwo\nthree\nfour\nfive\n', 'b.txt': 'bee\n' }, { objectFormat: 'sha256' });
    const f = fixture;
    expect(f.base).toMatch(/^[0-9a-f]{64}$/);
    expect(await resolveBaseCommit(f.repo, 'main')).toBe(f.base);
    const t1 = await taskCommit(f, 't1', { 'a.txt': 'ONE\ntwo\nthree\nfour\nfive\n' });
    const t2 = await taskCommit(f, 't2', { 'a.txt': 'one\ntwo\nthree\nfour\nFIVE\n' });
    const t3 = await taskCommit(f, 't3', { 'c.txt': 'new\n' });

    const merged = await mergeTaskBranches({ repo: f.repo, jobBranch: 'pas/job-j1', baseCommit: f.base, branches: [t1, t2, t3], workspacesDir: f.workspacesDir });
    expect(merged.results.map((r) => r.status)).toEqual(['merged', 'merged', 'merged']);
    expect(merged.head).toMatch(/^[0-9a-f]{64}$/);
    expect(await gitOut(f.repo, 'show', 'pas/job-j1:a.txt')).toBe('ONE\ntwo\nthree\nfour\nFIVE');
    expect(await gitOut(f.repo, 'show', 'pas/job-j1:c.txt')).toBe('new');
    expect(await gitOut(f.repo, 'fsck', '--no-dangling')).toBe('');
  });

  it('stops merging when its job is cancelled, leaving the job branch and the worktrees clean', async () => {
    const f = await setup();
    const t1 = await taskCommit(f, 't1', { 'a.txt': 'one\nTWO\nthree\n' });
    const controller = new AbortController();
    controller.abort();
    await expect(mergeTaskBranches({ repo: f.repo, jobBranch: 'pas/job-j1', baseCommit: f.base, branches: [t1], signal: controller.signal })).rejects.toMatchObject({
      code: 'PAS_ERR_TASK_CANCELLED',
    });
    expect(await gitOut(f.repo, 'rev-parse', 'pas/job-j1')).toBe(f.base);
    expect((await listWorktrees(f.repo)).length).toBe(1);
  });

  it('reports a conflicting branch with its files, aborts it cleanly and still merges the next ones', async () => {
    const f = await setup();
    const t1 = await taskCommit(f, 't1', { 'a.txt': 'one\nTWO from t1\nthree\n' });
    const t2 = await taskCommit(f, 't2', { 'a.txt': 'one\nTWO from t2\nthree\n', 'b.txt': 'bee from t2\n' });
    const t3 = await taskCommit(f, 't3', { 'b.txt': 'bee\nand t3\n' });

    const out = await mergeTaskBranches({ repo: f.repo, jobBranch: 'pas/job-j1', baseCommit: f.base, branches: [t1, t2, t3] });

    expect(out.results.map((r) => r.status)).toEqual(['merged', 'conflict', 'merged']);
    const conflict = out.results[1];
    expect(conflict).toMatchObject({ branch: t2, status: 'conflict', files: ['a.txt'], error: { code: 'PAS_ERR_MERGE_CONFLICT' } });
    expect(await gitOut(f.repo, 'show', 'pas/job-j1:a.txt')).toBe('one\nTWO from t1\nthree');
    expect(await gitOut(f.repo, 'show', 'pas/job-j1:b.txt')).toBe('bee\nand t3');
    expect(await gitOut(f.repo, 'log', '--format=%s', 'pas/job-j1')).not.toMatch(/pas\/j1\/t2/);
  });

  it('reports a branch that does not exist without stopping the others', async () => {
    const f = await setup();
    const t1 = await taskCommit(f, 't1', { 'c.txt': 'c\n' });
    const out = await mergeTaskBranches({ repo: f.repo, jobBranch: 'pas/job-j1', baseCommit: f.base, branches: ['pas/j1/missing', t1] });
    expect(out.results.map((r) => r.status)).toEqual(['failed', 'merged']);
  });
});
