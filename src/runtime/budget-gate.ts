/**
 * Today's spend against `max_daily_spend_usd`, and the pool told when the budget runs out (or a
 * new day restores it) so it routes to free programmers only.
 */
import type { Logger } from 'pino';
import type { PasConfig } from '../config/load-config.ts';
import type { SpendStore } from '../llm/types.ts';

export interface BudgetView {
  max_daily_spend_usd: number;
  spent_today_usd: number;
  exhausted: boolean;
  day: string;
}

export interface BudgetGate {
  view(): BudgetView;
  /** Tells the pool when exhaustion changed since the last call. */
  sync(): void;
}

export interface BudgetGateOptions {
  config: PasConfig;
  spend: SpendStore;
  now: () => Date;
  logger: Logger;
  /** Delivers `budget.exhausted` / `budget.restored` to the pool. */
  tellPool: (event: { type: 'budget.exhausted' } | { type: 'budget.restored' }) => void;
}

export function createBudgetGate({ config, spend, now, logger, tellPool }: BudgetGateOptions): BudgetGate {
  const today = () => now().toISOString().slice(0, 10);
  const exhausted = () => {
    const cost = config.pool.cost_optimization;
    return cost.enabled && spend.spent(today()) >= cost.max_daily_spend_usd;
  };
  let lastExhausted = false;
  return {
    view() {
      const day = today();
      return { max_daily_spend_usd: config.pool.cost_optimization.max_daily_spend_usd, spent_today_usd: spend.spent(day), exhausted: exhausted(), day };
    },
    sync() {
      const now = exhausted();
      if (now === lastExhausted) return;
      lastExhausted = now;
      tellPool({ type: now ? 'budget.exhausted' : 'budget.restored' });
      logger.info({ exhausted: now, day: today() }, now ? 'daily budget spent: paid programmers get no more tasks today' : 'daily budget available again');
    },
  };
}
