/**
 * Code without a shared filesystem, worker side: one cached clone per repository under the
 * worker's data dir, fed by the base bundles the central process sends (full once, incremental
 * after), and the result of a task cut as a bundle of base..commit. The worker never writes a ref
 * of the user's repository; it only ever sees bundles.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PasError, isPasError } from '../errors.ts';
import { git } from '../executors/git-command.ts';
import { objectStoreFor } from '../executors/object-store.ts';
import { readBundleHeader } from './bundle-header.ts';
import { HAVES, HaveRefs, type HaveRefsOptions } from './have-refs.ts';
import { writeResultBundle } from './result-bundle-writer.ts';
import { isFullObjectId } from '../executors/object-id.ts';

const BASE_REF = 'refs/pas/base';
const REPO_KEY = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
/** The have refs of results made outside a WorkerRepoCache (its own keeps its clones'). */
const defaultHaves = new HaveRefs();

async function hasCommit(repo: string, commit: string): Promise<boolean> {
  const out = await git(repo, ['cat-file', '-e', `${commit}^{commit}`], { okCodes: [1, 128] });
  return out.exitCode === 0;
}

function assertCommit(what: string, commit: string): void {
  if (!isFullObjectId(commit)) throw new PasError('PAS_ERR_DIST_BUNDLE_INVALID', `${what} "${commit}" is not a full commit id`, { details: { [what]: commit } });
}

/**
 * The result of a task as a bundle of `base..commit` from the worker's clone (or a worktree or
 * checkout of it), with one head (`refs/pas/result/<commit>`). The commit stays there as a have.
 * A plain chain of commits on base (every task's result) is written in-process
 * (result-bundle-writer.ts): no git process, and its have ref is written after the bundle is
 * answered (`haves`: have-refs.ts). Anything else is cut by `git bundle create` (the central
 * process judges it), its have written the same way once the bundle is read. Refs move through the
 * clone's long-lived `update-ref --stdin`.
 */
export async function makeResultBundle(clonePath: string, base: string, commit: string, haves: HaveRefs = defaultHaves): Promise<Uint8Array> {
  assertCommit('base', base);
  assertCommit('commit', commit);
  if (base === commit) throw new PasError('PAS_ERR_DIST_BUNDLE_INVALID', 'the result commit is its base: there is nothing to send', { details: { base, commit } });
  const store = await objectStoreFor(clonePath);
  const ref = `refs/pas/result/${commit}`;
  const written = await writeResultBundle(store, base, commit, ref);
  if (written) {
    haves.writeSoon(store, commit);
    return written;
  }
  if ((await git(clonePath, ['merge-base', '--is-ancestor', base, commit], { okCodes: [1] })).exitCode !== 0) {
    throw new PasError('PAS_ERR_DIST_BUNDLE_INVALID', `result ${commit} is not built on base ${base}`, { details: { base, commit } });
  }
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'pas-result-'));
  try {
    await store.updateRefs([`update ${ref} ${commit}`]);
    const file = path.join(scratch, 'result.bundle');
    await git(clonePath, ['bundle', 'create', '-q', file, ref, `^${base}`]);
    const bytes = await readFile(file);
    // Its have as any result's (counted toward the next sweep), queued before the ref's delete.
    haves.writeSoon(store, commit);
    return bytes;
  } finally {
    await store.updateRefs([`delete ${ref}`]).catch(() => {});
    await rm(scratch, { recursive: true, force: true });
  }
}

/** A base bundle, none (null), or how to fetch it when the clone turns out to lack the base. */
export type BundleSource = Uint8Array | null | (() => Promise<Uint8Array | null>);

export class WorkerRepoCache {
  private readonly queues = new Map<string, Promise<unknown>>();
  /** `repoKey:base` pairs this process has made ready (the base's have keeps it). */
  private readonly ready = new Set<string>();
  private readonly haveRefs: HaveRefs;

