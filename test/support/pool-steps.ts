/** The pool's transition function driven by hand in unit tests: events in, deliveries collected. */
import type { TaskSpec } from '../../machines/domain.ts';
import { poolStep, type Delivery, type PoolContext, type PoolEvent } from '../../machines/pool.machine.ts';

/** Runs `events` through poolStep from `ctx`: the context after them and every delivery they made. */
export function runPool(ctx: PoolContext, ...events: PoolEvent[]): { ctx: PoolContext; deliveries: Delivery[] } {
  const deliveries: Delivery[] = [];
  for (const event of events) {
    const step = poolStep(ctx, event);
    ctx = step.context;
    deliveries.push(...step.deliveries);
  }
  return { ctx, deliveries };
}

/** `task@programmer` for each task the deliveries assign. */
export const assigned = (deliveries: readonly Delivery[]): string[] => deliveries.flatMap((x) => (x.event.type === 'task.assigned' ? [`${x.event.task.id}@${x.to}`] : []));

/** The deliveries that end a task (to whoever submitted it). */
export const finished = (deliveries: readonly Delivery[]): Delivery[] => deliveries.filter((x) => x.event.type === 'task.finished');

/** A task of job J1 submitted by Mgr-1. */
export const poolTask = (id: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({ id, jobId: 'J1', managerId: 'Mgr-1', replyTo: 'job:J1', instruction: id, files: [], ...extra });
