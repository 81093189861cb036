/**
 * PAS's own git in a reused checkout after a task runs under the checkout's git files as PAS made
 * them, never under what the task left in `.git` (checkout-git-files.ts): a `core.fsmonitor` the
 * task set is never run by PAS's staging (in-process or `git add --all`), its verify command or
 * an agent CLI executor's `git status`, an `info/exclude` line does not keep the task's new file
 * out of its commit, and an `info/attributes` it wrote, or a change to PAS's kept copy of the
 * config, does not stay for the next task.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { appendFile, chmod, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { CmdAllowlist } from '../../../src/config/schemas.ts';
import { checkChanges } from '../../../src/executors/agent-cli/agent-cli-executor.ts';
import { setWatchBudget } from '../../../src/executors/checkout-watch-budget.ts';
import { checkoutFor } from '../../../src/executors/checkouts.ts';
import type { Executor } from '../../../src/executors/executor.ts';
import { FsGuard } from '../../../src/executors/fs-guard.ts';
import { closeObjectStores } from '../../../src/executors/object-store.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import type { LlmClient } from '../../../src/llm/types.ts';
import { createTempRepo, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  setWatchBudget(null);
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => closeObjectStores());

async function repo(): Promise<TempRepo> {
  const f = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n', 'README.md': 'r\n' });
  cleanups.push(() => f.cleanup());
  return f;
}

/** A program that writes `marker` whenever it runs (as git's fsmonitor hook, it also says "no answer"). */
async function markerHook(): Promise<{ hook: string; marker: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pas-fsmonitor-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const hook = path.join(dir, 'hook.sh');
  const marker = path.join(dir, 'ran');
  await writeFile(hook, `#!/bin/sh\necho "$@" >> '${marker}'\nexit 1\n`);
  await chmod(hook, 0o755);
  return { hook, marker };
}

/** What a task may do to its checkout's own git files: a fsmonitor, a hooks folder, an exclude of its new file, attributes. */
async function tamper(worktree: string, hook: string): Promise<void> {
  await writeFiles(worktree, { 'src/secret.ts': 'export const s = 1;\n', 'src/a.ts': 'export const a = 2;\n' });
  await gitOut(worktree, 'config', 'core.fsmonitor', hook);
  await gitOut(worktree, 'config', 'core.hooksPath', path.dirname(hook));
  await appendFile(path.join(worktree, '.git', 'info', 'exclude'), 'src/secret.ts\n');
  await writeFile(path.join(worktree, '.git', 'info', 'attributes'), '*.ts text eol=crlf\n');
  // PAS's own kept copy too: this process restores what it kept, not what is there now.
  await appendFile(path.join(worktree, '.git', 'pas-kept-config'), `[core]\n\tfsmonitor = ${hook}\n`);
}

const programmer: ResolvedProgrammer = { id: 'Prog-001', port: 6151, parent: 'Mgr-Code-01', primary: 'ollama/m', capabilities: [], executor: 'aider', timeoutMs: 20_000, free: true };
const cmdAllowlist: CmdAllowlist = { timeout_s: 30, commands: [{ name: 'git', program: 'git', args: ['status'], allow_extra_args: true }] };

function tamperingExecutor(hook: string): Executor {
  return {
    kind: 'aider',
    checkout: 'required',
    async run({ worktree }) {
      await tamper(worktree, hook);
      return { summary: 'edited', filesEdited: ['src/a.ts', 'src/secret.ts'], provider: 'ollama', model: 'm', usedBackup: false, tokens: { input: 1, output: 1 }, costUsd: 0 };
    },
  };
}

async function runTask(f: TempRepo, executor: Executor, id: string, verify?: string[]) {
  const task: TaskSpec = { id, jobId: 'j1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: 'Add src/secret.ts', files: ['src/a.ts'], baseCommit: f.base, ...(verify ? { verify } : {}) };
  return runProgrammerTask({ task, programmer, repo: f.repo, workspacesDir: f.workspacesDir, executor, llm: {} as LlmClient, receipts: { append: () => undefined }, runId: 'run-g', cmdAllowlist });
}

describe('PAS’s git in a reused checkout after the task', () => {
  for (const [name, budget] of [
    ['staged in-process from the watched changes', null],
    ['staged by git add --all (a checkout that is not watched)', 0],
  ] as const) {
    it(`never runs the fsmonitor the task set and commits the file it excluded: ${name}`, async () => {
      const f = await repo();
      setWatchBudget(budget);
      const { hook, marker } = await markerHook();
      const result = await runTask(f, tamperingExecutor(hook), 't1');
      expect(result.status).toBe('completed');
      expect(await gitOut(f.repo, 'diff', '--name-only', f.base, result.commit!)).toBe('src/a.ts\nsrc/secret.ts');
      // Staged as the bytes on disk: the task's info/attributes (eol=crlf) did not apply.
      expect(await gitOut(f.repo, 'show', `${result.commit!}:src/secret.ts`)).toBe('export const s = 1;');
      expect(existsSync(marker)).toBe(false);
      // The next task gets the checkout's files as PAS made them.
      const next = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: programmer.id, baseCommit: f.base });
      expect(await gitOut(next.path, 'config', '--get-all', 'core.fsmonitor').catch(() => '')).toBe('');
      expect(await gitOut(next.path, 'config', 'core.hooksPath')).toBe('/dev/null');
      expect(await readFile(path.join(next.path, '.git', 'info', 'exclude'), 'utf8')).not.toContain('secret');
      expect(existsSync(path.join(next.path, '.git', 'info', 'attributes'))).toBe(false);
      next.release();
      expect(existsSync(marker)).toBe(false);
    });
  }

  it('runs a git verify command under the checkout’s own config, not the fsmonitor the task set', async () => {
    const f = await repo();
    const { hook, marker } = await markerHook();
    const result = await runTask(f, tamperingExecutor(hook), 't2', ['git', 'status', '--porcelain']);
    expect(result.status).toBe('completed');
    expect(existsSync(marker)).toBe(false);
  });

  it('lists an agent CLI’s changes without running its fsmonitor, its excluded file included', async () => {
    const f = await repo();
    const { hook, marker } = await markerHook();
    const lease = await checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: programmer.id, baseCommit: f.base });
    await tamper(lease.path, hook);
    const changed = await checkChanges(lease.path, new FsGuard(lease.path, { read: ['**'], write: ['**'], deny: [] }), []);
    expect(changed).toEqual(['src/a.ts', 'src/secret.ts']);
    expect(existsSync(marker)).toBe(false);
    lease.release();
  });
});
