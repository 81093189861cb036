/**
 * A worker clone's have refs (`refs/pas/haves/<commit>`): the commits it holds on purpose (bases
 * it was sent, results it made), which a registration reports (the newest 32 by committer date)
 * so the central process cuts smaller base bundles. They only tell what the clone holds: one
 * lagging, lost or swept costs a bigger base bundle later, never a wrong result. A base's have
 * also keeps the base's objects while tasks run on it.
 *
 * A result's have is one new ref, written after its bundle is answered: nothing more on a task's
 * path (slot refs overwritten in place measured ~2 ms more worker CPU a task, likely same-slot
 * writes failing their batched transaction; a pruning there ~0.1 s each). Old haves are swept where a
 * worker does git work anyway, in the clone's queue before a base is made ready: the first time
 * a process does so in a clone, and again once it wrote `kept` results there since the last
 * sweep. A sweep keeps the newest `kept` haves, the bases the process trusts as ready and the
 * one being made ready, so a clone holds at most about twice `kept`, plus the results of one
 * base's tasks and one have per base the process made ready there. The objects of a have swept
 * become unreachable and go at a later gc once older than its expiry (two weeks by default); a
 * base gone by then is fetched anew from a bundle (PAS_ERR_DIST_BUNDLE_MISSING asks the central
 * process for a full one).
 */
import { git } from '../executors/git-command.ts';
import type { RepoObjectStore } from '../executors/object-store.ts';
import { isFullObjectId } from '../executors/object-id.ts';

export const HAVES = 'refs/pas/haves';
/** The have refs a sweep keeps (beside the bases in use). */
export const HAVES_KEPT = 256;

/** Told when the have ref of a result could not be written. */
export type HaveFailed = (commit: string, err: unknown) => void;

export interface HaveRefsOptions {
  /** The have refs a sweep keeps (HAVES_KEPT). */
  kept?: number;
  onFailed?: HaveFailed;
  /** A sweep that failed (the refs stay; tried again at a base after `kept` more results). */
  onSweepFailed?: (err: unknown) => void;
}

/** Have writes still running, of every HaveRefs, by the clone's repository (a listing of haves waits for them). */
const writing = new Map<string, Set<Promise<void>>>();

export class HaveRefs {
  private readonly kept: number;
  /** Results' haves written since the last sweep, by the clone's repository; a clone not in it was never swept by this process. */
  private readonly sinceSwept = new Map<string, number>();

  constructor(private readonly options: HaveRefsOptions = {}) {
    const kept = options.kept ?? HAVES_KEPT;
    if (!Number.isInteger(kept) || kept < 1) throw new RangeError(`kept must be a whole number of at least 1, got ${kept}`);
    this.kept = kept;
  }

  /**
   * Writes the have of a result in the background (the result does not wait for it; its objects
   * are on disk already, and a have a base bundle names is looked up by object, not by ref).
   */
  writeSoon(store: RepoObjectStore, commit: string): void {
    const since = this.sinceSwept.get(store.repo);
    if (since !== undefined) this.sinceSwept.set(store.repo, since + 1);
    const pending = writing.get(store.repo) ?? new Set<Promise<void>>();
    writing.set(store.repo, pending);
    const write: Promise<void> = store
      .updateRefs([`update ${HAVES}/${commit} ${commit}`])
      .catch((err: unknown) => this.options.onFailed?.(commit, err))
      .finally(() => {
        pending.delete(write);
        if (pending.size === 0 && writing.get(store.repo) === pending) writing.delete(store.repo);
      });
    pending.add(write);
  }

  /** Resolves once every have write started so far (by any HaveRefs; in `repo` alone, when given) is done or failed. */
  async settled(repo?: string): Promise<void> {
    const sets = repo === undefined ? [...writing.values()] : [writing.get(repo) ?? new Set<Promise<void>>()];
    await Promise.all(sets.flatMap((set) => [...set]));
  }

  /** Whether the clone is due a sweep: never swept by this process, or `kept` results written since. */
  sweepDue(store: RepoObjectStore): boolean {
    const since = this.sinceSwept.get(store.repo);
    return since === undefined || since >= this.kept;
  }

  /**
   * Deletes all but the newest `kept` haves of the clone and the haves of `inUse` (the bases the
   * caller trusts as ready, and the one it makes ready). Run it in the clone's queue, so no base is
   * made ready meanwhile. A
   * base bundle's staging ref (`incoming-…`) is not a have and is never touched. Each delete names
   * the commit listed: a ref gone meanwhile fails the sweep whole (told to `onSweepFailed`).
   */
  async sweep(store: RepoObjectStore, inUse: ReadonlySet<string>): Promise<void> {
    this.sinceSwept.set(store.repo, 0);
    try {
      // The clone's have writes started so far are listed: the newest results count among the kept.
      await this.settled(store.repo);
      const listed = await git(store.repo, ['for-each-ref', '--sort=-committerdate', '--format=%(objectname) %(refname)', `${HAVES}/`]);
      const haves = listed.stdout
        .split('\n')
        .map((line) => line.split(' '))
        .filter((pair): pair is [string, string] => pair.length === 2 && isFullObjectId(pair[0]!) && pair[1] === `${HAVES}/${pair[0]}`);
      const gone = haves.slice(this.kept).filter(([oid]) => !inUse.has(oid));
      if (gone.length === 0) return;
      await git(store.repo, ['update-ref', '--stdin'], { input: gone.map(([oid, ref]) => `delete ${ref} ${oid}\n`).join(''), lock: 'shared' });
    } catch (err) {
      this.options.onSweepFailed?.(err);
    }
  }
}
