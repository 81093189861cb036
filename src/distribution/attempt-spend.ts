/**
 * What a remote attempt's calls cost and used, summed from the spend reports its worker sent
 * (the journal's `attemptCalls`): for the receipt of an attempt the central process ends without
 * a result. Workers report paid calls only, so these are the attempt's paid calls. Tokens add up
 * as a task's rounds do (`addUsage`: a count one call did not report makes the sum unknown).
 */
import type { TokenUsage } from '../../machines/domain.ts';
import { addUsage } from '../executors/executor.ts';
import type { AttemptCall } from '../journal/journal.ts';
import { roundUsd } from '../llm/prices.ts';

export interface AttemptSpend {
  costUsd: number;
  tokens: TokenUsage;
  /** `provider/model` of the last call that named one. */
  model?: string;
}

/** The calls summed; undefined when there are none. */
export function sumAttemptSpend(calls: readonly AttemptCall[]): AttemptSpend | undefined {
  if (calls.length === 0) return undefined;
  let costUsd = 0;
  let tokens: TokenUsage | undefined;
  let model: string | undefined;
  for (const call of calls) {
    costUsd += call.costUsd;
    const used = call.tokens ?? { input: null, output: null };
    tokens = tokens ? addUsage(tokens, used) : used;
    if (call.model !== undefined) model = call.model;
  }
  return { costUsd: roundUsd(costUsd), tokens: tokens!, ...(model !== undefined ? { model } : {}) };
}

/**
 * The attempt's reported calls that its result does not name (`call_ids`): the calls of an earlier
 * run of the same attempt (its worker was restarted before it was declared offline and ran it
 * again), or of a run that ended without its receipt. Summed; undefined when there are none.
 */
export function unnamedCalls(calls: readonly AttemptCall[], named: readonly string[]): AttemptSpend | undefined {
  const known = new Set(named);
  return sumAttemptSpend(calls.filter((call) => !known.has(call.callId)));
}

/** A receipt's cost and tokens with `more` added (in whole micro-dollars; an unknown count stays unknown). */
export function plusSpend(spent: { costUsd: number; tokens: TokenUsage }, more: AttemptSpend): { costUsd: number; tokens: TokenUsage } {
  return { costUsd: roundUsd(spent.costUsd + more.costUsd), tokens: addUsage(spent.tokens, more.tokens) };
}