  /**
   * `dataDir` is the worker's own (`pas worker --data-dir`); clones live in `<dataDir>/repos/<repoKey>`.
   * `haves`: how many have refs a clone keeps (have-refs.ts) and who hears one not written or a
   * sweep that failed.
   */
  constructor(
    readonly dataDir: string,
    haves: HaveRefsOptions = {},
  ) {
    this.haveRefs = new HaveRefs(haves);
  }

  clonePath(repoKey: string): string {
    if (!REPO_KEY.test(repoKey)) throw new PasError('PAS_ERR_DIST_BAD_MESSAGE', `repository key "${repoKey}" is not letters, digits, - and _`, { details: { field: 'repo_key', repoKey } });
    return path.join(this.dataDir, 'repos', repoKey);
  }

  /**
   * The path of the cached clone of `repoKey`, holding `baseCommit`. A `bundle` (null when the
   * central process believes the cache has the base) is verified and fetched in first. Given as a
   * function, it is asked for only when the clone lacks the base: the tasks of a burst on a new
   * base all name its bundle, and only the first one fetches it from the object store. Missing
   * base and no bundle, or a bundle whose prerequisites the cache lacks: PAS_ERR_DIST_BUNDLE_MISSING
   * (the central process then sends a full bundle); a corrupt bundle or one not holding the base:
   * PAS_ERR_DIST_BUNDLE_INVALID. Calls for one repository run one at a time.
   */
  ensureBase(repoKey: string, bundle: BundleSource, baseCommit: string): Promise<string> {
    const dir = this.clonePath(repoKey);
    assertCommit('base', baseCommit);
    // Already made ready by this process (its have keeps it): no git, no queue.
    const ready = `${repoKey}:${baseCommit}`;
    if (this.ready.has(ready) && existsSync(path.join(dir, '.git'))) return Promise.resolve(dir);
    return this.serial(repoKey, async () => {
      // The clone is gone (its cache was wiped): nothing made ready before holds any more.
      if (!existsSync(path.join(dir, '.git'))) {
        for (const key of this.ready) if (key.startsWith(`${repoKey}:`)) this.ready.delete(key);
      } else if (this.ready.has(ready)) {
        // Made ready while this call waited in the queue (tasks on a new base arrive together): no git again.
        return dir;
      } else {
        // A base to make ready: git work anyway, the moment to sweep old haves when due (have-refs.ts).
        const store = await objectStoreFor(dir);
        if (this.haveRefs.sweepDue(store)) await this.haveRefs.sweep(store, new Set([...this.basesReady(repoKey), baseCommit]));
      }
      const done = await this.fetchBase(dir, repoKey, bundle, baseCommit);
      this.ready.add(ready);
      return done;
    });
  }

