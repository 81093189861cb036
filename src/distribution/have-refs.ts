/**
 * A worker clone's have refs: the commits it holds on purpose, which a registration reports (the
 * newest 32 by committer date) so the central process cuts smaller base bundles. They only tell
 * what the clone holds: one lagging, lost or overwritten costs a bigger base bundle later, never
 * a wrong result.
 *
 * Bounded by construction, with no pruning on a task's path:
 * - a result's have is `refs/pas/haves/results/<slot>`, the slot taken from its commit id among
 *   `results` slots (256): a new result overwrites the one that had its slot, so a clone holds at
 *   most that many, however long its worker runs or often it restarts, and the newest ones are
 *   almost all there (the central process remembers 16 a host);
 * - a base's have is `refs/pas/haves/bases/<commit>`: it keeps the base's objects while tasks run
 *   on it. One is added per base a process is sent (one per job, not per task); the first time a
 *   process makes a base ready in a clone it sweeps the clone down to the newest `bases` (64) base
 *   haves, and deletes the have refs of earlier PAS versions (`refs/pas/haves/<commit>`, one a
 *   result).
 * The objects of a have gone stay until git's own gc expires them (two weeks by default); a base
 * gone by then is fetched anew from a bundle (PAS_ERR_DIST_BUNDLE_MISSING asks for a full one).
 */
import { git } from '../executors/git-command.ts';
import type { RepoObjectStore } from '../executors/object-store.ts';

export const HAVES = 'refs/pas/haves';
/** Result haves a clone keeps (slots). */
export const RESULT_HAVES = 256;
/** Base haves a clone keeps from one process to the next. */
export const BASE_HAVES = 64;
const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** Told when the have ref of a result could not be written. */
export type HaveFailed = (commit: string, err: unknown) => void;

export interface HaveRefsOptions {
  /** Result haves a clone keeps (RESULT_HAVES). */
  results?: number;
  /** Base haves a clone keeps from one process to the next (BASE_HAVES). */
  bases?: number;
  onFailed?: HaveFailed;
  /** A sweep that failed (the refs stay; tried again by the next process). */
  onSweepFailed?: (err: unknown) => void;
}

export class HaveRefs {
  private readonly results: number;
  private readonly bases: number;
  /** Have writes still running, in any clone. */
  private readonly writing = new Set<Promise<void>>();
  /** Clones swept by this process, by path. */
  private readonly swept = new Map<string, Promise<void>>();

  constructor(private readonly options: HaveRefsOptions = {}) {
    this.results = Math.max(1, Math.floor(options.results ?? RESULT_HAVES));
    this.bases = Math.max(1, Math.floor(options.bases ?? BASE_HAVES));
  }

  /** The ref that holds a result's have: its slot. */
  resultRef(commit: string): string {
    return `${HAVES}/results/${Number.parseInt(commit.slice(0, 8), 16) % this.results}`;
  }

  /** The ref that holds a base's have. */
  baseRef(commit: string): string {
    return `${HAVES}/bases/${commit}`;
  }

  /**
   * Writes the have of a result in the background (the result does not wait for it; its objects
   * are on disk already, and a have a base bundle names is looked up by object, not by ref).
   */
  writeSoon(store: RepoObjectStore, commit: string): void {
    const write: Promise<void> = store
      .updateRefs([`update ${this.resultRef(commit)} ${commit}`])
      .catch((err: unknown) => this.options.onFailed?.(commit, err))
      .finally(() => this.writing.delete(write));
    this.writing.add(write);
  }

  /** Resolves once every have write started so far is done or failed. */
  async settled(): Promise<void> {
    await Promise.all([...this.writing]);
  }

  /**
   * Once per clone and process, before its first base is made ready: deletes all but the newest
   * `bases` base haves and every have ref of an earlier version. A base bundle's staging ref
   * (`incoming-…`) is neither and is never touched. The caller runs it in the clone's queue, so
   * no base of this process is made ready meanwhile; each delete names the commit listed, so a ref
   * gone or moved meanwhile fails the sweep whole (told to `onSweepFailed`; the next process tries).
   */
  sweepOnce(clone: string): Promise<void> {
    let sweep = this.swept.get(clone);
    if (!sweep) {
      sweep = this.sweep(clone);
      this.swept.set(clone, sweep);
    }
    return sweep;
  }

  private async sweep(clone: string): Promise<void> {
    try {
      const listed = await git(clone, ['for-each-ref', '--sort=-committerdate', '--format=%(objectname) %(refname)', `${HAVES}/`]);
      const refs = listed.stdout
        .split('\n')
        .map((line) => line.split(' '))
        .filter((pair): pair is [string, string] => pair.length === 2 && COMMIT.test(pair[0]!));
      const earlier = refs.filter(([oid, ref]) => ref === `${HAVES}/${oid}`);
      const bases = refs.filter(([oid, ref]) => ref === this.baseRef(oid));
      const gone = [...earlier, ...bases.slice(this.bases)];
      if (gone.length === 0) return;
      await git(clone, ['update-ref', '--stdin'], { input: gone.map(([oid, ref]) => `delete ${ref} ${oid}\n`).join(''), lock: 'shared' });
    } catch (err) {
      this.options.onSweepFailed?.(err);
    }
  }
}
