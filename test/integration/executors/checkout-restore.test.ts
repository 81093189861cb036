/**
 * A reused checkout given back right after its whole-tree staging is restored by its staged paths
 * alone (no `reset --hard` over the whole tree) and still shows the next task nothing of the last
 * one: tracked changes, deletions, untracked and ignored files, nested folders and repositories,
 * empty folders, mode changes, symlinks. Whatever this process does not know exactly falls back to
 * the full reset: no staged tree at release, another base, an index changed after the staging, a
 * tracked file changed after the staging without the index knowing, a checkout held by a PAS
 * killed with -9.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { CmdAllowlist, FsAllowlist } from '../../../src/config/schemas.ts';
import { checkoutFor, checkoutPath, checkoutTree } from '../../../src/executors/checkouts.ts';
import { gitProcessCount, gitSpawnCount } from '../../../src/executors/git-command.ts';
import type { Executor } from '../../../src/executors/executor.ts';
import { closeObjectStores, objectStoreFor } from '../../../src/executors/object-store.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import type { LlmClient } from '../../../src/llm/types.ts';
import { createTempRepo, filesIn, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';
import type { HoldInput } from '../../support/hold-checkout.ts';
import { kill9 } from '../../support/pas-process.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

const BASE_FILES = { '.gitignore': '*.log\nbuild/\n', 'a.txt': 'a\n', 'c.txt': 'c\n', 'd.txt': 'd\n', 'src/b.ts': 'b\n', 'tool.sh': '#!/bin/sh\n' };

/** Entries of the checkout's HEAD reflog: `reset --hard` adds one, a restore by paths none. */
async function resets(dir: string): Promise<number> {
  return (await readFile(path.join(dir, '.git', 'logs', 'HEAD'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
}

/** What a task may leave: every kind of change a later task must not see. */
async function leaveTraces(dir: string): Promise<void> {
  await writeFiles(dir, { 'a.txt': 'changed\n', 'untracked.txt': 'u\n', 'debug.log': 'ignored\n', 'build/out.js': 'ignored\n', 'deep/new/x.txt': 'x\n' });
  await rm(path.join(dir, 'src', 'b.ts'));
  await chmod(path.join(dir, 'tool.sh'), 0o755);
  await symlink('a.txt', path.join(dir, 'sym'));
  await rm(path.join(dir, 'c.txt'));
  await symlink('/etc/hostname', path.join(dir, 'c.txt'));
  await rm(path.join(dir, 'd.txt'));
  await writeFiles(dir, { 'd.txt/inner.txt': 'a folder where a file was\n' });
  await mkdir(path.join(dir, 'empty'));
  await mkdir(path.join(dir, 'nested'));
  await gitOut(path.join(dir, 'nested'), 'init', '--quiet');
  await writeFiles(dir, { 'nested/n.txt': 'n\n' });
  await gitOut(path.join(dir, 'nested'), 'add', '--all');
  await gitOut(path.join(dir, 'nested'), 'commit', '--quiet', '-m', 'a nested repository');
}

/** The checkout holds the base's files exactly: contents, modes, types, nothing else. */
async function expectBase(dir: string, base: string): Promise<void> {
  expect(await filesIn(dir)).toEqual(Object.keys(BASE_FILES).sort());
  for (const [rel, text] of Object.entries(BASE_FILES)) {
    expect((await lstat(path.join(dir, rel))).isFile()).toBe(true);
    expect(await readFile(path.join(dir, rel), 'utf8')).toBe(text);
  }
  expect((await stat(path.join(dir, 'tool.sh'))).mode & 0o111).toBe(0);
  expect(existsSync(path.join(dir, 'empty'))).toBe(false);
  expect(await gitOut(dir, 'status', '--porcelain', '--ignored', '--untracked-files=all')).toBe('');
  expect(await gitOut(dir, 'rev-parse', 'HEAD')).toBe(base);
}

/** A task that took the checkout, left every kind of trace, staged it and gives it back (with its staged tree, or not). */
async function stagedTask(f: TempRepo, confirm: boolean, programmerId = 'Prog-001'): Promise<string> {
  const lease = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId, baseCommit: f.base });
  await leaveTraces(lease.path);
  const store = await objectStoreFor(f.repo);
  const tree = await checkoutTree(lease.path, store, await store.commitTree(f.base));
  lease.release(confirm ? tree : undefined);
  return lease.path;
}

describe('restoring a reused checkout by its staged paths', () => {
  it('restores a checkout given back right after its staging by its staged paths alone: a tracked change, a deletion, untracked and ignored files, nested folders and repositories, an empty folder, mode changes and symlinks are all gone', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const dir = await stagedTask(f, true);
    const resetsBefore = await resets(dir);
    const [before, spawns] = [gitProcessCount(), gitSpawnCount()];
    const next = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
    // No reset: the staged paths checked out from the base, the check that every tracked file
    // matches the index, then the clean, all from one spawn.
    expect(gitProcessCount() - before).toBe(3);
    expect(gitSpawnCount() - spawns).toBe(1);
    expect(await resets(dir)).toBe(resetsBefore);
    await expectBase(next.path, f.base);
    next.release();
  });

  it('falls back to the full reset when the checkout is given back without its staged tree, and nothing shows either', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const dir = await stagedTask(f, false);
    const resetsBefore = await resets(dir);
    const spawns = gitSpawnCount();
    const next = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
    expect(await resets(dir)).toBe(resetsBefore + 1);
    // The full reset: reset --hard and clean from one spawn.
    expect(gitSpawnCount() - spawns).toBe(1);
    await expectBase(next.path, f.base);
    next.release();
  });

  it('checks files out through git’s own filters (.gitattributes eol) when it stages and when it restores', async () => {
    const f = (fixture = await createTempRepo({ '.gitattributes': '*.txt text eol=crlf\n', 'a.txt': 'one\ntwo\n' }));
    const lease = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
    expect(await readFile(path.join(lease.path, 'a.txt'), 'utf8')).toBe('one\r\ntwo\r\n');
    await writeFiles(lease.path, { 'a.txt': 'one\r\nthree\r\n' });
    const store = await objectStoreFor(f.repo);
    const tree = await checkoutTree(lease.path, store, await store.commitTree(f.base));
    // Staged as git stages it: the clean side of the conversion (LF) is what is committed.
    expect((await gitOut(f.repo, 'cat-file', '-p', `${tree}:a.txt`))).toBe('one\nthree');
    lease.release(tree);
    const resetsBefore = await resets(lease.path);
    const next = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
    expect(await resets(next.path)).toBe(resetsBefore);
    expect(await readFile(path.join(next.path, 'a.txt'), 'utf8')).toBe('one\r\ntwo\r\n');
    expect(await gitOut(next.path, 'status', '--porcelain', '--ignored')).toBe('');
    next.release();
  });

  it('falls back to the full reset for a task at another base', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const first = f.base;
    await writeFiles(f.repo, { 'second.txt': 's\n' });
    await gitOut(f.repo, 'add', '--all');
    await gitOut(f.repo, 'commit', '--quiet', '-m', 'second');
    const second = await gitOut(f.repo, 'rev-parse', 'HEAD');
    const dir = await stagedTask({ ...f, base: first }, true);
    const resetsBefore = await resets(dir);
    const next = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: second });
    expect(await resets(dir)).toBe(resetsBefore + 1);
    expect(await filesIn(next.path)).toEqual([...Object.keys(BASE_FILES), 'second.txt'].sort());
    expect(await gitOut(next.path, 'status', '--porcelain', '--ignored', '--untracked-files=all')).toBe('');
    next.release();
  });

  it('falls back to the full reset when the index changed after the staging (a process of the task’s still at work, then killed -9)', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const dir = await stagedTask(f, true);
    // A process the task left behind changes and stages a file the task had not touched.
    const straggler = spawn('sh', ['-c', 'printf "leaked\\n" > tool.sh && git add tool.sh && echo done && exec sleep 30'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => straggler.stdout!.once('data', () => resolve()));
    expect(await kill9(straggler)).toBe('SIGKILL');
    const resetsBefore = await resets(dir);
    const next = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
    expect(await resets(dir)).toBe(resetsBefore + 1);
    await expectBase(next.path, f.base);
    next.release();
  });

  it('falls back to the full reset when a tracked file changed after the staging without touching the index (a process of the task’s that escaped its kill)', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const dir = await stagedTask(f, true);
    // A watcher the task started with setsid rewrites a tracked file the task had not touched (nor staged), after the staging.
    await writeFiles(dir, { '.gitignore': 'LEAKED from the last task\n' });
    const resetsBefore = await resets(dir);
    const next = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
    expect(await resets(dir)).toBe(resetsBefore + 1);
    await expectBase(next.path, f.base);
    next.release();
  });

  it('falls back to the full reset after a PAS holding the staged checkout was killed -9', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const input: HoldInput = { repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-009', base: f.base };
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/support/hold-checkout.ts'), JSON.stringify(input)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (d.includes('staged') ? resolve() : undefined));
      child.once('exit', () => reject(new Error(`the holder ended before it was killed:\n${out}`)));
    });
    expect(await kill9(child)).toBe('SIGKILL');
    const dir = await checkoutPath(f.repo, f.workspacesDir, 'Prog-009');
    expect(await readFile(path.join(dir, 'held.txt'), 'utf8')).toBe('held\n');
    const resetsBefore = await resets(dir);
    const next = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-009', baseCommit: f.base });
    expect(await resets(dir)).toBe(resetsBefore + 1);
    expect(await filesIn(next.path)).toEqual(Object.keys(BASE_FILES).sort());
    expect(await readFile(path.join(next.path, 'a.txt'), 'utf8')).toBe('a\n');
    expect(await gitOut(next.path, 'status', '--porcelain', '--ignored', '--untracked-files=all')).toBe('');
    next.release();
  }, 30_000);
});