  /** The bases of `repoKey` this process made ready (their haves keep them). */
  private basesReady(repoKey: string): Set<string> {
    const prefix = `${repoKey}:`;
    return new Set([...this.ready].filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length)));
  }

  /** What ensureBase does in the repository's queue: the clone made, the base found in it or fetched from the bundle. */
  private async fetchBase(dir: string, repoKey: string, source: BundleSource, baseCommit: string): Promise<string> {
    const cloned = existsSync(path.join(dir, '.git'));
    if (cloned && (await hasCommit(dir, baseCommit))) {
      await git(dir, ['update-ref', `${HAVES}/${baseCommit}`, baseCommit], { lock: 'shared' });
      return dir;
    }
    const bundle = typeof source === 'function' ? await source() : source;
    const header = bundle ? readBundleHeader(bundle) : undefined;
    if (!cloned) {
      await mkdir(dir, { recursive: true });
      // The clone hashes like the repository it caches (sha256 repositories send v3 bundles saying so).
      await git(dir, ['init', '-q', `--object-format=${header?.objectFormat ?? 'sha1'}`]);
    }
    if (!bundle || !header) throw new PasError('PAS_ERR_DIST_BUNDLE_MISSING', `the cache of ${repoKey} lacks base ${baseCommit} and no bundle came with the task`, { details: { repoKey, base: baseCommit } });
    const scratch = await mkdtemp(path.join(dir, '.git', 'pas-base-'));
    try {
      const file = path.join(scratch, 'base.bundle');
      await writeFile(file, bundle);
      const lacking = [];
      for (const pre of header.prerequisites) if (!(await hasCommit(dir, pre))) lacking.push(pre);
      if (lacking.length > 0) {
        throw new PasError('PAS_ERR_DIST_BUNDLE_MISSING', `base bundle for ${repoKey} needs ${lacking.length} commit(s) this cache lacks; a full bundle is needed`, { details: { repoKey, base: baseCommit, lacking } });
      }
      if (!header.heads.some((h) => h.ref === BASE_REF)) throw new PasError('PAS_ERR_DIST_BUNDLE_INVALID', `base bundle for ${repoKey} carries no ${BASE_REF}`, { details: { repoKey, base: baseCommit } });
      const staging = `${HAVES}/incoming-${path.basename(scratch)}`;
      try {
        await git(dir, ['bundle', 'verify', file]);
        await git(dir, ['-c', 'fetch.fsckObjects=true', 'fetch', '--no-tags', '--no-write-fetch-head', '-q', file, `+${BASE_REF}:${staging}`], { lock: 'shared' });
      } catch (err) {
        await git(dir, ['update-ref', '-d', staging], { lock: 'shared' }).catch(() => {});
        throw new PasError('PAS_ERR_DIST_BUNDLE_INVALID', `base bundle for ${repoKey} does not verify: ${isPasError(err) ? err.message.split('\n').slice(0, 4).join(' ') : String(err)}`, { details: { repoKey, base: baseCommit }, cause: err });
      }
      const got = (await git(dir, ['rev-parse', '--verify', staging])).stdout.trim();
      await git(dir, ['update-ref', '-d', staging], { lock: 'shared' });
      if (got !== baseCommit) throw new PasError('PAS_ERR_DIST_BUNDLE_INVALID', `base bundle for ${repoKey} holds ${got}, the task's base is ${baseCommit}`, { details: { repoKey, base: baseCommit, got } });
      await git(dir, ['update-ref', `${HAVES}/${baseCommit}`, baseCommit], { lock: 'shared' });
      return dir;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** The result of a task in `clonePath` (a clone of this cache, or a worktree of one) as a bundle. */
  makeResultBundle(clonePath: string, base: string, commit: string): Promise<Uint8Array> {
    return makeResultBundle(clonePath, base, commit, this.haveRefs);
  }

  /** Resolves once the have refs of the results answered so far are written (or failed): a stopping worker waits for them. */
  settled(): Promise<void> {
    return this.haveRefs.settled();
  }

  /** Commits each cached repository holds on purpose (for `pas.v1.register`'s `repo_haves`), newest first, at most `limit` each. */
  async haves(limit = 32): Promise<Record<string, string[]>> {
    const root = path.join(this.dataDir, 'repos');
    if (!existsSync(root)) return {};
    const out: Record<string, string[]> = {};
    // The have writes of results answered before the listing end first (one that failed is missing).
    await this.haveRefs.settled();
    for (const key of await readdir(root)) {
      if (!REPO_KEY.test(key) || !existsSync(path.join(root, key, '.git'))) continue;
      // Several refs may name one commit (a base's staging ref): `limit` distinct commits.
      const refs = await git(path.join(root, key), ['for-each-ref', '--sort=-committerdate', '--format=%(objectname)', HAVES]);
      const commits = [...new Set(refs.stdout.split('\n').filter(isFullObjectId))].slice(0, limit);
      if (commits.length > 0) out[key] = commits;
    }
    return out;
  }

  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => {});
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return next;
  }
}
