/**
 * Code without a shared filesystem, central side: the base of a task leaves as a git bundle (full
 * the first time a host sees a repository, incremental after), and a worker's commit comes back as
 * a bundle that only this side verifies and turns into a ref, create-only, so a branch can never be
 * half-written and a worker never sees the user's checkout.
 *
 * The worker side is `WorkerRepoCache` (worker-repo-cache.ts); bundles travel through JetStream's
 * object store (bundle-store.ts). Both are re-exported here.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PasError, isPasError } from '../errors.ts';
import { git } from '../executors/git-command.ts';
import { objectStoreFor, type RepoObjectStore } from '../executors/object-store.ts';
import { bundleInvalid, readBundleHeader } from './bundle-header.ts';
import { plainChain } from './result-chain.ts';
import { importPackInProcess } from './result-import.ts';
import { isFullObjectId } from '../executors/object-id.ts';

export { WorkerRepoCache, makeResultBundle } from './worker-repo-cache.ts';
export { bundleObjectName, bundleStored, deleteBundle, getBundle, putBundle } from './bundle-store.ts';
export { HostHaves } from './host-haves.ts';
export { MAX_RESULT_COMMITS } from './result-chain.ts';

/** The one ref a base bundle carries (the worker fetches it into its own namespace). */
export const BASE_BUNDLE_REF = 'refs/pas/base';
/** Where an import of earlier versions kept a result's commit while git checked it (never a branch). */
const QUARANTINE = 'refs/pas/quarantine';

export interface BaseBundle {
  /** The bundle's bytes; null when the host already has `commit` (one of its haves reaches it). */
  bytes: Uint8Array | null;
  /** True when the bundle carries the whole history (no have was usable). */
  full: boolean;
  /** The full commit id the bundle's ref points at. */
  commit: string;
  /** Haves the bundle was cut against (the worker must hold them). */
  prerequisites: string[];
}

/**
 * A repository as workers know it: its folder name and a hash of its real git dir, never a path
 * (`app-3f2a9c01d4e5`). Stable across runs of the central process.
 */
export async function repoKeyOf(repo: string): Promise<string> {
  const common = await gitCommonDir(repo);
  const name = path.basename(common === path.join(path.dirname(common), '.git') ? path.dirname(common) : common).replace(/\.git$/, '');
  const safe = name.replace(/[^A-Za-z0-9_-]/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 40) || 'repo';
  return `${safe}-${createHash('sha256').update(common).digest('hex').slice(0, 12)}`;
}

async function gitCommonDir(repo: string): Promise<string> {
  const out = await git(repo, ['rev-parse', '--path-format=absolute', '--git-common-dir']);
  return out.stdout.trim();
}

/** Full id of `rev` as a commit, or PAS_ERR_GIT. */
export async function resolveCommit(repo: string, rev: string): Promise<string> {
  return (await git(repo, ['rev-parse', '--verify', '--end-of-options', `${rev}^{commit}`])).stdout.trim();
}

/** The commit `ref` points at, or undefined when there is no such ref. Read through the repository's long-lived cat-file. */
export async function refCommit(repo: string, ref: string): Promise<string | undefined> {
  if (/[\n\r]/.test(ref)) return undefined;
  return (await (await objectStoreFor(repo)).read(ref))?.oid;
}

/** The haves that are commits this repository knows (a have from another repository's history is dropped). */
async function knownCommits(repo: string, haves: readonly string[]): Promise<string[]> {
  const candidates = [...new Set(haves.filter(isFullObjectId))];
  if (candidates.length === 0) return [];
  const out = await git(repo, ['cat-file', '--batch-check'], { input: candidates.map((h) => `${h}^{commit}`).join('\n') + '\n' });
  return out.stdout
    .split('\n')
    .map((line, i) => (/^[0-9a-f]+ commit /.test(line) ? candidates[i] : undefined))
    .filter((h): h is string => h !== undefined);
}

async function isAncestor(repo: string, ancestor: string, descendant: string): Promise<boolean> {
  const out = await git(repo, ['merge-base', '--is-ancestor', ancestor, descendant], { okCodes: [1] });
  return out.exitCode === 0;
}

