/**
 * A reused checkout is restored by what changed while its last task held it (inotify watches,
 * checkout-changes.ts), in-process, with no git process on the common path, and still shows the
 * next task nothing of the last one: tracked changes, deletions, untracked and ignored files
 * (build output, a nested node_modules), nested folders and repositories, empty folders, mode
 * changes, symlinks, renamed files and folders, for the same base and for another. Whatever is not
 * known exactly falls back to the full reset: events possibly dropped, a watch that cannot be
 * made, a lock file, a submodule under a changed path, a checkout held by a PAS killed with -9.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { CmdAllowlist, FsAllowlist } from '../../../src/config/schemas.ts';
import { changedPaths, closeCheckoutWatches, onWatchFailure, setBurstLimit, setFlushTimeout, setWatchFactory } from '../../../src/executors/checkout-changes.ts';
import { setWatchBudget, watchesInUse } from '../../../src/executors/checkout-watch-budget.ts';
import { setAfterRemoveHook } from '../../../src/executors/checkout-restore.ts';
import { checkoutFor, checkoutPath, checkoutTree } from '../../../src/executors/checkouts.ts';
import { gitProcessCount, gitSpawnCount } from '../../../src/executors/git-command.ts';
import type { Executor } from '../../../src/executors/executor.ts';
import { closeObjectStores, objectStoreFor } from '../../../src/executors/object-store.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import type { LlmClient } from '../../../src/llm/types.ts';
import { createTempRepo, filesIn, gitOut, waitFor, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';
import type { HoldInput } from '../../support/hold-checkout.ts';
import { kill9 } from '../../support/pas-process.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let fixture: TempRepo | undefined;
afterEach(async () => {
  setAfterRemoveHook(null);
  setFlushTimeout(null);
  setBurstLimit(null);
  setWatchFactory(null);
  setWatchBudget(null);
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

const BASE_FILES = { '.gitignore': '*.log\nbuild/\nnode_modules/\n', 'a.txt': 'a\n', 'c.txt': 'c\n', 'd.txt': 'd\n', 'src/b.ts': 'b\n', 'src/deep/e.ts': 'e\n', 'tool.sh': '#!/bin/sh\n' };

/** Full resets of the checkout so far (each `reset --hard` adds one line to HEAD's reflog; a restore none). */
async function resets(dir: string): Promise<number> {
  return (await readFile(path.join(dir, '.git', 'logs', 'HEAD'), 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('reset: moving to')).length;
}

/** What a task may leave: every kind of change a later task must not see. */
async function leaveTraces(dir: string): Promise<void> {
  await writeFiles(dir, { 'a.txt': 'changed\n', 'untracked.txt': 'u\n', 'debug.log': 'ignored\n', 'build/out.js': 'ignored\n', 'deep/new/x.txt': 'x\n', 'src/node_modules/m/index.js': 'ignored\n' });
  await rm(path.join(dir, 'src', 'b.ts'));
  await chmod(path.join(dir, 'tool.sh'), 0o755);
  await symlink('a.txt', path.join(dir, 'sym'));
  await rm(path.join(dir, 'c.txt'));
  await symlink('/etc/hostname', path.join(dir, 'c.txt'));
  await rm(path.join(dir, 'd.txt'));
  await writeFiles(dir, { 'd.txt/inner.txt': 'a folder where a file was\n' });
  await mkdir(path.join(dir, 'empty'));
  // A base folder renamed, then written in under its new name.
  await rename(path.join(dir, 'src', 'deep'), path.join(dir, 'moved'));
  await writeFiles(dir, { 'moved/later.ts': 'l\n' });
  await mkdir(path.join(dir, 'nested'));
  await gitOut(path.join(dir, 'nested'), 'init', '--quiet');
  await writeFiles(dir, { 'nested/n.txt': 'n\n' });
  await gitOut(path.join(dir, 'nested'), 'add', '--all');
  await gitOut(path.join(dir, 'nested'), 'commit', '--quiet', '-m', 'a nested repository');
}

/** The checkout holds these files exactly: contents, modes, types, nothing else, and git sees it clean at `base`. */
async function expectBase(dir: string, base: string, files: Record<string, string> = BASE_FILES): Promise<void> {
  expect(await filesIn(dir)).toEqual(Object.keys(files).sort());
  for (const [rel, text] of Object.entries(files)) {
    expect((await lstat(path.join(dir, rel))).isFile()).toBe(true);
    expect(await readFile(path.join(dir, rel), 'utf8')).toBe(text);
  }
  expect((await stat(path.join(dir, 'tool.sh'))).mode & 0o111).toBe(0);
  expect(existsSync(path.join(dir, 'empty'))).toBe(false);
  expect(await gitOut(dir, 'status', '--porcelain', '--ignored', '--untracked-files=all')).toBe('');
  expect(await gitOut(dir, 'rev-parse', 'HEAD')).toBe(base);
}

const take = (f: TempRepo, baseCommit = f.base, programmerId = 'Prog-001') => checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId, baseCommit });

