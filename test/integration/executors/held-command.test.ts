/**
 * A command started held (forked while its task waits for the model, run on its go) behaves as
 * one started at its run: same answers and errors, its arguments as given, nothing of it runs
 * before the go, its timeout counts from the run, and an unrun one ends with its task or its
 * runtime. Through the spawner and directly alike. Real processes, no timing assertions.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CmdAllowlist } from '../../../src/config/schemas.ts';
import { prepareAllowedCommand, runAllowedCommand, type CommandResult, type PreparedCommand } from '../../../src/executors/command-runner.ts';
import { spawnerPids, spawnerStats, stopSpawner, useSpawner } from '../../../src/executors/spawner.ts';
import { isRunning, waitFor } from '../../support/git-fixtures.ts';
import { failure } from '../../support/pas-failure.ts';

const allowlist: CmdAllowlist = {
  timeout_s: 20,
  commands: [
    { name: 'node-eval', program: 'node', args: ['-e'], allow_extra_args: true },
    { name: 'missing', program: 'pas-no-such-program', args: [], allow_extra_args: true },
    { name: 'vanishing', program: 'pas-vanishing', args: [], allow_extra_args: false },
    { name: 'dash', program: '-a', args: [], allow_extra_args: true },
    { name: 'touch', program: 'touch', args: [], allow_extra_args: true },
  ],
};

/** Records that it ran (a file named by its first argument), then prints what it was given and where. */
const REPORT = `
const fs = require('node:fs');
fs.writeFileSync(process.argv[1], 'ran');
const stdin = fs.fstatSync(0);
console.log(JSON.stringify({ args: process.argv.slice(2), cwd: process.cwd(), pwd: process.env.PWD, secret: process.env.HELD_TEST_API_KEY ?? null, ci: process.env.CI, stdin: stdin.isCharacterDevice() ? 'device' : stdin.isFIFO() ? 'pipe' : 'other' }));
console.error('to stderr');
process.exit(3);
`;

let dir: string;
beforeEach(async () => {
  dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'pas-hc-')));
  process.env.HELD_TEST_API_KEY = 'held-secret-value-123';
});
afterEach(async () => {
  delete process.env.HELD_TEST_API_KEY;
  useSpawner(true);
  await rm(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await stopSpawner();
});

function prepared(argv: string[], extra: { timeoutMs?: number } = {}): PreparedCommand {
  const held = prepareAllowedCommand({ allowlist, argv, cwd: dir, ...extra });
  if (!held) throw new Error('expected the command to be held');
  return held;
}

/** The pid of the held shell (`/bin/sh -c SCRIPT pas-held PROGRAM ARGS…`) whose arguments include `marker`, if one runs. */
function heldShell(marker: string): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[0] === '/bin/sh' && argv[3] === 'pas-held' && argv.includes(marker)) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

async function heldShellPid(marker: string): Promise<number> {
  if (!(await waitFor(() => heldShell(marker) !== undefined, 10_000))) throw new Error(`no held shell waits with ${marker}`);
  return heldShell(marker)!;
}

const comparable = (result: CommandResult) => ({ ...result, durationMs: 0 });