/**
 * The base of a task as a bundle of `repo` at `commit`. With `haves` (commits the worker host
 * already holds for this repository), the bundle is incremental (`^have`); without, it is full.
 * The user's repository is only read: the bundle is cut from a scratch repository that borrows its
 * objects (git alternates), so no ref of the user's is created, even for a moment.
 */
export async function makeBaseBundle(repo: string, commit: string, opts: { haves?: readonly string[] } = {}): Promise<BaseBundle> {
  const full = await resolveCommit(repo, commit);
  const haves = await knownCommits(repo, opts.haves ?? []);
  for (const have of haves) {
    if (await isAncestor(repo, full, have)) return { bytes: null, full: false, commit: full, prerequisites: [] };
  }
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'pas-bundle-'));
  try {
    const bare = path.join(scratch, 'repo.git');
    const format = (await git(repo, ['rev-parse', '--show-object-format'])).stdout.trim();
    await git(scratch, ['init', '--bare', '-q', `--object-format=${format}`, bare]);
    await writeFile(path.join(bare, 'objects', 'info', 'alternates'), path.join(await gitCommonDir(repo), 'objects') + '\n');
    await git(bare, ['update-ref', BASE_BUNDLE_REF, full]);
    const file = path.join(scratch, 'base.bundle');
    await git(bare, ['bundle', 'create', '-q', file, BASE_BUNDLE_REF, ...haves.map((h) => `^${h}`)]);
    return { bytes: await readFile(file), full: haves.length === 0, commit: full, prerequisites: haves };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export interface ImportResultOptions {
  /** The commit the task started from: the bundle must hold a plain chain of commits on top of it. */
  base: string;
  /** The ref to create (`refs/heads/pas/<job>/<task>`); an existing one is never overwritten. */
  expectedRef: string;
  /** Names the attempt in refusals. */
  attemptId: string;
  /** The commit the worker said it made; the bundle's head must be exactly it. */
  commit?: string;
  /**
   * When the ref already points at exactly this bundle's commit (the same result delivered twice,
   * e.g. after a crash between the ref and the journal), answer that commit instead of refusing.
   */
  allowSame?: boolean;
  /** The timeline's probe (PAS_DIST_TIMELINE): hears `checked` (the objects judged) and `written` (on disk, the ref next). */
  onStep?: (step: 'checked' | 'written') => void;
}

/**
 * Verifies a worker's result bundle and writes its commit as `expectedRef`, create-only. Steps:
 * exactly one head, cut against the base alone (read from the header); then its objects checked
 * and written. A pack of whole commits, trees and blobs (what workers write) is read in-process
 * (result-import.ts: what `fetch.fsckObjects` checks, connectivity, the history a plain chain
 * base..commit: every commit with one parent, no foreign history, no merges) and the ref
 * created: no git process. Any other pack (deltas, tags: a bundle from `git bundle create`) is
 * stored by `git index-pack --strict` (indexResultPack), its history checked the same way, then
 * the ref created. Returns the commit. Refusals: PAS_ERR_DIST_BUNDLE_INVALID, PAS_ERR_DIST_REF_EXISTS.
 */
export async function importResultBundle(repo: string, bundle: Uint8Array, opts: ImportResultOptions): Promise<string> {
  const details = { attemptId: opts.attemptId, ref: opts.expectedRef };
  if (!(await isRefName(repo, opts.expectedRef))) throw bundleInvalid(`"${opts.expectedRef}" is not a valid full ref name`, details);
  const store = await objectStoreFor(repo);
  const base = /[\n\r]/.test(opts.base) ? null : await store.resolveCommit(opts.base);
  if (!base) throw bundleInvalid(`base ${opts.base} is not a commit of the repository`, details);
  const header = readBundleHeader(bundle);
  if (header.heads.length !== 1) throw bundleInvalid(`result bundle of ${opts.attemptId} has ${header.heads.length} heads, expected 1`, { ...details, heads: header.heads.map((h) => h.ref) });
  const { commit: head } = header.heads[0]!;
  if (opts.commit !== undefined && head !== opts.commit) throw bundleInvalid(`result bundle of ${opts.attemptId} holds ${head}, the result names ${opts.commit}`, { ...details, head, commit: opts.commit });
  // Cut against the base and nothing else: every commit of the chain travels in the bundle.
  if (header.prerequisites.length !== 1 || header.prerequisites[0] !== base) {
    throw bundleInvalid(`result bundle of ${opts.attemptId} is cut against ${header.prerequisites.join(', ') || 'nothing (a whole history)'}, not against its base ${base}`, { ...details, base, prerequisites: header.prerequisites });
  }
  const pack = bundle.subarray(header.packOffset);
  const own = await importPackInProcess(store, pack, { base, head, attemptId: opts.attemptId, details, ...(opts.onStep ? { onStep: opts.onStep } : {}) });
  if (!own) {
    opts.onStep?.('written');
    return (await createResultRef(store, repo, opts, head, details)).head;
  }
  return indexResultPack(repo, store, pack, head, base, opts, details);
}

/** The ref of a checked result, create-only; an existing one at `head` is taken when `allowSame`. */
async function createResultRef(store: RepoObjectStore, repo: string, opts: ImportResultOptions, head: string, details: Record<string, unknown>): Promise<{ head: string }> {
  try {
    await store.updateRefs([`create ${opts.expectedRef} ${head}`]);
    return { head };
  } catch (err) {
    const existing = await refCommit(repo, opts.expectedRef);
    if (existing && opts.allowSame && existing === head) return { head };
    if (existing) throw new PasError('PAS_ERR_DIST_REF_EXISTS', `${opts.expectedRef} already exists (at ${existing}); the result of ${opts.attemptId} (${head}) is not written`, { details: { ...details, existing, incoming: head }, cause: err });
    throw err;
  }
}

/**
 * A pack the in-process reader leaves to git (deltas against the base, tags: a bundle from
 * `git bundle create`): `git index-pack --strict --fix-thin` stores it, checking every object as
 * `fetch.fsckObjects` does and that everything it names is there. (`git fetch` of a bundle file
 * checks neither before git 2.46.) The objects stay unreferenced until the ref is created.
 */
async function indexResultPack(repo: string, store: RepoObjectStore, pack: Uint8Array, head: string, base: string, opts: ImportResultOptions, details: Record<string, unknown>): Promise<string> {
  try {
    await git(repo, ['index-pack', '--strict', '--fix-thin', '--stdin'], { input: pack, lock: 'shared' });
  } catch (err) {
    throw bundleInvalid(`result bundle of ${opts.attemptId} does not verify: ${isPasError(err) ? err.message.split('\n').slice(0, 4).join(' ') : String(err)}`, details, err);
  }
  const chain = await plainChain((oid) => store.read(oid), base, head);
  if ('problem' in chain) throw bundleInvalid(chain.problem, { ...details, base, head, ...(chain.commit ? { commit: chain.commit } : {}) });
  return (await createResultRef(store, repo, opts, head, details)).head;
}

/** A name git takes as a full ref: one PAS writes (`refs/heads/pas/<job>/<task>`) is checked here, anything else by git. */
async function isRefName(repo: string, ref: string): Promise<boolean> {
  if (!ref.startsWith('refs/')) return false;
  // A strict subset of git's rules (check-ref-format): such a name is valid without asking git.
  const plain = /^refs(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)+$/.test(ref) && !ref.includes('..') && !ref.split('/').some((c) => c.endsWith('.') || c.endsWith('.lock'));
  return plain || (await git(repo, ['check-ref-format', ref], { okCodes: [1] })).exitCode === 0;
}

/**
 * Removes the quarantine refs an import cut off by a crash (kill -9) left in `repo` (imports of
 * earlier versions fetched into them). Call it at
 * start-up, before any import runs; answers how many it removed.
 */
export async function sweepQuarantineRefs(repo: string): Promise<number> {
  const refs = (await git(repo, ['for-each-ref', '--format=%(refname)', QUARANTINE])).stdout.split('\n').filter(Boolean);
  if (refs.length > 0) await git(repo, ['update-ref', '--stdin'], { input: refs.map((r) => `delete ${r}\n`).join(''), lock: 'exclusive' });
  return refs.length;
}
