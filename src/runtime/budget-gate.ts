/**
 * Tells the pool when today's budget runs out (or a new day restores it) so it routes to free
 * programmers only. The verdict and the view are the money policy's (llm/money-policy.ts).
 */
import type { Logger } from 'pino';
import type { BudgetView, MoneyPolicy } from '../llm/money-policy.ts';

export type { BudgetView } from '../llm/money-policy.ts';

export interface BudgetGate {
  view(): BudgetView;
  /** Tells the pool when exhaustion changed since the last call. */
  sync(): void;
}

export interface BudgetGateOptions {
  money: MoneyPolicy;
  logger: Logger;
  /** Delivers `budget.exhausted` / `budget.restored` to the pool; false while there is no pool yet. */
  tellPool: (event: { type: 'budget.exhausted' } | { type: 'budget.restored' }) => boolean;
}

export function createBudgetGate({ money, logger, tellPool }: BudgetGateOptions): BudgetGate {
  let lastExhausted = false;
  return {
    view: () => money.budget(),
    sync() {
      const now = money.exhausted();
      if (now === lastExhausted) return;
      if (!tellPool({ type: now ? 'budget.exhausted' : 'budget.restored' })) return;
      lastExhausted = now;
      logger.info({ exhausted: now, day: money.today() }, now ? 'daily budget spent: paid programmers get no more tasks today' : 'daily budget available again');
    },
  };
}
