/**
 * An executor that starts only once the task's attempt is known to be current: a worker asks the
 * broker for the attempt at once on a first delivery but does not wait for the answer before
 * making the base and the checkout (worker.ts), so that round trip is off the task's path, while
 * nothing is run (no model called, no agent CLI started) for an attempt that is not current.
 */
import { PasError } from '../errors.ts';
import type { Executor } from '../executors/executor.ts';

/** `executor`, whose run waits for `current`: false (or a failure to know) fails it with PAS_ERR_DIST_STALE_RESULT, unrun. */
export function gatedExecutor(executor: Executor, current: Promise<boolean>, attemptId: string): Executor {
  const gated = Object.create(executor) as Executor & { run: Executor['run'] };
  gated.run = async (input) => {
    if (!(await current.catch(() => false))) throw new PasError('PAS_ERR_DIST_STALE_RESULT', `attempt ${attemptId} is no longer current: not run`, { details: { attemptId } });
    return executor.run(input);
  };
  return gated;
}
