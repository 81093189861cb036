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
