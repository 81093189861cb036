/**
 * The spawner (a small node process the runtime asks to start git and verify commands, so the
 * large runtime never forks) gives exactly what a direct spawn gives, survives its own death, and
 * never outlives the runtime. Real git, real processes, no timing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { git, gitProcessCount, gitSequence, gitSpawnCount } from '../../../src/executors/git-command.ts';
import { runProcessTree } from '../../../src/executors/process-tree.ts';
import type { ChildOutcome, SpawnChildOptions } from '../../../src/executors/spawn-child.ts';
import { readySpawnerPids, setSpawnerWatchdog, SPAWNER_POOL_SIZE, spawnerPid, spawnerProcess, spawnerStats, startChild, startDirect, stopSpawner, useSpawner } from '../../../src/executors/spawner.ts';
import { createTempRepo, isRunning, waitFor, type TempRepo } from '../../support/git-fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

let repo: TempRepo;
beforeAll(async () => {
  repo = await createTempRepo({ 'a.txt': 'a\n', 'dir/b.txt': 'b\n' });
});
afterEach(() => setSpawnerWatchdog());
afterAll(async () => {
  useSpawner(true);
  await stopSpawner();
  await repo.cleanup();
});

/** The outcome without what differs by nature between two runs (the pid). */
function comparable(outcome: ChildOutcome) {
  const { pid, spawnError, all, ...rest } = outcome;
  // Lines of two pipes interleave as the scheduler has it, for a direct spawn too: compared as a set.
  const allLines = all.split('\n').sort();
  return { ...rest, allLines, started: pid !== undefined, spawnError: spawnError ? { code: spawnError.code, syscall: spawnError.syscall, path: spawnError.path } : undefined };
}

/** A big outcome in short: hashes of its texts (a diff of megabytes is slow to print and read). */
function digest(outcome: ReturnType<typeof comparable>) {
  const hash = (text: string | Uint8Array) => createHash('sha256').update(text).digest('hex');
  return { ...outcome, stdout: hash(outcome.stdout), stdoutBytes: hash(outcome.stdoutBytes), allLines: hash(outcome.allLines.join('\n')) };
}

/** Runs `options` directly and through the spawner; asserts the spawner really started it. */
async function both(options: SpawnChildOptions) {
  const direct = await startDirect(options).done;
  const before = spawnerStats();
  const viaSpawner = await startChild(options).done;
  const after = spawnerStats();
  expect(after.direct).toBe(before.direct);
  return { direct: comparable(direct), viaSpawner: comparable(viaSpawner), startedBySpawner: after.viaSpawner - before.viaSpawner };
}

/** Whether a process is gone; waits for it (a generous bound: the machine may be loaded). */
async function gone(pid: number): Promise<boolean> {
  return waitFor(async () => !(await isRunning(pid)), 20_000, 50);
}

