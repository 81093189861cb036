/**
 * Scratch git repositories for executor tests: a temp folder with a committed repository and a
 * workspaces folder beside it, removed by `cleanup()`.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const FAKE_AIDER_DIR = fileURLToPath(new URL('./fake-aider/', import.meta.url));

export interface TempRepo {
  /** The temp folder holding everything. */
  root: string;
  repo: string;
  workspacesDir: string;
  /** The commit of the initial files. */
  base: string;
  cleanup(): Promise<void>;
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Test User',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test User',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
};

export async function gitOut(cwd: string, ...args: string[]): Promise<string> {
  const result = await execa('git', ['-c', 'commit.gpgsign=false', ...args], { cwd, env: GIT_ENV });
  return result.stdout.trim();
}

export async function writeFiles(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(dir, rel);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

export async function createTempRepo(files: Record<string, string | Buffer>, options: { objectFormat?: 'sha1' | 'sha256' } = {}): Promise<TempRepo> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'pas-exec-'));
  const repo = path.join(root, 'repo');
  const workspacesDir = path.join(root, 'workspaces');
  await mkdir(repo);
  await gitOut(repo, 'init', '--quiet', '--initial-branch=main', `--object-format=${options.objectFormat ?? 'sha1'}`);
  await writeFiles(repo, files);
  await gitOut(repo, 'add', '--all');
  await gitOut(repo, 'commit', '--quiet', '-m', 'initial');
  const base = await gitOut(repo, 'rev-parse', 'HEAD');
  return { root, repo, workspacesDir, base, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Whether a process with this pid is running (a zombie waiting to be reaped counts as gone). */
export async function isRunning(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = await execa('ps', ['-o', 'stat=', '-p', String(pid)], { reject: false });
  const stat = String(state.stdout).trim();
  return stat !== '' && !stat.startsWith('Z');
}

/** Pids whose command line contains `needle`, from `ps`. */
export async function pidsMatching(needle: string): Promise<number[]> {
  const result = await execa('ps', ['-eo', 'pid=,args='], { reject: false });
  return String(result.stdout)
    .split('\n')
    .filter((line) => line.includes(needle))
    .map((line) => Number(line.trim().split(/\s+/)[0]))
    .filter((pid) => Number.isInteger(pid) && pid !== process.pid);
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, stepMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return check();
}

/** Every file under `dir` except its `.git`, relative, sorted (symlinks listed as files, empty folders not at all). */
export async function filesIn(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === '.git' && prefix === '') continue;
    const rel = `${prefix}${entry.name}`;
    if (entry.isDirectory()) out.push(...(await filesIn(path.join(dir, entry.name), `${rel}/`)));
    else out.push(rel);
  }
  return out.sort();
}
