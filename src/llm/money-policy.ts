/**
 * The one money policy every caller uses (the planner through the LLM client, the native and
 * aider executors, and the agent-CLI executors to come): one pricing rule for tokens (cache
 * tokens included, see prices.ts), the daily budget of programmer_pool.yaml `cost_optimization`,
 * and per-agent usage recorded durably (the journal's `usage` table), so a restart keeps both
 * the day's spend and what each agent used.
 */
import type { ModelRef, TokenUsage } from '../../machines/domain.ts';
import { splitModelRef } from '../config/load-config.ts';
import type { ModelsConfigFile, PoolConfigFile } from '../config/schemas.ts';
import { PasError } from '../errors.ts';
import { providerKindOf } from './create-adapter.ts';
import { callCost, priceIsFree, roundUsd } from './prices.ts';
import { createMemorySpendStore, utcDay } from './spend-store.ts';
import type { AgentUsage, SpendStore, TaskCallSpend, UsageEntry, UsageLedger } from './types.ts';

export type { AgentUsage, UsageEntry, UsageLedger } from './types.ts';

export interface BudgetView {
  max_daily_spend_usd: number;
  spent_today_usd: number;
  exhausted: boolean;
  day: string;
}

export interface MoneyPolicyOptions {
  models: ModelsConfigFile;
  /** programmer_pool.yaml `cost_optimization`. */
  costOptimization: Pick<PoolConfigFile['cost_optimization'], 'enabled' | 'max_daily_spend_usd'>;
  /** The daily spend totals (default: in memory). */
  spend?: SpendStore;
  /** Per-agent usage (default: in memory). */
  usage?: UsageLedger;
  now?: () => number;
}

export interface MoneyPolicy {
  /** USD for `tokens` on `ref` by models.yaml prices; 0 for an unknown model or no tokens. */
  price(ref: ModelRef, tokens: TokenUsage | null | undefined): number;
  /** Whether calls to `ref` cost money (any non-zero price, cache prices included). */
  isPaid(ref: ModelRef): boolean;
  /** The refusal for a paid model once today's budget is spent; undefined when `ref` may be called. */
  checkBudget(ref: ModelRef): PasError | undefined;
  /** Whether today's budget is spent (paid programmers get no more tasks). */
  exhausted(): boolean;
  /** Adds what a call cost to today's spend (with the task it was made for, when it was). */
  charge(usd: number, call?: TaskCallSpend): void;
  /** Records what an agent used for a task (or a plan when `taskId` is undefined). */
  record(agentId: string, jobId: string | undefined, taskId: string | undefined, usage: TokenUsage | undefined, costUsd: number): void;
  usageToday(agentId: string): AgentUsage;
  budget(): BudgetView;
  /** `YYYY-MM-DD` (UTC) now: the key of the daily budget. */
  today(): string;
}

export function createMemoryUsageLedger(): UsageLedger & { entries(): UsageEntry[] } {
  const entries: UsageEntry[] = [];
  return {
    add: (entry) => void entries.push({ ...entry }),
    usage: (day, agentId) => {
      const total: AgentUsage = { tasks: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 };
      for (const e of entries) {
        if (e.day !== day || e.agentId !== agentId) continue;
        if (e.taskId !== undefined) total.tasks++;
        total.input_tokens += e.inputTokens;
        total.output_tokens += e.outputTokens;
        total.cost_usd = roundUsd(total.cost_usd + e.costUsd);
      }
      return total;
    },
    entries: () => entries.map((e) => ({ ...e })),
  };
}

export function createMoneyPolicy(options: MoneyPolicyOptions): MoneyPolicy {
  const now = options.now ?? Date.now;
  const spend = options.spend ?? createMemorySpendStore();
  const ledger = options.usage ?? createMemoryUsageLedger();
  const limit = options.costOptimization.max_daily_spend_usd;
  const today = () => utcDay(now());
  const priceOf = (ref: ModelRef) => {
    const { provider, model } = splitModelRef(ref);
    const config = options.models.providers[provider];
    const price = config?.models[model];
    return config && price ? { kind: providerKindOf(provider, config), price } : undefined;
  };
  const exhausted = () => options.costOptimization.enabled && spend.spent(today()) >= limit;
  const isPaid = (ref: ModelRef) => {
    const known = priceOf(ref);
    return !!known && !priceIsFree(known.price);
  };

  return {
    price(ref, tokens) {
      const known = priceOf(ref);
      return known && tokens ? callCost(known.kind, known.price, tokens) : 0;
    },
    isPaid,
    checkBudget(ref) {
      if (!exhausted() || !isPaid(ref)) return undefined;
      const day = today();
      const spent = spend.spent(day);
      return new PasError('PAS_ERR_BUDGET_EXHAUSTED', `${ref}: today's budget is spent (${spent} of ${limit} USD on ${day})`, {
        details: { ref, day, spentUsd: spent, limitUsd: limit },
      });
    },
    exhausted,
    charge(usd, call) {
      if (usd <= 0) return;
      if (call && spend.addForTask) spend.addForTask(today(), roundUsd(usd), call);
      else spend.add(today(), roundUsd(usd));
    },
    record(agentId, jobId, taskId, usage, costUsd) {
      ledger.add({
        day: today(),
        agentId,
        ...(jobId !== undefined ? { jobId } : {}),
        ...(taskId !== undefined ? { taskId } : {}),
        inputTokens: usage?.input ?? 0,
        outputTokens: usage?.output ?? 0,
        costUsd: roundUsd(costUsd),
      });
    },
    usageToday: (agentId) => ledger.usage(today(), agentId),
    budget() {
      const day = today();
      return { max_daily_spend_usd: limit, spent_today_usd: spend.spent(day), exhausted: exhausted(), day };
    },
    today,
  };
}
