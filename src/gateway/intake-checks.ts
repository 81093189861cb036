/**
 * What a job or task is checked against before it is accepted (after its body's schema): the
 * repository it names exists, is a git work tree with a commit, and is named by its top level
 * (not a subfolder); a Director or Manager is sent only jobs of its own lane; a `verify` command
 * is one cmd_allowlist.yaml allows. Each refusal is a 400 naming the field. Files the job names
 * that the repository does not hold yet are not an error: the answer notes they will be created.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { CmdAllowlist } from '../config/schemas.ts';
import { matchCommand } from '../executors/command-runner.ts';
import { git } from '../executors/git-command.ts';
import { MODE_TREE, objectStoreFor, type RepoObjectStore } from '../executors/object-store.ts';
import { PasError, isPasError } from '../errors.ts';
import type { AgentInfo } from '../runtime/topology.ts';

function refuse(field: string, message: string, details: Record<string, unknown> = {}): PasError {
  return new PasError('PAS_ERR_BAD_REQUEST', `${field}: ${message}`, { details: { field, where: 'body', ...details } });
}

/**
 * Repositories already found to be a top level, by path, with the identity of their `.git`
 * folder then: the next job naming one needs no git process for it (a `.git` replaced since is
 * checked again).
 */
const topLevels = new Map<string, { dev: number; ino: number }>();

/**
 * The repository's own object store when its `.git` is a folder (not a linked worktree, whose
 * HEAD is its own): HEAD and its files are then read through the store's long-lived cat-file
 * instead of a git process per job.
 */
async function mainStore(abs: string): Promise<RepoObjectStore | undefined> {
  const info = await stat(path.join(abs, '.git')).catch(() => undefined);
  if (!info?.isDirectory()) return undefined;
  const store = await objectStoreFor(abs).catch(() => undefined);
  return store && store.repo === (await realpath(path.join(abs, '.git')).catch(() => '')) ? store : undefined;
}

/** The repository as an absolute path, once it is known to be the top level of a git work tree with a commit. */
export async function checkRepo(repo: string, field = 'repo'): Promise<string> {
  const abs = path.resolve(repo);
  let info;
  try {
    info = await stat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw refuse(field, `${abs} does not exist`, { reason: 'missing' });
    if (code === 'ENAMETOOLONG') throw refuse(field, 'the path is too long', { reason: 'too_long' });
    throw refuse(field, `${abs} cannot be read (${code ?? 'error'})`, { reason: 'unreadable' });
  }
  if (!info.isDirectory()) throw refuse(field, `${abs} is a file, not a git repository`, { reason: 'not_a_directory' });
  const dotGit = await stat(path.join(abs, '.git')).catch(() => undefined);
  const known = topLevels.get(abs);
  if (!known || !dotGit || known.dev !== dotGit.dev || known.ino !== dotGit.ino) {
    topLevels.delete(abs);
    let top: string;
    try {
      top = (await git(abs, ['rev-parse', '--show-toplevel'])).stdout.trim();
    } catch (err) {
      if (isPasError(err, 'PAS_ERR_RESOURCE')) throw err;
      throw refuse(field, `${abs} is not a git repository (or is a bare one, with no work tree)`, { reason: 'not_a_repository' });
    }
    const [realTop, realRepo] = await Promise.all([realpath(top), realpath(abs)]);
    if (realTop !== realRepo) {
      throw refuse(field, `${abs} is a subfolder of the git repository ${realTop}; name the repository's top level`, { reason: 'subfolder', top_level: realTop });
    }
    if (dotGit) topLevels.set(abs, { dev: dotGit.dev, ino: dotGit.ino });
  }
  const store = await mainStore(abs);
  const head = store
    ? (await store.resolveCommit('HEAD')) !== null
    : (await git(abs, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], { okCodes: [1, 128] })).exitCode === 0;
  if (!head) throw refuse(field, `${abs} has no commit yet; PAS branches every job from one`, { reason: 'no_commit' });
  return abs;
}

