import { existsSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CmdAllowlist } from '../../../src/config/schemas.ts';
import { isPasError } from '../../../src/errors.ts';
import { runAllowedCommand } from '../../../src/executors/command-runner.ts';
import { isRunning, waitFor } from '../../support/git-fixtures.ts';
import { readPidFile } from '../../support/pidfile.ts';

const allowlist: CmdAllowlist = {
  timeout_s: 20,
  commands: [{ name: 'node-eval', program: 'node', args: ['-e'], allow_extra_args: true }],
};

/** Spawns a grandchild in the same process group, records both pids, then idles forever. */
const SPAWN_AND_HANG = `
const { spawn } = require('node:child_process');
const grandchild = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
// Written aside and renamed: a reader never sees part of it.
require('node:fs').writeFileSync(process.argv[1] + '.tmp', process.pid + ' ' + grandchild.pid);
require('node:fs').renameSync(process.argv[1] + '.tmp', process.argv[1]);
setInterval(() => {}, 1000);
`;

let dir: string;
beforeEach(async () => {
  dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'pas-cmd-')));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('runAllowedCommand', () => {
  it('runs an allowed command in the worktree and returns its exit code, stdout and stderr tail', async () => {
    const result = await runAllowedCommand({
      allowlist,
      argv: ['node', '-e', "console.log(process.cwd()); for (let i = 0; i < 60; i++) console.error('line ' + i); process.exit(3)"],
      cwd: dir,
    });
    expect(result.name).toBe('node-eval');
    expect(result.exitCode).toBe(3);
    expect(result.stdout.trim()).toBe(dir);
    expect(result.stderrTail.split('\n')).toHaveLength(40);
    expect(result.stderrTail.split('\n').at(-1)).toBe('line 59');
  });

  it('keeps secrets out of the command’s environment', async () => {
    const result = await runAllowedCommand({
      allowlist,
      argv: ['node', '-e', 'console.log(JSON.stringify(Object.keys(process.env)))'],
      cwd: dir,
      env: { PATH: process.env.PATH, OPENAI_API_KEY: 'sk-x', PAS_API_TOKEN: 'tok', HARMLESS: '1' },
    });
    const keys = JSON.parse(result.stdout) as string[];
    expect(keys).toContain('HARMLESS');
    expect(keys).not.toContain('OPENAI_API_KEY');
    expect(keys).not.toContain('PAS_API_TOKEN');
  });

  it('refuses a command outside the allowlist without running it', async () => {
    const marker = path.join(dir, 'ran');
    const err = await caught(
      runAllowedCommand({ allowlist, argv: ['node', '--eval', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], cwd: dir }),
    );
    expect(isPasError(err, 'PAS_ERR_CMD_NOT_ALLOWED')).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(marker)).toBe(false);
  });

  it('kills the command and the grandchild it spawned at the timeout, SIGKILL for the one ignoring SIGTERM', async () => {
    const pidfile = path.join(dir, 'pids');
    const started = Date.now();
    const err = await caught(runAllowedCommand({ allowlist, argv: ['node', '-e', SPAWN_AND_HANG, pidfile], cwd: dir, timeoutMs: 700, killGraceMs: 200 }));
    expect(isPasError(err, 'PAS_ERR_CMD_TIMEOUT')).toBe(true);
    expect(Date.now() - started).toBeLessThan(6_000);
    const pids = await readPidFile(pidfile, 2);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(await waitFor(async () => !(await isRunning(pid)), 3_000)).toBe(true);
  });

  it('kills the whole process tree when cancelled', async () => {
    const pidfile = path.join(dir, 'pids');
    const controller = new AbortController();
    const running = caught(runAllowedCommand({ allowlist, argv: ['node', '-e', SPAWN_AND_HANG, pidfile], cwd: dir, signal: controller.signal, killGraceMs: 200 }));
    const pids = await readPidFile(pidfile, 2);
    for (const pid of pids) expect(await isRunning(pid)).toBe(true);
    controller.abort();
    const err = await running;
    expect(isPasError(err, 'PAS_ERR_TASK_CANCELLED')).toBe(true);
    for (const pid of pids) expect(await waitFor(async () => !(await isRunning(pid)), 3_000)).toBe(true);
  });

  it('reaps a background grandchild left running when the command itself exits', async () => {
    const pidfile = path.join(dir, 'pids');
    const script = `
      const { spawn } = require('node:child_process');
      const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      g.unref();
      require('node:fs').writeFileSync(process.argv[1] + '.tmp', process.pid + ' ' + g.pid);
      require('node:fs').renameSync(process.argv[1] + '.tmp', process.argv[1]);
    `;
    const result = await runAllowedCommand({ allowlist, argv: ['node', '-e', script, pidfile], cwd: dir });
    expect(result.exitCode).toBe(0);
    const [, grandchild] = await readPidFile(pidfile, 2);
    expect(await waitFor(async () => !(await isRunning(grandchild!)), 3_000)).toBe(true);
  });
});
