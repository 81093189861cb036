/**
 * Waits for a pause in some activity: `until()` resolves true once `note()` was not called for
 * `quietMs`, or once `maxMs` passed since it was asked (an activity without pauses still lets the
 * waiter run), and false when `cancel()` came first or after `close()`. Housekeeping that can run
 * late (a background fold of a repository's packs) waits for it, so it does not take the CPU from
 * a burst of tasks. A second `until()` while one waits joins it. The timer does not keep the
 * process alive.
 */
import { performance } from 'node:perf_hooks';

export class QuietWait {
  private lastAt = Number.NEGATIVE_INFINITY;
  private closed = false;
  private waiting: { promise: Promise<boolean>; resolve: (run: boolean) => void; timer?: NodeJS.Timeout } | undefined;

  constructor(
    /** The pause waited for, in ms. */
    public quietMs: number,
    /** The longest wait, in ms. */
    public maxMs: number,
  ) {}

  /** The activity happened now. */
  note(): void {
    this.lastAt = performance.now();
  }

  /** True once the activity paused for `quietMs` (or `maxMs` passed); false when cancelled first, or closed. */
  until(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.waiting) return this.waiting.promise;
    const askedAt = performance.now();
    let resolve!: (run: boolean) => void;
    const promise = new Promise<boolean>((r) => (resolve = r));
    const wait: NonNullable<QuietWait['waiting']> = { promise, resolve };
    this.waiting = wait;
    const check = () => {
      const now = performance.now();
      const left = Math.min(this.quietMs - (now - this.lastAt), this.maxMs - (now - askedAt));
      // Not more than zero (NaN included: a bad setting ends the wait, never loops).
      if (!(left > 0)) {
        this.waiting = undefined;
        resolve(true);
        return;
      }
      wait.timer = setTimeout(check, Math.ceil(left));
      wait.timer.unref();
    };
    check();
    return promise;
  }

  /** Ends the wait under way, if any: it resolves false; a later `until()` waits anew. */
  cancel(): void {
    const wait = this.waiting;
    if (!wait) return;
    this.waiting = undefined;
    clearTimeout(wait.timer);
    wait.resolve(false);
  }

  /** Ends the wait under way and every later one: each resolves false (its owner is closing). */
  close(): void {
    this.closed = true;
    this.cancel();
  }
}
