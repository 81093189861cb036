/**
 * Pure routing decisions of the pool: which programmer gets a task.
 */
import type { TaskSpec } from './domain.ts';

export type Strategy = 'least_loaded' | 'round_robin' | 'capability_match';

export type ProgrammerStatus = 'idle' | 'busy' | 'failed' | 'quarantined';

export interface PoolMember {
  id: string;
  capabilities: string[];
  /** The primary model is free (local). */
  free: boolean;
  /** The provider of its primary model (the pool holds work back while it is saturated). */
  provider?: string;
  status: ProgrammerStatus;
  taskId: string | null;
  /** Tasks given to it so far (the load least_loaded balances). */
  assigned: number;
  completed: number;
  failed: number;
}

export interface RoutingPolicy {
  strategy: Strategy;
  preferFree: boolean;
  /** capability → programmer ids that also serve it (capability_routing). */
  capabilityRouting: Record<string, string[]>;
  budgetExhausted: boolean;
  /** Providers that cannot take more calls right now: their programmers get no new work. */
  saturated?: readonly string[];
  /** Programmers whose host cannot be reached now: no new work until it can. */
  unreachable?: readonly string[];
}

export function hasCapabilities(member: Pick<PoolMember, 'id' | 'capabilities'>, required: readonly string[], routing: Record<string, string[]>): boolean {
  return required.every((cap) => member.capabilities.includes(cap) || (routing[cap]?.includes(member.id) ?? false));
}

/** Whether the member could ever run the task (whatever it is doing now). */
function canEverRun(m: PoolMember, task: TaskSpec, policy: RoutingPolicy): boolean {
  return (
    m.status !== 'quarantined' &&
    !(task.exclude !== undefined && task.exclude.includes(m.id)) &&
    (task.pin === undefined || task.pin === m.id) &&
    // A spent budget steers work to free programmers; a task pinned to a paid one still goes there,
    // where the LLM layer refuses it with a receipt (the caller asked for that programmer).
    (!policy.budgetExhausted || m.free || task.pin === m.id) &&
    (task.requires === undefined || hasCapabilities(m, task.requires, policy.capabilityRouting))
  );
}

/** Members that could ever run the task (whatever they are doing now). */
export function eligible(members: readonly PoolMember[], task: TaskSpec, policy: RoutingPolicy): PoolMember[] {
  return members.filter((m) => canEverRun(m, task, policy));
}

/** Whether any member could ever run the task (the question asked of every task the pool places). */
export function anyEligible(members: readonly PoolMember[], task: TaskSpec, policy: RoutingPolicy): boolean {
  for (const m of members) if (canEverRun(m, task, policy)) return true;
  return false;
}

/**
 * The programmer that gets the task now, or null when none is idle. `order` is the config order;
 * `cursor` is the round-robin position. Returns the choice and the next cursor.
 */
export function pickProgrammer(
  members: readonly PoolMember[],
  task: TaskSpec,
  policy: RoutingPolicy,
  cursor: number,
): { id: string; cursor: number } | null {
  const saturated = policy.saturated ?? [];
  const unreachable = policy.unreachable ?? [];
  let candidates = members.filter(
    (m) => m.status === 'idle' && !(m.provider !== undefined && saturated.includes(m.provider)) && !unreachable.includes(m.id) && canEverRun(m, task, policy),
  );
  if (candidates.length === 0) return null;
  if (policy.preferFree && candidates.some((m) => m.free)) candidates = candidates.filter((m) => m.free);

  if (policy.strategy === 'round_robin') {
    const n = members.length;
    const ids = new Set(candidates.map((m) => m.id));
    for (let step = 0; step < n; step++) {
      const index = (cursor + step) % n;
      const member = members[index]!;
      if (ids.has(member.id)) return { id: member.id, cursor: (index + 1) % n };
    }
    return null;
  }

  // least_loaded, and capability_match among the capable: fewest tasks so far, then config order.
  let best = candidates[0]!;
  for (const m of candidates) if (m.assigned < best.assigned) best = m;
  return { id: best.id, cursor };
}
