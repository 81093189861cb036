/**
 * A reused checkout's git files are put back as PAS makes them whatever a task left in `.git`
 * (checkout-git-files.ts): also in a PAS process started after the task's (a restart), which never
 * trusts a copy in the checkout; a fifo or a symlink in their place is replaced without being read
 * or followed; a symlinked `.git/info` is never written through; a linked worktree (`.git` a file)
 * is left as it is.
 */
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { appendFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { restoreGitFiles } from '../../../src/executors/checkout-git-files.ts';
import { checkoutFor } from '../../../src/executors/checkouts.ts';
import { closeObjectStores } from '../../../src/executors/object-store.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => closeObjectStores());

async function checkout(): Promise<{ f: TempRepo; dir: string }> {
  const f = await createTempRepo({ 'a.txt': 'a\n' });
  cleanups.push(() => f.cleanup());
  const lease = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });
  lease.release();
  return { f, dir: lease.path };
}

/** What `git config --get` gives in `dir` ('' when unset). */
async function configValue(dir: string, key: string): Promise<string> {
  return gitOut(dir, 'config', '--get', key).catch(() => '');
}

/** Calls restoreGitFiles(dir) in a new node process (as a PAS started after the task's would). */
async function restoreInFreshProcess(dir: string): Promise<void> {
  const script = `import { restoreGitFiles } from ${JSON.stringify(path.join(ROOT, 'src/executors/checkout-git-files.ts'))}; await restoreGitFiles(${JSON.stringify(dir)});`;
  await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, timeout: 60_000 });
}

describe("a reused checkout's git files", () => {
  it('are put back as PAS makes them by a process started after the task, even when the task changed every copy it could find', async () => {
    const { dir } = await checkout();
    const made = await readFile(path.join(dir, '.git', 'config'));
    const git = path.join(dir, '.git');
    await gitOut(dir, 'config', 'core.fsmonitor', '/tmp/evil-hook');
    await appendFile(path.join(git, 'info', 'exclude'), 'secret.txt\n');
    // Copies an earlier PAS kept in the checkout are the task's to write too.
    for (const name of ['pas-kept-config', 'pas-kept-exclude']) await writeFile(path.join(git, name), '[core]\n\tfsmonitor = /tmp/evil-hook\n');
    await restoreInFreshProcess(dir);
    expect(await configValue(dir, 'core.fsmonitor')).toBe('');
    expect(await configValue(dir, 'core.hooksPath')).toBe('/dev/null');
    expect(await readFile(path.join(git, 'config'))).toEqual(made);
    expect(await readFile(path.join(git, 'info', 'exclude'), 'utf8')).not.toContain('secret.txt');
  }, 60_000);

  it('are replaced without being read when a task made them a fifo or a link to a device', async () => {
    const { dir } = await checkout();
    const git = path.join(dir, '.git');
    const made = await readFile(path.join(git, 'config'));
    await rm(path.join(git, 'config'));
    await run('mkfifo', [path.join(git, 'config')]);
    await rm(path.join(git, 'info', 'exclude'));
    await symlink('/dev/zero', path.join(git, 'info', 'exclude'));
    // A read of either would never end (a fifo with no writer) or fill the memory (/dev/zero).
    await restoreGitFiles(dir);
    expect(lstatSync(path.join(git, 'config')).isFile()).toBe(true);
    expect(await readFile(path.join(git, 'config'))).toEqual(made);
    expect(lstatSync(path.join(git, 'info', 'exclude')).isFile()).toBe(true);
  }, 60_000);

  it('are never written through a .git/info a task made a symlink to a folder outside', async () => {
    const { dir } = await checkout();
    const outside = mkdtempSync(path.join(os.tmpdir(), 'pas-outside-'));
    cleanups.push(() => rmSync(outside, { recursive: true, force: true }));
    await writeFile(path.join(outside, 'attributes'), 'kept outside\n');
    await rm(path.join(dir, '.git', 'info'), { recursive: true, force: true });
    await symlink(outside, path.join(dir, '.git', 'info'));
    await restoreGitFiles(dir);
    expect(await readFile(path.join(outside, 'attributes'), 'utf8')).toBe('kept outside\n');
    expect(existsSync(path.join(outside, 'exclude'))).toBe(false);
    expect(lstatSync(path.join(dir, '.git', 'info')).isDirectory()).toBe(true);
    expect(existsSync(path.join(dir, '.git', 'info', 'exclude'))).toBe(true);
  }, 60_000);

  it('of a linked worktree (.git a file) are left as they are, without an error', async () => {
    const { f } = await checkout();
    const linked = path.join(f.workspacesDir, 'linked');
    await mkdir(f.workspacesDir, { recursive: true });
    await gitOut(f.repo, 'worktree', 'add', '--detach', linked, f.base);
    const config = await readFile(path.join(f.repo, '.git', 'config'));
    await expect(restoreGitFiles(linked)).resolves.toBeUndefined();
    expect(lstatSync(path.join(linked, '.git')).isFile()).toBe(true);
    expect(await readFile(path.join(f.repo, '.git', 'config'))).toEqual(config);
  }, 60_000);
});
