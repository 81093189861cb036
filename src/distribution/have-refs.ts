/**
 * A worker clone's have refs (`refs/pas/haves/<commit>`): the commits it holds on purpose (bases
 * it was sent, results it made), which a registration reports (the newest 32 by committer date)
 * so the central process cuts smaller base bundles. They only tell what the clone holds: one
 * lagging, lost or swept costs a bigger base bundle later, never a wrong result. A base's have
 * also keeps the base's objects while tasks run on it.
 *
 * A result's have is one new ref, written after its bundle is answered: nothing more on a task's
 * path (slot refs overwritten in place measured ~2 ms more worker CPU a task, same-slot writes
 * failing their batched transaction; a pruning there ~0.1 s each). Old haves are swept where a
 * worker does git work anyway, in the clone's queue before a base is made ready: the first time
 * a process does so in a clone, and again once it wrote `kept` results there since the last
 * sweep. A sweep keeps the newest `kept` haves and the bases the process trusts as ready, so a
 * clone holds at most about twice `kept` plus the results of one base's tasks. The objects of a
 * have swept stay until git's own gc expires them (two weeks by default); a base gone by then is
 * fetched anew from a bundle (PAS_ERR_DIST_BUNDLE_MISSING asks the central process for a full one).
 */
import { git } from '../executors/git-command.ts';
import type { RepoObjectStore } from '../executors/object-store.ts';

export const HAVES = 'refs/pas/haves';
/** The have refs a sweep keeps (beside the bases in use). */
export const HAVES_KEPT = 256;
const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** Told when the have ref of a result could not be written. */
export type HaveFailed = (commit: string, err: unknown) => void;

export interface HaveRefsOptions {
  /** The have refs a sweep keeps (HAVES_KEPT). */
  kept?: number;
  onFailed?: HaveFailed;
  /** A sweep that failed (the refs stay; tried again at a later base). */
  onSweepFailed?: (err: unknown) => void;
}

/** Have writes still running, of every HaveRefs (a listing of haves waits for them). */
const writing = new Set<Promise<void>>();

export class HaveRefs {
  private readonly kept: number;
  /** Results' haves written since the last sweep, by the clone's store; a clone not in it was never swept by this process. */
  private readonly sinceSwept = new Map<RepoObjectStore, number>();

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
    const since = this.sinceSwept.get(store);
    if (since !== undefined) this.sinceSwept.set(store, since + 1);
    const write: Promise<void> = store
      .updateRefs([`update ${HAVES}/${commit} ${commit}`])
      .catch((err: unknown) => this.options.onFailed?.(commit, err))
      .finally(() => writing.delete(write));
    writing.add(write);
  }

  /** Resolves once every have write started so far (by any HaveRefs) is done or failed. */
  async settled(): Promise<void> {
    await Promise.all([...writing]);
  }

  /** Whether the clone is due a sweep: never swept by this process, or `kept` results written since. */
  sweepDue(store: RepoObjectStore): boolean {
    const since = this.sinceSwept.get(store);
    return since === undefined || since >= this.kept;
  }

  /**
   * Deletes all but the newest `kept` haves of the clone and the haves of `inUse` (the bases the
   * caller trusts as ready). Run it in the clone's queue, so no base is made ready meanwhile. A
   * base bundle's staging ref (`incoming-…`) is not a have and is never touched. Each delete names
   * the commit listed: a ref gone meanwhile fails the sweep whole (told to `onSweepFailed`).
   */
  async sweep(store: RepoObjectStore, inUse: ReadonlySet<string>): Promise<void> {
    this.sinceSwept.set(store, 0);
    try {
      // The have writes started so far are listed (and so never deleted half-written).
      await this.settled();
      const listed = await git(store.repo, ['for-each-ref', '--sort=-committerdate', '--format=%(objectname) %(refname)', `${HAVES}/`]);
      const haves = listed.stdout
        .split('\n')
        .map((line) => line.split(' '))
        .filter((pair): pair is [string, string] => pair.length === 2 && COMMIT.test(pair[0]!) && pair[1] === `${HAVES}/${pair[0]}`);
      const gone = haves.slice(this.kept).filter(([oid]) => !inUse.has(oid));
      if (gone.length === 0) return;
      await git(store.repo, ['update-ref', '--stdin'], { input: gone.map(([oid, ref]) => `delete ${ref} ${oid}\n`).join(''), lock: 'shared' });
    } catch (err) {
      this.options.onSweepFailed?.(err);
    }
  }
}