/** The base's next commit: a file added, one changed, one removed, a folder added, a folder removed. */
async function secondCommit(f: TempRepo): Promise<string> {
  await writeFiles(f.repo, { 'second.txt': 's\n', 'src/b.ts': 'b2\n', 'added/deeper/n.ts': 'n\n' });
  await rm(path.join(f.repo, 'd.txt'));
  await rm(path.join(f.repo, 'src', 'deep'), { recursive: true });
  await gitOut(f.repo, 'add', '--all');
  await gitOut(f.repo, 'commit', '--quiet', '-m', 'second');
  return gitOut(f.repo, 'rev-parse', 'HEAD');
}

describe('restoring a reused checkout by its tracked changes', () => {
  it('removes every kind of leftover in-process with no git process for the next task at the same base: changed, created, deleted, chmodded, symlinked, renamed files and folders, ignored build output, a nested node_modules, a nested repository, an empty folder', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const first = await take(f);
    await leaveTraces(first.path);
    first.release();
    const resetsBefore = await resets(first.path);
    const [processes, spawns] = [gitProcessCount(), gitSpawnCount()];
    const next = await take(f);
    expect(gitProcessCount() - processes).toBe(0);
    expect(gitSpawnCount() - spawns).toBe(0);
    expect(await resets(next.path)).toBe(resetsBefore);
    await expectBase(next.path, f.base);
    // The folder made again is watched again: a write in it is seen and gone at the next task.
    await writeFiles(next.path, { 'src/deep/again.ts': 'x\n', 'src/deep/e.ts': 'changed again\n' });
    next.release();
    const third = await take(f);
    expect(await resets(third.path)).toBe(resetsBefore);
    await expectBase(third.path, f.base);
    third.release();
  });

  it('brings the index back with one spawn after the task staged everything (git add --all), and nothing shows', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const lease = await take(f);
    await leaveTraces(lease.path);
    const store = await objectStoreFor(f.repo);
    await checkoutTree(lease.path, store, await store.commitTree(f.base));
    lease.release();
    const resetsBefore = await resets(lease.path);
    const spawns = gitSpawnCount();
    const next = await take(f);
    expect(gitSpawnCount() - spawns).toBe(1);
    expect(await resets(next.path)).toBe(resetsBefore);
    await expectBase(next.path, f.base);
    next.release();
  });

  it('needs no git process after a git status in the checkout (its index refreshed with the same files), nor after nothing at all', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const lease = await take(f);
    await writeFiles(lease.path, { 'a.txt': 'edited\n' });
    await gitOut(lease.path, 'status');
    lease.release();
    let processes = gitProcessCount();
    const next = await take(f);
    expect(gitProcessCount() - processes).toBe(0);
    await expectBase(next.path, f.base);
    next.release();
    processes = gitProcessCount();
    const idle = await take(f);
    expect(gitProcessCount() - processes).toBe(0);
    idle.release();
  });

  it('moves HEAD back and restores the files after a commit made in the checkout, without a full reset', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const lease = await take(f);
    await writeFiles(lease.path, { 'a.txt': 'committed\n', 'new.txt': 'n\n' });
    await gitOut(lease.path, 'add', '--all');
    await gitOut(lease.path, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'by the task');
    lease.release();
    const resetsBefore = await resets(lease.path);
    const next = await take(f);
    expect(await resets(next.path)).toBe(resetsBefore);
    await expectBase(next.path, f.base);
    next.release();
  });

  it('restores a checkout to another base by its changes plus the differences between the bases, without a full reset', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const second = await secondCommit(f);
    const lease = await take(f);
    await leaveTraces(lease.path);
    lease.release();
    const resetsBefore = await resets(lease.path);
    const spawns = gitSpawnCount();
    const next = await take(f, second);
    // HEAD and the index moved to the new base: one spawn.
    expect(gitSpawnCount() - spawns).toBe(1);
    expect(await resets(next.path)).toBe(resetsBefore);
    const { 'd.txt': _gone, 'src/deep/e.ts': _folderGone, ...kept } = BASE_FILES;
    const secondFiles = { ...kept, 'second.txt': 's\n', 'src/b.ts': 'b2\n', 'added/deeper/n.ts': 'n\n' };
    await expectBase(next.path, second, secondFiles);
    // The folder the new base removed is gone, not left empty.
    expect(existsSync(path.join(next.path, 'src', 'deep'))).toBe(false);
    // The folder it added is watched: a write there is heard.
    await writeFiles(next.path, { 'added/deeper/n.ts': 'changed\n', 'added/deeper/x.ts': 'x\n' });
    expect((await changedPaths(next.path))?.sort()).toEqual(['added/deeper/n.ts', 'added/deeper/x.ts']);
    next.release();
    // And back.
    const back = await take(f);
    await expectBase(back.path, f.base);
    back.release();
  });

  it('hears a write made right before the task ends, every time', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const lease = await take(f);
    for (let i = 0; i < 200; i++) {
      writeFileSync(path.join(lease.path, i % 2 === 0 ? `late-${i}.txt` : 'src/deep/e.ts'), `${i}\n`);
      expect(await changedPaths(lease.path)).toContain(i % 2 === 0 ? `late-${i}.txt` : 'src/deep/e.ts');
    }
    lease.release();
    const next = await take(f);
    await expectBase(next.path, f.base);
    next.release();
  });

  it('lets nothing a process of the last task keeps writing (setsid) reach a later task unseen', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const lease = await take(f);
    const writer = spawn('setsid', ['sh', '-c', 'i=0; while [ $i -lt 400 ]; do echo $i > late.txt; echo $i >> a.txt; i=$((i+1)); sleep 0.005; done'], { cwd: lease.path, stdio: 'ignore' });
    const ended = new Promise((resolve) => writer.once('exit', resolve));
    await waitFor(() => existsSync(path.join(lease.path, 'late.txt')));
    lease.release();
    // Restored while it still writes: what it writes then is restored by a full reset or heard for the next restore.
    const during = await take(f);
    during.release();
    await ended;
    const after = await take(f);
    await expectBase(after.path, f.base);
    after.release();
  });

  it('falls back to the full reset when a process of the last task recreates a removed file or writes into a folder made whole between the restore’s removals and its flush', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const lates: Array<Record<string, string>> = [{ 'late.txt': 'again\n' }, { 'build/out.js': 'again\n' }, { 'src/deep/extra.ts': 'again\n' }];
    for (const late of lates) {
      const lease = await take(f);
      await writeFiles(lease.path, { 'late.txt': 'first\n', 'build/out.js': 'first\n' });
      await rm(path.join(lease.path, 'src', 'deep'), { recursive: true });
      lease.release();
      setAfterRemoveHook((dir) => writeFiles(dir, late));
      const resetsBefore = await resets(lease.path);
      const next = await take(f);
      setAfterRemoveHook(null);
      expect(await resets(next.path)).toBe(resetsBefore + 1);
      await expectBase(next.path, f.base);
      next.release();
    }
  });

  it('leaves the next task no merge, rebase or bisect in progress that a task left unfinished in the checkout', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const second = await secondCommit(f);
    const unfinished: Array<[string, (dir: string) => Promise<unknown>]> = [
      ['merge', (dir) => gitOut(dir, 'merge', '--no-commit', '--no-ff', second)],
      ['rebase', (dir) => gitOut(dir, 'rebase', '--exec', 'false', f.base, '--onto', f.base).catch(() => undefined)],
      ['bisect', (dir) => gitOut(dir, 'bisect', 'start', second, f.base)],
    ];
    for (const [what, leave] of unfinished) {
      const base = what === 'rebase' ? second : f.base;
      const lease = await take(f, base);
      await leave(lease.path);
      lease.release();
      const next = await take(f, base);
      const status = await gitOut(next.path, 'status');
      expect(status, what).not.toMatch(/merging|rebase in progress|bisecting|interactive rebase/i);
      const { 'd.txt': _gone, 'src/deep/e.ts': _folderGone, ...kept } = BASE_FILES;
      await expectBase(next.path, base, base === second ? { ...kept, 'second.txt': 's\n', 'src/b.ts': 'b2\n', 'added/deeper/n.ts': 'n\n' } : BASE_FILES);
      next.release();
    }
  });

  it('leaves the next task no index entry a task marked assume-unchanged or skip-worktree (git keeps them over a reset)', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    for (const flag of ['--assume-unchanged', '--skip-worktree']) {
      const lease = await take(f);
      await gitOut(lease.path, 'update-index', flag, 'a.txt');
      await writeFiles(lease.path, { 'a.txt': 'hidden from git\n' });
      lease.release();
      const next = await take(f);
      expect(await gitOut(next.path, 'ls-files', '-v', 'a.txt'), flag).toBe('H a.txt');
      await expectBase(next.path, f.base);
      next.release();
      // And the full reset does not keep them either.
      const again = await take(f);
      await gitOut(again.path, 'update-index', flag, 'a.txt');
      setBurstLimit(1);
      await writeFiles(again.path, { 'a.txt': 'x\n' });
      expect(await changedPaths(again.path)).toBeNull();
      setBurstLimit(null);
      again.release();
      const resetsBefore = await resets(again.path);
      const afterReset = await take(f);
      expect(await resets(afterReset.path)).toBe(resetsBefore + 1);
      expect(await gitOut(afterReset.path, 'ls-files', '-v', 'a.txt'), flag).toBe('H a.txt');
      await expectBase(afterReset.path, f.base);
      afterReset.release();
    }
  });

  it('gives the next task the checkout’s git config and excludes as PAS made them: a core.fsmonitor a task set never runs, neither in the restore nor in the next task’s git status, nor after a full reset', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const marker = path.join(f.workspacesDir, 'fsmonitor-ran');
    await mkdir(f.workspacesDir, { recursive: true });
    const hook = path.join(f.workspacesDir, 'fsmonitor.sh');
    await writeFile(hook, `#!/bin/sh\ntouch '${marker}'\nexit 1\n`, { mode: 0o755 });
    for (const fullReset of [false, true]) {
      const lease = await take(f);
      await gitOut(lease.path, 'config', 'core.fsmonitor', hook);
      await gitOut(lease.path, 'config', 'alias.st', 'status');
      await writeFiles(lease.path, { '.git/info/exclude': 'secret.txt\n', 'a.txt': 'changed\n' });
      // The hook runs while the task holds the checkout (its own git).
      await gitOut(lease.path, 'status');
      expect(existsSync(marker)).toBe(true);
      await rm(marker);
      if (fullReset) {
        setBurstLimit(1);
        await writeFiles(lease.path, { 'c.txt': 'x\n' });
        expect(await changedPaths(lease.path)).toBeNull();
        setBurstLimit(null);
      }
      lease.release();
      const resetsBefore = await resets(lease.path);
      const next = await take(f);
      expect(await resets(next.path), `full reset: ${fullReset}`).toBe(resetsBefore + (fullReset ? 1 : 0));
      await gitOut(next.path, 'status');
      expect(existsSync(marker), `full reset: ${fullReset}`).toBe(false);
      await expect(gitOut(next.path, 'config', 'core.fsmonitor')).rejects.toThrow();
      await expect(gitOut(next.path, 'config', 'alias.st')).rejects.toThrow();
      await writeFiles(next.path, { 'secret.txt': 's\n' });
      expect(await gitOut(next.path, 'status', '--porcelain')).toBe('?? secret.txt');
      await rm(path.join(next.path, 'secret.txt'));
      await expectBase(next.path, f.base);
      next.release();
    }
  });

  it('takes a flush cookie that came back by the time its timeout fired (the loop was busy) as heard, not as a lost watch', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const lease = await take(f);
    await writeFiles(lease.path, { 'a.txt': 'changed\n' });
    // The cookie touched (synchronously), then the loop held past the timeout: the timer and the
    // cookie's event are both due at the next turn, the timer first.
    setFlushTimeout(1, () => {
      const until = performance.now() + 30;
      while (performance.now() < until);
    });
    expect(await changedPaths(lease.path)).toEqual(['a.txt']);
    setFlushTimeout(null);
    lease.release();
  });

  it('falls back to the full reset when events may have been dropped (a burst over the limit), then tracks again', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const lease = await take(f);
    setBurstLimit(10);
    // Written at once: their events come in one burst (one read of the inotify queue).
    for (let i = 0; i < 20; i++) writeFileSync(path.join(lease.path, `burst-${i}.txt`), 'x\n');
    expect(await changedPaths(lease.path)).toBeNull();
    lease.release();
    setBurstLimit(null);
    const resetsBefore = await resets(lease.path);
    const next = await take(f);
    expect(await resets(next.path)).toBe(resetsBefore + 1);
    await expectBase(next.path, f.base);
    await writeFiles(next.path, { 'a.txt': 'tracked again\n' });
    expect(await changedPaths(next.path)).toEqual(['a.txt']);
    next.release();
  });

  it('falls back to the full reset for a checkout whose watch cannot be made (ENOSPC), says so once naming the limit, and the other checkouts keep restoring in-process', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const bad = await checkoutPath(f.repo, f.workspacesDir, 'Prog-002');
    const warnings: string[] = [];
    onWatchFailure((m) => warnings.push(m));
    const { watch } = await import('node:fs');
    setWatchFactory((file, listener) => {
      if (file.startsWith(bad)) throw Object.assign(new Error(`ENOSPC: System limit for number of file watchers reached, watch '${file}'`), { code: 'ENOSPC' });
      return watch(file, { persistent: false, encoding: 'buffer' }, listener);
    });
    for (let round = 0; round < 2; round++) {
      for (const id of ['Prog-001', 'Prog-002']) {
        const lease = await take(f, f.base, id);
        await leaveTraces(lease.path);
        lease.release();
      }
    }
    const good = await take(f, f.base, 'Prog-001');
    const badBefore = await resets(bad);
    const worse = await take(f, f.base, 'Prog-002');
    expect(await resets(worse.path)).toBe(badBefore + 1);
    expect(await resets(good.path)).toBe(1);
    await expectBase(good.path, f.base);
    await expectBase(worse.path, f.base);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/max_user_watches/);
    good.release();
    worse.release();
  });

  it('watches no checkout past the watch budget: the one that does not fit gets the full reset every task and is still exactly its base, said once (PAS_CHECKOUT_WATCH_BUDGET); closing the watches gives the budget back', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const warnings: Array<{ message: string; code: string }> = [];
    onWatchFailure((message, code) => warnings.push({ message, code }));
    // A checkout of this base takes 4 watches (its root, `.git`, src, src/deep): room for one.
    setWatchBudget(6);
    const [first, second] = await Promise.all([checkoutPath(f.repo, f.workspacesDir, 'Prog-001'), checkoutPath(f.repo, f.workspacesDir, 'Prog-002')]);
    /** Tasks of these programmers in turn, each finding its checkout exactly the base and leaving traces. */
    const tasks = async (ids: string[]) => {
      for (const id of ids) {
        const lease = await take(f, f.base, id);
        await expectBase(lease.path, f.base);
        await leaveTraces(lease.path);
        lease.release();
      }
    };
    await tasks(['Prog-001', 'Prog-002', 'Prog-001', 'Prog-002', 'Prog-001', 'Prog-002']);
    // The first checkout was reset once (made), then restored in-process; the second reset every time.
    expect(await resets(first)).toBe(1);
    expect(await resets(second)).toBe(3);
    expect(watchesInUse()).toBe(4);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.code).toBe('PAS_CHECKOUT_WATCH_BUDGET');
    expect(warnings[0]!.message).toContain('checkouts.max_watches');
    expect(warnings[0]!.message).toContain(second);
    closeCheckoutWatches();
    expect(watchesInUse()).toBe(0);
    // Given back: the second checkout, reset first now, is the one watched (restored in-process next time).
    await tasks(['Prog-002', 'Prog-001', 'Prog-002']);
    expect(await resets(second)).toBe(4);
    expect(await resets(first)).toBe(2);
    expect(watchesInUse()).toBe(4);
    // A checkout that becomes unknown (events possibly dropped) gives its watches back at once.
    const held = await take(f, f.base, 'Prog-002');
    setBurstLimit(1);
    await writeFiles(held.path, { 'a.txt': 'lost\n' });
    expect(await changedPaths(held.path)).toBeNull();
    expect(watchesInUse()).toBe(0);
    held.release();
  });

  it('falls back to the full reset when a lock file is left in the checkout', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    const lease = await take(f);
    await writeFiles(lease.path, { 'a.txt': 'x\n' });
    await writeFile(path.join(lease.path, '.git', 'index.lock'), '');
    lease.release();
    const resetsBefore = await resets(lease.path);
    const next = await take(f);
    expect(await resets(next.path)).toBe(resetsBefore + 1);
    await expectBase(next.path, f.base);
    next.release();
  }, 20_000);

  it('falls back to the full reset when a task wrote into a submodule’s folder (which the full reset, as before, does not empty)', async () => {
    const f = (fixture = await createTempRepo(BASE_FILES));
    await gitOut(f.repo, 'update-index', '--add', '--cacheinfo', `160000,${f.base},sub`);
    await gitOut(f.repo, 'commit', '--quiet', '-m', 'a submodule');
    const withSub = await gitOut(f.repo, 'rev-parse', 'HEAD');
    const lease = await take(f, withSub);
    await writeFiles(lease.path, { 'sub/inside.txt': 'x\n' });
    lease.release();
    const resetsBefore = await resets(lease.path);
    const next = await take(f, withSub);
    expect(await resets(next.path)).toBe(resetsBefore + 1);
    expect(await gitOut(next.path, 'status', '--porcelain')).toBe('');
    next.release();
  });

  it('checks files out through git’s own filters (.gitattributes eol) when it restores', async () => {
    const f = (fixture = await createTempRepo({ '.gitattributes': '*.txt text eol=crlf\n', 'a.txt': 'one\ntwo\n' }));
    const lease = await take(f);
    expect(await readFile(path.join(lease.path, 'a.txt'), 'utf8')).toBe('one\r\ntwo\r\n');
    await writeFiles(lease.path, { 'a.txt': 'one\r\nthree\r\n' });
    lease.release();
    const resetsBefore = await resets(lease.path);
    const next = await take(f);
    expect(await resets(next.path)).toBe(resetsBefore);
    expect(await readFile(path.join(next.path, 'a.txt'), 'utf8')).toBe('one\r\ntwo\r\n');
    expect(await gitOut(next.path, 'status', '--porcelain', '--ignored')).toBe('');
    next.release();
  });

  it('checks files out through git also when an attributes file outside the tree ($XDG_CONFIG_HOME/git/attributes) converts them', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'one\ntwo\n' }));
    const xdg = path.join(f.workspacesDir, 'xdg');
    await writeFiles(xdg, { 'git/attributes': '*.txt text eol=crlf\n' });
    const saved = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = xdg;
    try {
      const lease = await take(f);
      await writeFiles(lease.path, { 'a.txt': 'changed\n' });
      lease.release();
      const next = await take(f);
      expect(await readFile(path.join(next.path, 'a.txt'), 'utf8')).toBe('one\r\ntwo\r\n');
      expect(await gitOut(next.path, 'status', '--porcelain', '--ignored')).toBe('');
      next.release();
    } finally {
      if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved;
    }
  });

  it('falls back to the full reset after a PAS holding the checkout was killed -9 (a new process knows nothing of it)', async () => {
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
  it('restores by the changed paths alone for every next task of a checkout executor, also after a verify command wrote in the checkout', async () => {
    const f = (fixture = await createTempRepo(Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`src/f${i}.ts`, 'export const v = 1;\n']))));
    const run = async (i: number, verify?: string[]) => {
      const task: TaskSpec = { id: `t${i}`, jobId: 'j1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: `Set v in src/f${i}.ts`, files: [`src/f${i}.ts`], baseCommit: f.base, ...(verify ? { verify } : {}) };
      const result = await runProgrammerTask({ task, programmer, repo: f.repo, workspacesDir: f.workspacesDir, executor: diskEditor, llm: {} as LlmClient, receipts: { append: () => undefined }, runId: 'run-r', fsAllowlist, cmdAllowlist });
      expect(result).toMatchObject({ status: 'completed', kpi: { files_changed: 1, lines_added: 1, lines_removed: 1 } });
    };
    const dir = await checkoutPath(f.repo, f.workspacesDir, programmer.id);
    await run(0);
    const count = await resets(dir);
    await run(1);
    expect(await resets(dir)).toBe(count);
    expect(await gitOut(dir, 'diff', '--name-only', f.base)).toBe('src/f1.ts');
    // The verify command runs after the staging and changes a tracked file nobody staged: heard, and restored.
    await run(2, ['node', '-e', "require('fs').writeFileSync('src/f0.ts', 'export const v = 9;\\n')"]);
    await run(3);
    expect(await resets(dir)).toBe(count);
    expect(await gitOut(dir, 'diff', '--name-only', f.base)).toBe('src/f3.ts');
  }, 60_000);
});