/** Whether `rel` is a file (or submodule) in `tree`, as `ls-tree -r` would list it. */
async function inTree(store: RepoObjectStore, tree: string, rel: string): Promise<boolean> {
  const segments = rel.split('/');
  let current = tree;
  for (let i = 0; i < segments.length; i++) {
    const entry = (await store.readTree(current)).find((e) => e.name === segments[i]);
    if (!entry) return false;
    if (i === segments.length - 1) return entry.mode !== MODE_TREE;
    if (entry.mode !== MODE_TREE) return false;
    current = entry.oid;
  }
  return false;
}

/** The files of `files` that the repository's HEAD does not hold (the job will create them). */
export async function filesToCreate(repo: string, files: readonly string[]): Promise<string[]> {
  // A path that leaves the repository is not a file to create: the fs guard refuses it (PAS_ERR_FS_PATH_ESCAPE).
  const inside = new Map<string, string>();
  for (const file of files) {
    const normal = path.posix.normalize(file.replace(/\\/g, '/')).replace(/^\.\//, '');
    if (!path.posix.isAbsolute(normal) && normal !== '..' && !normal.startsWith('../') && normal !== '.') inside.set(file, normal);
  }
  if (inside.size === 0) return [];
  const present = new Set<string>();
  const store = [...inside.values()].some((n) => /[\n\r]/.test(n)) ? undefined : await mainStore(repo);
  const head = store ? await store.resolveCommit('HEAD') : null;
  if (store && head) {
    const tree = await store.commitTree(head);
    for (const normal of new Set(inside.values())) if (await inTree(store, tree, normal)) present.add(normal);
  } else {
    const out = await git(repo, ['--literal-pathspecs', 'ls-tree', '-r', '-z', '--name-only', 'HEAD', '--', ...new Set(inside.values())]);
    for (const name of out.stdout.split('\0')) if (name) present.add(name);
  }
  return [...inside].filter(([, normal]) => !present.has(normal)).map(([file]) => file);
}

/** The notes a 202 answer carries about a job's files. */
export function filesNotes(repo: string, created: readonly string[]): string[] {
  return created.length === 0 ? [] : [`${created.length === 1 ? 'this file does' : 'these files do'} not exist yet in ${repo} and will be created: ${created.join(', ')}`];
}

/** A Director or Manager takes only jobs of its own lane; without a lane a job gets the agent's. */
export function checkLane(agent: AgentInfo, lane: string | undefined): void {
  if (lane === undefined || agent.lane === undefined || lane === agent.lane) return;
  throw refuse('lane', `${agent.agentId} runs only ${agent.lane} jobs, not ${lane}; send it to the gateway (POST /api/jobs) or to the ${lane} Director`, {
    agent: agent.agentId,
    agent_lane: agent.lane,
  });
}

/** A verify command must be one the allowlist runs; refused here rather than failing every subtask later. */
export function checkVerify(allowlist: CmdAllowlist, verify: readonly string[] | undefined): void {
  if (!verify || matchCommand(allowlist, verify)) return;
  throw refuse('verify', `${JSON.stringify(verify)} is not allowed by cmd_allowlist.yaml`, { allowed: allowlist.commands.map((c) => [c.program, ...c.args].join(' ')) });
}

/** Every check of a job or task body that names a repository and files; returns the answer's notes. */
export async function checkWork(body: { repo?: string | undefined; files?: readonly string[] | undefined; verify?: readonly string[] | undefined }, allowlist: CmdAllowlist): Promise<{ repo?: string; notes: string[] }> {
  checkVerify(allowlist, body.verify);
  if (!body.repo) return { notes: [] };
  const repo = await checkRepo(body.repo);
  return { repo, notes: filesNotes(repo, await filesToCreate(repo, body.files ?? [])) };
}