const fsAllowlist: FsAllowlist = { read: ['**/*'], write: ['src/**'], deny: [] };
const cmdAllowlist: CmdAllowlist = { timeout_s: 30, commands: [{ name: 'node', program: 'node', args: ['-e'], allow_extra_args: true }] };
const programmer: ResolvedProgrammer = { id: 'Prog-001', port: 6151, parent: 'Mgr-Code-01', primary: 'ollama/m', capabilities: [], executor: 'aider', timeoutMs: 20_000, free: true };

/** A tool executor as aider is: edits its task's file on disk and leaves the verify command to PAS (run once, after the staging). */
const diskEditor: Executor = {
  kind: 'aider',
  checkout: 'required',
  async run({ task, worktree }) {
    await writeFiles(worktree, { [task.files[0]!]: 'export const v = 2;\n' });
    return { summary: 'edited', filesEdited: [task.files[0]!], provider: 'ollama', model: 'm', usedBackup: false, tokens: { input: 1, output: 1 }, costUsd: 0 };
  },
};

describe('the checkout path of a task', () => {
  it('restores only the staged paths for the next task of a checkout executor, and fully after a verify command ran in the checkout after the staging', async () => {
    const f = (fixture = await createTempRepo(Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`src/f${i}.ts`, 'export const v = 1;\n']))));
    const run = async (i: number, verify?: string[]) => {
      const task: TaskSpec = { id: `t${i}`, jobId: 'j1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: `Set v in src/f${i}.ts`, files: [`src/f${i}.ts`], baseCommit: f.base, ...(verify ? { verify } : {}) };
      const result = await runProgrammerTask({ task, programmer, repo: f.repo, workspacesDir: f.workspacesDir, executor: diskEditor, llm: {} as LlmClient, receipts: { append: () => undefined }, runId: 'run-r', fsAllowlist, cmdAllowlist });
      expect(result).toMatchObject({ status: 'completed', kpi: { files_changed: 1, lines_added: 1, lines_removed: 1 } });
    };
    const dir = await checkoutPath(f.repo, f.workspacesDir, programmer.id);
    await run(0);
    let count = await resets(dir);
    await run(1);
    expect(await resets(dir)).toBe(count);
    expect(await gitOut(dir, 'diff', '--name-only', f.base)).toBe('src/f1.ts');
    // The verify command runs after the staging and changes a tracked file nobody staged: the next task resets fully.
    await run(2, ['node', '-e', "require('fs').writeFileSync('src/f0.ts', 'export const v = 9;\\n')"]);
    count = await resets(dir);
    await run(3);
    expect(await resets(dir)).toBe(count + 1);
    expect(await gitOut(dir, 'diff', '--name-only', f.base)).toBe('src/f3.ts');
  }, 60_000);
});
