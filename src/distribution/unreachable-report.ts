/**
 * What the pool hears of remote programmers it must not give work to: the whole list of those
 * whose worker cannot be reached now (offline, not started), each time it changes. A programmer
 * it would dispatch to anyway fails at once, and its retries with it.
 */
import type { Logger } from 'pino';
import type { WorkerLiveness } from './worker-liveness.ts';

export interface UnreachableReport {
  /** Says the list again if it changed (run whenever reachability may have). */
  refresh(): void;
}

export function reportUnreachable(remoteIds: ReadonlySet<string>, liveness: Pick<WorkerLiveness, 'reachable'>, logger: Logger, tell: (programmerIds: string[]) => void): UnreachableReport {
  let told: string | undefined;
  const refresh = () => {
    const reachable = liveness.reachable();
    const unreachable = [...remoteIds].filter((id) => !reachable.has(id)).sort();
    const key = unreachable.join(',');
    if (key === told) return;
    told = key;
    logger.info({ component: 'distribution', unreachable }, unreachable.length ? 'programmers whose worker is not reachable get no work' : 'every remote programmer is reachable');
    tell(unreachable);
  };
  refresh();
  return { refresh };
}
