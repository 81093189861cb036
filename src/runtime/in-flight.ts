/**
 * The activities still running (task executions with their executor's processes, plans, merges,
 * verify runs, lane classifications), so that stopping the runtime can wait for them. Stopping
 * the actor system aborts each one's signal: executors kill their process trees (SIGTERM, then
 * SIGKILL after their kill grace) and git work stops at its next checkpoint. The wait is bounded:
 * a run that ignores its signal past `graceMs` is left behind (and named in the log) rather than
 * holding the stop forever.
 */
import type { Logger } from 'pino';

/** How long a stop waits for aborted runs to end (above every executor's kill grace). */
export const STOP_GRACE_MS = 10_000;

export interface InFlight {
  /** Counts `run` as running until it settles; returns it unchanged. */
  track<T>(run: Promise<T>): Promise<T>;
  /** How many runs are still going. */
  readonly size: number;
  /** Resolves once every run has settled, or after `graceMs`; returns how many are still going. */
  settled(graceMs?: number): Promise<number>;
}

export function createInFlight(logger?: Logger): InFlight {
  const runs = new Set<Promise<unknown>>();
  return {
    track(run) {
      const done = run.then(
        () => undefined,
        () => undefined,
      );
      runs.add(done);
      void done.then(() => runs.delete(done));
      return run;
    },
    get size() {
      return runs.size;
    },
    async settled(graceMs = STOP_GRACE_MS) {
      if (runs.size === 0) return 0;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      // Runs started while the others wind down (a re-dispatch waiting on its predecessor) count too.
      while (runs.size > 0) {
        const first = await Promise.race([Promise.all([...runs]).then(() => false), late.then(() => true)]);
        if (first) break;
      }
      clearTimeout(timer);
      if (runs.size > 0) logger?.warn({ running: runs.size, graceMs }, 'runs still going after the stop grace were left behind');
      return runs.size;
    },
  };
}
