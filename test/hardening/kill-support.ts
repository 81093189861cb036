/**
 * Shared by the kill -9 families (kill-trials.ts, kill-steps.ts): a seeded PRNG, git for the
 * checks, `pas up` boots on one configs folder, data dir and port offset (every child killed at
 * the end), and the check that a job branch holds no task merged or committed twice.
 */
import type { ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { loadConfig } from '../../src/config/load-config.ts';
import { buildTopology } from '../../src/runtime/topology.ts';
import { kill9, startPasUp, type PasProcess } from '../support/pas-process.ts';
import { freePortOffset } from '../support/ports.ts';

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function git(cwd: string, ...args: string[]): Promise<{ stdout: string; exitCode: number }> {
  const r = await execa('git', ['-c', 'commit.gpgsign=false', '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, reject: false });
  return { stdout: r.stdout.trim(), exitCode: r.exitCode ?? 1 };
}

export interface PasBoots {
  up(): Promise<PasProcess>;
  /** SIGKILLs every child still running. */
  killAll(): Promise<void>;
}

export async function pasBoots(configDir: string, dataDir: string): Promise<PasBoots> {
  const children = new Set<ChildProcess>();
  const top = buildTopology(loadConfig(configDir));
  const portOffset = await freePortOffset([top.gatewayPort, ...top.agents.map((a) => a.port)], 100, { belowEphemeral: true });
  return {
    up: () =>
      startPasUp({
        configDir,
        dataDir,
        portOffset,
        track: (child) => {
          children.add(child);
          child.once('exit', () => children.delete(child));
        },
      }),
    async killAll() {
      for (const child of [...children]) await kill9(child);
    },
  };
}

/** A task branch merged twice into `branch`, or a task's commit in it twice. */
export async function doubledInBranch(repo: string, branch: string): Promise<string[]> {
  if (!(await git(repo, 'branch', '--list', branch)).stdout) return [];
  const subjects = (await git(repo, 'log', '--format=%s', branch)).stdout.split('\n');
  const found: string[] = [];
  const merges = subjects.filter((s) => s.startsWith('pas: merge ')).map((s) => s.split(' ')[2]!);
  if (merges.length !== new Set(merges).size) found.push(`a task branch is merged twice into ${branch}: ${merges.join(', ')}`);
  const commits = subjects.filter((s) => s.startsWith('pas: task ')).map((s) => s.split(' ')[2]!);
  if (commits.length !== new Set(commits).size) found.push(`a task's commit is twice in ${branch}: ${commits.join(', ')}`);
  return found;
}