describe.each([
  ['through the spawner', true],
  ['spawned directly', false],
])('a held command, %s', (_how, viaSpawner) => {
  beforeEach(() => useSpawner(viaSpawner));

  it('runs nothing before its go, then answers exactly as a command started at its run', async () => {
    const marker = path.join(dir, 'held-ran');
    // Arguments a shell would expand, split or run: they must arrive as given.
    const args = ['$(touch hacked)', 'a b', '"q"', "'s'", '*', ';', '`id`', '', '$HOME'];
    const held = prepared(['node', '-e', REPORT, marker, ...args]);
    const shell = await heldShellPid(marker);
    // Time enough for a program let run by mistake to leave its mark.
    await new Promise((r) => setTimeout(r, 300));
    expect(await isRunning(shell)).toBe(true);
    expect(existsSync(marker)).toBe(false);

    const ran = await held.run();
    const fresh = await runAllowedCommand({ allowlist, argv: ['node', '-e', REPORT, marker, ...args], cwd: dir });
    expect(comparable(ran)).toEqual(comparable(fresh));
    expect(ran.exitCode).toBe(3);
    expect(ran.stderrTail).toBe('to stderr');
    // stdin is /dev/null, as for a command started at its run (not the pipe its go came on).
    expect(JSON.parse(ran.stdout)).toEqual({ args, cwd: dir, pwd: dir, secret: null, ci: '1', stdin: 'device' });
    expect(existsSync(path.join(dir, 'hacked'))).toBe(false);
    // The shell became the program (same pid) and is gone with it.
    expect(await waitFor(async () => !(await isRunning(shell)), 10_000)).toBe(true);
  });

  it('never runs once cancelled, and its shell is gone', async () => {
    const marker = path.join(dir, 'cancelled-ran');
    const held = prepared(['node', '-e', REPORT, marker]);
    const shell = await heldShellPid(marker);
    held.cancel();
    expect(await waitFor(async () => !(await isRunning(shell)), 10_000)).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });

  it('counts its timeout from its run, not from its start, and kills it at that timeout', async () => {
    const marker = path.join(dir, 'touched');
    const quick = prepared(['touch', marker], { timeoutMs: 3_000 });
    await heldShellPid(marker);
    // Held past its timeout: still runs whole.
    await new Promise((r) => setTimeout(r, 3_500));
    expect((await quick.run()).exitCode).toBe(0);
    expect(existsSync(marker)).toBe(true);

    const hang = prepared(['node', '-e', 'setInterval(() => {}, 1000)', 'hang-marker'], { timeoutMs: 1_000 });
    await heldShellPid('hang-marker');
    const err = await failure(hang.run());
    expect(err.code).toBe('PAS_ERR_CMD_TIMEOUT');
  });

  it('is cancelled with its task while it runs, its tree killed', async () => {
    const held = prepared(['node', '-e', 'require("node:fs").writeFileSync(process.argv[1], String(process.pid)); setInterval(() => {}, 1000)', path.join(dir, 'pid')]);
    await heldShellPid(path.join(dir, 'pid'));
    const controller = new AbortController();
    const running = held.run(controller.signal);
    await waitFor(() => existsSync(path.join(dir, 'pid')), 10_000);
    const pid = Number(await readFile(path.join(dir, 'pid'), 'utf8'));
    controller.abort();
    const err = await failure(running);
    expect(err.code).toBe('PAS_ERR_TASK_CANCELLED');
    expect(await waitFor(async () => !(await isRunning(pid)), 10_000)).toBe(true);
  });

  it('is not held when its program is not on PATH, is not allowed, or looks like an option, and its run says the program is missing, as before', async () => {
    expect(prepareAllowedCommand({ allowlist, argv: ['pas-no-such-program'], cwd: dir })).toBeUndefined();
    expect(prepareAllowedCommand({ allowlist, argv: ['rm', '-rf', '/'], cwd: dir })).toBeUndefined();
    // A program named `-a`, on PATH: bash's `exec -a NAME PROGRAM` would run another program. Not held; run as itself.
    await mkdir(path.join(dir, 'bin'));
    await writeFile(path.join(dir, 'bin', '-a'), '#!/bin/sh\necho "dash-a ran with $*"\n');
    await chmod(path.join(dir, 'bin', '-a'), 0o755);
    const env = { ...process.env, PATH: `bin:${process.env.PATH ?? ''}` };
    expect(prepareAllowedCommand({ allowlist, argv: ['-a', 'x', 'node'], cwd: dir, env })).toBeUndefined();
    expect((await runAllowedCommand({ allowlist, argv: ['-a', 'x', 'node'], cwd: dir, env })).stdout).toBe('dash-a ran with x node\n');
    const err = await failure(runAllowedCommand({ allowlist, argv: ['pas-no-such-program'], cwd: dir }));
    expect(err.code).toBe('PAS_ERR_CMD_FAILED');
  });
});

describe('a held command whose program is gone at its run', () => {
  it('says the program is missing (PAS_ERR_CMD_FAILED), as an unheld start does, and finds one on a relative PATH entry from its folder', async () => {
    const bin = path.join(dir, 'bin');
    await mkdir(bin);
    const program = path.join(bin, 'pas-vanishing');
    await writeFile(program, '#!/bin/sh\necho ran\n');
    await chmod(program, 0o755);
    // `bin` relative to the command's folder, as the child searches it.
    const env = { ...process.env, PATH: `bin:${process.env.PATH ?? ''}` };
    const held = prepareAllowedCommand({ allowlist, argv: ['pas-vanishing'], cwd: dir, env });
    expect(held).toBeDefined();
    await rm(program);
    const err = await failure(held!.run());
    expect(err.code).toBe('PAS_ERR_CMD_FAILED');
    expect(err.message).toContain('not installed or not on PATH');
  });
});

describe('a held command and its spawner', () => {
  it('is started anew at its run when the spawner holding it died meanwhile', async () => {
    useSpawner(true);
    const marker = path.join(dir, 'after-death');
    const before = spawnerStats();
    const held = prepared(['node', '-e', REPORT, marker]);
    await heldShellPid(marker);
    // Its pid reaches this process a message after the shell is there.
    expect(await waitFor(() => spawnerStats().held === before.held + 1, 10_000)).toBe(true);
    for (const pid of spawnerPids()) process.kill(pid, 'SIGKILL');
    // The spawner's death ends the shell it held (its stdin closes): the run starts the command anew.
    await waitFor(async () => spawnerPids().length === 0, 10_000);
    const ran = await held.run();
    expect(ran.exitCode).toBe(3);
    expect(existsSync(marker)).toBe(true);
  });

  it.each([
    ['through the spawner', ''],
    ['spawned directly', 'off'],
  ])('leaves no held shell behind when the runtime holding it is killed with SIGKILL (%s)', async (_how, spawner) => {
    const marker = path.join(dir, `orphan-${spawner || 'spawner'}`);
    const script = `
      import { prepareAllowedCommand } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../../src/executors/command-runner.ts'))};
      const held = prepareAllowedCommand({ allowlist: ${JSON.stringify(allowlist)}, argv: ['node', '-e', 'require("node:fs").writeFileSync(process.argv[1], "ran")', ${JSON.stringify(marker)}], cwd: ${JSON.stringify(dir)} });
      console.log(held ? 'held' : 'not held');
      setInterval(() => {}, 1000);
    `;
    const runtime = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, PAS_SPAWNER: spawner }, stdio: ['ignore', 'pipe', 'inherit'] });
    const said = await new Promise<string>((resolve) => runtime.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
    expect(said).toBe('held');
    const shell = await heldShellPid(marker);
    runtime.kill('SIGKILL');
    expect(await waitFor(async () => !(await isRunning(shell)), 20_000)).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });
});