describe('the spawner', () => {
  it('gives the same exit code, stdout, stderr and interleaved output as a direct spawn, for a success and for a failure', async () => {
    const env = { PATH: process.env.PATH! };
    const ok = await both({ file: 'sh', args: ['-c', 'echo one; echo two >&2; echo three'], cwd: repo.repo, env });
    expect(ok.viaSpawner).toEqual(ok.direct);
    expect(ok.startedBySpawner).toBe(1);
    const failed = await both({ file: 'sh', args: ['-c', 'echo partial; echo "it broke" >&2; exit 3'], cwd: repo.repo, env });
    expect(failed.viaSpawner).toEqual(failed.direct);
    expect(failed.viaSpawner).toMatchObject({ exitCode: 3, stdout: 'partial\n', stderr: 'it broke\n' });
    const signalled = await both({ file: 'sh', args: ['-c', 'kill -TERM $$'], cwd: repo.repo, env });
    expect(signalled.viaSpawner).toEqual(signalled.direct);
    expect(signalled.viaSpawner).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
  });

  it('passes stdin input, the exact environment asked for (nothing of its own or the runtime’s) and the working folder', async () => {
    const input = await both({ file: 'sh', args: ['-c', 'cat; printf "|%s" "$(pwd)"'], cwd: path.join(repo.repo, 'dir'), env: { PATH: process.env.PATH! }, input: 'line 1\nline 2\n' });
    expect(input.viaSpawner).toEqual(input.direct);
    expect(input.viaSpawner.stdout).toBe(`line 1\nline 2\n|${path.join(repo.repo, 'dir')}`);
    const binary = await both({ file: 'git', args: ['hash-object', '--stdin'], cwd: repo.repo, env: { PATH: process.env.PATH! }, input: new Uint8Array([0, 255, 1, 254]) });
    expect(binary.viaSpawner).toEqual(binary.direct);

    process.env.PAS_SPAWNER_TEST_API_KEY = 'sk-should-never-leak';
    try {
      const env = { PATH: process.env.PATH!, ONLY_THIS: 'yes', EMPTY: '' };
      const printed = await both({ file: 'env', args: ['-0'], cwd: repo.repo, env });
      expect(printed.viaSpawner).toEqual(printed.direct);
      expect(printed.viaSpawner.stdout.split('\0').filter(Boolean).sort()).toEqual(['EMPTY=', `ONLY_THIS=yes`, `PATH=${process.env.PATH}`]);
      // The spawner's own environment holds no secret of the runtime's either.
      await stopSpawner();
      await startChild({ file: 'true', args: [], cwd: repo.repo, env }).done;
      const own = readFileSync(`/proc/${spawnerPid()}/environ`, 'utf8');
      expect(own).not.toContain('sk-should-never-leak');
      expect(own).not.toContain('NODE_OPTIONS');
    } finally {
      delete process.env.PAS_SPAWNER_TEST_API_KEY;
    }
  });

  it('sends an environment over its channel once while it keeps it, and each command still gets exactly its own (also past the kept ones)', async () => {
    await stopSpawner();
    const printedEnv = async (env: Record<string, string>) => (await startChild({ file: 'env', args: ['-0'], cwd: repo.repo, env }).done).stdout.split('\0').filter(Boolean).sort();
    const envs = Array.from({ length: 12 }, (_, i) => ({ PATH: process.env.PATH!, WHICH: `env-${i}` }));
    const expected = (i: number) => [`PATH=${process.env.PATH}`, `WHICH=env-${i}`];
    const before = spawnerStats().envsSent;
    // Sequential requests stay on one spawner: the same environment again is not sent again.
    for (let round = 0; round < 3; round++) expect(await printedEnv(envs[0]!)).toEqual(expected(0));
    expect(spawnerStats().envsSent - before).toBe(1);
    // Alternating among a few, then more than it keeps, then the first ones again (dropped by then: sent anew).
    for (const i of [1, 0, 1, 2, 0, ...Array.from({ length: 12 }, (_, k) => k), 0, 1, 11]) expect(await printedEnv(envs[i]!)).toEqual(expected(i));
    // A variable added, removed or emptied is another environment.
    expect(await printedEnv({ ...envs[11]!, EXTRA: '' })).toEqual(['EXTRA=', ...expected(11)].sort());
    expect(await printedEnv({ PATH: process.env.PATH! })).toEqual([`PATH=${process.env.PATH}`]);
  });

  it('passes a big output whole, byte for byte, and kills a program whose output passes the cap as a direct spawn does', async () => {
    const env = { PATH: process.env.PATH! };
    const big = await both({ file: 'sh', args: ['-c', 'seq 1 400000; seq 1 1000 >&2'], cwd: repo.repo, env });
    expect(big.viaSpawner.stdout.length).toBeGreaterThan(2_000_000);
    expect(digest(big.viaSpawner)).toEqual(digest(big.direct));
    const capped = await both({ file: 'sh', args: ['-c', 'seq 1 400000; echo never'], cwd: repo.repo, env, maxBufferBytes: 100_000 });
    expect(capped.viaSpawner.truncated).toBe(true);
    expect(capped.viaSpawner.stdout.length).toBeLessThanOrEqual(100_000);
    expect(capped.direct.truncated).toBe(true);
  });

  it('reports a program that cannot start as a direct spawn does (missing program, missing folder)', async () => {
    const env = { PATH: process.env.PATH! };
    const missing = await both({ file: 'pas-no-such-program', args: [], cwd: repo.repo, env });
    expect(missing.viaSpawner).toEqual(missing.direct);
    expect(missing.viaSpawner.spawnError?.code).toBe('ENOENT');
    const noFolder = await both({ file: 'git', args: ['status'], cwd: path.join(repo.root, 'gone'), env });
    expect(noFolder.viaSpawner).toEqual(noFolder.direct);
  });

  it('gives git and gitSequence the same answers and errors as with direct spawns, and counts their processes the same', async () => {
    const run = async () => {
      const processes = gitProcessCount();
      const spawns = gitSpawnCount();
      const log = await git(repo.repo, ['log', '--format=%s']);
      const hashed = await git(repo.repo, ['hash-object', '--stdin'], { input: 'x\n' });
      const failure = await git(repo.repo, ['rev-parse', '--verify', 'no-such-ref']).catch((err: { code: string; message: string; details: unknown }) => ({ code: err.code, message: err.message, details: err.details }));
      const sequence = await gitSequence(repo.repo, [['status', '--porcelain'], ['rev-parse', 'HEAD']]);
      const sequenceFailure = await gitSequence(repo.repo, [['status'], ['cat-file', '-t', 'deadbeef'], ['status']]).catch((err: { message: string }) => err.message);
      return { log, hashed, failure, sequence, sequenceFailure, processes: gitProcessCount() - processes, spawns: gitSpawnCount() - spawns };
    };
    useSpawner(false);
    const before = spawnerStats();
    const direct = await run();
    expect(spawnerStats().viaSpawner).toBe(before.viaSpawner);
    useSpawner(true);
    const viaSpawner = await run();
    expect(spawnerStats().viaSpawner - before.viaSpawner).toBe(5);
    expect(viaSpawner).toEqual(direct);
    expect(viaSpawner).toMatchObject({ processes: 8, spawns: 5, failure: { code: 'PAS_ERR_GIT' } });
    expect(JSON.stringify(viaSpawner.failure)).toMatch(/fatal: Needed a single revision/);
  });

  it('kills the whole tree of a command at its timeout, grandchildren too', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pas-spawner-'));
    try {
      const before = spawnerStats();
      const outcome = await runProcessTree({
        file: 'sh',
        args: ['-c', `trap '' TERM; sleep 600 & echo $! > ${dir}/grandchild; echo $$ > ${dir}/child; wait`],
        cwd: dir,
        env: { PATH: process.env.PATH! },
        timeoutMs: 1_000,
        killGraceMs: 200,
        viaSpawner: true,
      });
      expect(spawnerStats().viaSpawner - before.viaSpawner).toBe(1);
      expect(outcome).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL' });
      for (const file of ['child', 'grandchild']) expect(await gone(Number(await readFile(path.join(dir, file), 'utf8')))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails a command it was running with PAS_ERR_SPAWNER when it is killed, kills that command’s tree, and the next request starts a fresh spawner', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pas-spawner-'));
    try {
      const running = runProcessTree({ file: 'sh', args: ['-c', `sleep 600 & echo $! > ${dir}/grandchild; wait`], cwd: dir, env: { PATH: process.env.PATH! }, viaSpawner: true });
      expect(await waitFor(async () => (await readFile(path.join(dir, 'grandchild'), 'utf8').catch(() => '')).trim() !== '', 20_000)).toBe(true);
      const first = spawnerPid()!;
      process.kill(first, 'SIGKILL');
      await expect(running).rejects.toMatchObject({ code: 'PAS_ERR_SPAWNER', retryable: true });
      expect(await gone(Number(await readFile(path.join(dir, 'grandchild'), 'utf8')))).toBe(true);
      expect((await git(repo.repo, ['rev-parse', 'HEAD'])).stdout.trim()).toBe(repo.base);
      expect(spawnerPid()).not.toBe(first);
      expect(await gone(first)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs a request it had not started yet on a fresh spawner when it dies', async () => {
    await startChild({ file: 'true', args: [], cwd: repo.repo, env: {} }).done;
    const stuck = spawnerPid()!;
    const before = spawnerStats();
    process.kill(stuck, 'SIGSTOP');
    const answer = git(repo.repo, ['rev-parse', 'HEAD']);
    process.kill(stuck, 'SIGKILL');
    expect((await answer).stdout.trim()).toBe(repo.base);
    expect(spawnerStats()).toMatchObject({ retried: before.retried + 1, lost: before.lost, spawners: before.spawners + 1 });
  });
});

describe('a burst of requests', () => {
  /** Every spawner of the pool running and ready (started by a first request). */
  async function readyPool(): Promise<number[]> {
    await startChild({ file: 'true', args: [], cwd: repo.repo, env: {} }).done;
    expect(await waitFor(async () => readySpawnerPids().length === SPAWNER_POOL_SIZE, 20_000, 20)).toBe(true);
    return readySpawnerPids();
  }

  it('is started by every spawner of the pool side by side, not forked one after another by one of them', async () => {
    const spawners = await readyPool();
    expect(spawners.length).toBeGreaterThanOrEqual(2);
    // Sent in one go, as the verify commands of a round are: each program says who started it.
    const burst = Array.from({ length: 2 * spawners.length }, () => startChild({ file: 'sh', args: ['-c', 'echo $PPID'], cwd: repo.repo, env: { PATH: process.env.PATH! } }).done);
    const parents = (await Promise.all(burst)).map((outcome) => Number(outcome.stdout.trim()));
    expect(new Set(parents)).toEqual(new Set(spawners));
    for (const pid of spawners) expect(parents.filter((parent) => parent === pid)).toHaveLength(2);
  });

  it('loses only the commands the dead spawner had taken; the rest of the burst finishes on the others', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pas-spawner-'));
    try {
      const spawners = await readyPool();
      const before = spawnerStats();
      const burst = Array.from({ length: 2 * spawners.length }, (_, i) =>
        runProcessTree({ file: 'sh', args: ['-c', `echo $PPID > ${dir}/${i}.parent; while [ ! -e ${dir}/go ]; do sleep 0.05; done; echo done $PPID`], cwd: dir, env: { PATH: process.env.PATH! }, viaSpawner: true }).then(
          (outcome) => ({ ok: outcome.stdout.trim() }),
          (err: { code: string }) => ({ error: err.code }),
        ),
      );
      const parentOf = async (i: number) => Number((await readFile(path.join(dir, `${i}.parent`), 'utf8').catch(() => '')).trim());
      expect(await waitFor(async () => (await Promise.all(burst.map((_, i) => parentOf(i)))).every((pid) => pid > 0), 20_000)).toBe(true);
      const parents = await Promise.all(burst.map((_, i) => parentOf(i)));
      const victim = spawners[0]!;
      process.kill(victim, 'SIGKILL');
      expect(await gone(victim)).toBe(true);
      await writeFile(path.join(dir, 'go'), '');
      const results = await Promise.all(burst);
      expect(results).toEqual(parents.map((pid) => (pid === victim ? { error: 'PAS_ERR_SPAWNER' } : { ok: `done ${pid}` })));
      expect(spawnerStats().lost - before.lost).toBe(parents.filter((pid) => pid === victim).length);
      expect((await git(repo.repo, ['rev-parse', 'HEAD'])).stdout.trim()).toBe(repo.base);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a spawner that stops answering or fails', () => {
  /** A running spawner, frozen with SIGSTOP (as a hung machine or a debugger would). */
  async function frozenSpawner(): Promise<number> {
    await startChild({ file: 'true', args: [], cwd: repo.repo, env: {} }).done;
    const pid = spawnerPid()!;
    process.kill(pid, 'SIGSTOP');
    return pid;
  }

  it('kills a frozen spawner and fails the command it was running with PAS_ERR_SPAWNER once that command was killed at its timeout', async () => {
    setSpawnerWatchdog({ doneAfterKillMs: 300 });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pas-spawner-'));
    try {
      const running = runProcessTree({ file: 'sh', args: ['-c', `sleep 600 & echo $! > ${dir}/grandchild; wait`], cwd: dir, env: { PATH: process.env.PATH! }, timeoutMs: 1_500, killGraceMs: 100, viaSpawner: true });
      expect(await waitFor(async () => (await readFile(path.join(dir, 'grandchild'), 'utf8').catch(() => '')).trim() !== '', 20_000)).toBe(true);
      const frozen = spawnerPid()!;
      const before = spawnerStats();
      process.kill(frozen, 'SIGSTOP');
      await expect(running).rejects.toMatchObject({ code: 'PAS_ERR_SPAWNER' });
      expect(spawnerStats()).toMatchObject({ frozen: before.frozen + 1, lost: before.lost + 1 });
      expect(await gone(frozen)).toBe(true);
      expect(await gone(Number(await readFile(path.join(dir, 'grandchild'), 'utf8')))).toBe(true);
      expect((await git(repo.repo, ['rev-parse', 'HEAD'])).stdout.trim()).toBe(repo.base);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers a command whose timeout passed before a frozen spawner started it as timed out, and never runs it', async () => {
    setSpawnerWatchdog({ startMs: 500 });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pas-spawner-'));
    try {
      const frozen = await frozenSpawner();
      const before = spawnerStats();
      const outcome = await runProcessTree({ file: 'sh', args: ['-c', `echo ran > ${dir}/ran`], cwd: dir, env: { PATH: process.env.PATH! }, timeoutMs: 100, killGraceMs: 100, viaSpawner: true });
      expect(outcome).toMatchObject({ timedOut: true, pid: undefined, exitCode: null });
      expect(spawnerStats()).toMatchObject({ frozen: before.frozen + 1, retried: before.retried, direct: before.direct });
      expect(await gone(frozen)).toBe(true);
      expect((await git(repo.repo, ['rev-parse', 'HEAD'])).stdout.trim()).toBe(repo.base);
      await expect(readFile(path.join(dir, 'ran'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs a git command sent to a frozen spawner on a fresh one after the watchdog killed it', async () => {
    setSpawnerWatchdog({ startMs: 300 });
    const frozen = await frozenSpawner();
    const before = spawnerStats();
    expect((await git(repo.repo, ['rev-parse', 'HEAD'])).stdout.trim()).toBe(repo.base);
    expect(spawnerStats()).toMatchObject({ frozen: before.frozen + 1, retried: before.retried + 1, spawners: before.spawners + 1 });
    expect(await gone(frozen)).toBe(true);
  });

  it('says it took each request of a burst before starting it, then its pid, then its outcome', async () => {
    await startChild({ file: 'true', args: [], cwd: repo.repo, env: {} }).done;
    const seen = new Map<number, string[]>();
    const note = (id: number, what: string) => seen.set(id, [...(seen.get(id) ?? []), what]);
    const listen = (message: { t: string; id?: number; ids?: number[] }) => {
      for (const id of message.ids ?? [message.id!]) note(id, message.t);
    };
    const spawner = spawnerProcess()!;
    spawner.on('message', listen);
    try {
      await Promise.all(Array.from({ length: 6 }, () => startChild({ file: 'true', args: [], cwd: repo.repo, env: {} }).done));
    } finally {
      spawner.off('message', listen);
    }
    // The pool shares the burst out: this spawner held a part of it, the requests of a read taken together.
    expect(seen.size).toBeGreaterThanOrEqual(6 / SPAWNER_POOL_SIZE);
    expect([...seen.values()]).toEqual(Array.from({ length: seen.size }, () => ['taken', 'pid', 'done']));
  });

  it('fails with PAS_ERR_SPAWNER, and does not run again, a command the spawner took before it died without sending its pid', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pas-spawner-'));
    try {
      const stuck = await frozenSpawner();
      const child = spawnerProcess()!;
      // Catch the request's id on its way out; then the spawner's last words: it took it.
      const send = child.send.bind(child);
      let id: number | undefined;
      child.send = ((message: { id: number }, ...rest: never[]) => {
        id = message.id;
        return send(message, ...rest);
      }) as typeof child.send;
      const before = spawnerStats();
      const answer = startChild({ file: 'sh', args: ['-c', `echo ran >> ${dir}/runs`], cwd: dir, env: { PATH: process.env.PATH! } }).done;
      child.send = send;
      child.emit('message', { t: 'taken', ids: [id] });
      process.kill(stuck, 'SIGKILL');
      await expect(answer).rejects.toMatchObject({ code: 'PAS_ERR_SPAWNER' });
      expect(spawnerStats()).toMatchObject({ retried: before.retried, lost: before.lost + 1, direct: before.direct });
      expect((await git(repo.repo, ['rev-parse', 'HEAD'])).stdout.trim()).toBe(repo.base);
      await expect(readFile(path.join(dir, 'runs'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('kills a spawner whose process reports an error while still connected, and the next request starts a fresh one', async () => {
    await startChild({ file: 'true', args: [], cwd: repo.repo, env: {} }).done;
    const broken = spawnerProcess()!;
    expect(broken.connected).toBe(true);
    broken.emit('error', Object.assign(new Error('kill EPERM'), { code: 'EPERM' }));
    expect(await gone(broken.pid!)).toBe(true);
    expect((await git(repo.repo, ['rev-parse', 'HEAD'])).stdout.trim()).toBe(repo.base);
    expect(spawnerPid()).not.toBe(broken.pid);
  });
});

describe('the spawner and the runtime process', () => {
  const SCRIPT = `
    const { git } = await import(${JSON.stringify(path.join(ROOT, 'src/executors/git-command.ts'))});
    const { spawnerPid, spawnerStats } = await import(${JSON.stringify(path.join(ROOT, 'src/executors/spawner.ts'))});
    await git(process.argv.at(-2), ['rev-parse', 'HEAD']);
    process.stdout.write(JSON.stringify({ spawner: spawnerPid() ?? null, stats: spawnerStats() }) + '\\n');
    if (process.argv.at(-1) === 'wait') setInterval(() => undefined, 1_000);
    if (process.argv.at(-1) === 'tree') {
      const { runProcessTree } = await import(${JSON.stringify(path.join(ROOT, 'src/executors/process-tree.ts'))});
      await runProcessTree({ file: 'sh', args: ['-c', 'sleep 600 & echo $! > grandchild; wait'], cwd: process.argv.at(-2), env: { PATH: process.env.PATH }, viaSpawner: true });
    }
  `;

  /** Starts a runtime-like process running SCRIPT; resolves with it once it printed its spawner's pid. */
  async function startRuntime(cwd: string, mode: string) {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT, cwd, mode], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve) => {
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        if (text.includes('\n')) resolve(text);
      });
    });
    return { child, spawner: (JSON.parse(line) as { spawner: number }).spawner };
  }

  it('lets the runtime exit on its own when idle, and the spawner exits with it', async () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT, repo.repo, 'end'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(0);
    const { spawner, stats } = JSON.parse(run.stdout) as { spawner: number; stats: { viaSpawner: number } };
    expect(stats.viaSpawner).toBe(1);
    expect(await gone(spawner)).toBe(true);
  });

  it('leaves no spawner behind when the runtime is killed with SIGKILL', async () => {
    const { child, spawner } = await startRuntime(repo.repo, 'wait');
    expect(await isRunning(spawner)).toBe(true);
    child.kill('SIGKILL');
    expect(await gone(spawner)).toBe(true);
  });

  it('kills the tree of a verify command it was running when the runtime is killed with SIGKILL, and exits', async () => {
    const tree = await createTempRepo({ 'a.txt': 'a\n' });
    const dir = tree.repo;
    try {
      const { child, spawner } = await startRuntime(dir, 'tree');
      expect(await waitFor(async () => (await readFile(path.join(dir, 'grandchild'), 'utf8').catch(() => '')).trim() !== '', 20_000)).toBe(true);
      const grandchild = Number(await readFile(path.join(dir, 'grandchild'), 'utf8'));
      expect(await isRunning(grandchild)).toBe(true);
      child.kill('SIGKILL');
      expect(await gone(spawner)).toBe(true);
      expect(await gone(grandchild)).toBe(true);
    } finally {
      await tree.cleanup();
    }
  });

  it('spawns directly, with the same answers, when PAS_SPAWNER=off', async () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT, repo.repo, 'end'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PAS_SPAWNER: 'off' } });
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ spawner: null, stats: { viaSpawner: 0, direct: 1, spawners: 0 } });
  });
});
