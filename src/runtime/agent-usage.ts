/**
 * Tokens and cost per agent for the current UTC day: a programmer's finished tasks, a Manager's
 * plan calls. Kept in memory (0 after a restart).
 */
import type { JobPlan, TaskResult } from '../../machines/domain.ts';
import type { AgentUsage } from './runtime-types.ts';

export interface AgentUsageBook {
  today(agentId: string): AgentUsage;
  countTask(result: TaskResult): void;
  /** A Manager's usage is what its plan calls cost. */
  countPlan(managerId: string, plan: JobPlan): void;
}

export function createAgentUsage(now: () => Date): AgentUsageBook {
  const usage = new Map<string, AgentUsage & { day: string }>();
  const entryOf = (agentId: string) => {
    const day = now().toISOString().slice(0, 10);
    let entry = usage.get(agentId);
    if (!entry || entry.day !== day) {
      entry = { day, tasks: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 };
      usage.set(agentId, entry);
    }
    return entry;
  };
  const addCost = (entry: AgentUsage, usd: number | undefined) => {
    entry.cost_usd = Math.round((entry.cost_usd + (usd ?? 0)) * 1e6) / 1e6;
  };
  return {
    today(agentId) {
      const { day: _day, ...rest } = entryOf(agentId);
      return rest;
    },
    countTask(result) {
      const entry = entryOf(result.programmerId);
      entry.tasks++;
      entry.input_tokens += result.tokens?.input ?? 0;
      entry.output_tokens += result.tokens?.output ?? 0;
      addCost(entry, result.costUsd);
    },
    countPlan(managerId, plan) {
      if (!plan.usage && plan.costUsd === undefined) return;
      const entry = entryOf(managerId);
      entry.input_tokens += plan.usage?.input ?? 0;
      entry.output_tokens += plan.usage?.output ?? 0;
      addCost(entry, plan.costUsd);
    },
  };
}
