/**
 * Cost of one call from models.yaml prices (USD per million tokens), rounded to 6 decimals.
 *
 * Providers count differently, so billable tokens depend on the protocol:
 * - openai: `input` includes `cache_read`; `output` already includes reasoning (`thinking`).
 * - anthropic: `input`, `cache_read` and `cache_write` are disjoint; `output` includes thinking.
 * - google: `input` includes `cache_read`; `output` excludes `thinking`, which is billed as output.
 * - ollama, scripted: `input` and `output` only.
 * Cache reads/writes without their own price are billed at the input price. A null count costs 0.
 */
import type { TokenUsage } from '../../machines/domain.ts';
import type { ModelPrice } from '../config/schemas.ts';
import type { ProtocolKind } from './provider-errors.ts';

export interface BillableTokens {
  input: number;
  cacheRead: number;
  cacheWrite: number;
  output: number;
}

export function billableTokens(kind: ProtocolKind, usage: TokenUsage): BillableTokens {
  const input = usage.input ?? 0;
  const output = usage.output ?? 0;
  const cacheRead = usage.cache_read ?? 0;
  const cacheWrite = usage.cache_write ?? 0;
  const thinking = usage.thinking ?? 0;
  switch (kind) {
    case 'openai':
      return { input: Math.max(0, input - cacheRead), cacheRead, cacheWrite: 0, output };
    case 'anthropic':
      return { input, cacheRead, cacheWrite, output };
    case 'google':
      return { input: Math.max(0, input - cacheRead), cacheRead, cacheWrite: 0, output: output + thinking };
    default:
      return { input, cacheRead: 0, cacheWrite: 0, output };
  }
}

export function roundUsd(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}

export function callCost(kind: ProtocolKind, price: ModelPrice, usage: TokenUsage): number {
  const t = billableTokens(kind, usage);
  const micro =
    t.input * price.input_per_mtok +
    t.cacheRead * (price.cache_read_per_mtok ?? price.input_per_mtok) +
    t.cacheWrite * (price.cache_write_per_mtok ?? price.input_per_mtok) +
    t.output * price.output_per_mtok;
  return roundUsd(micro / 1e6);
}

export function priceIsFree(price: ModelPrice): boolean {
  return (
    price.input_per_mtok === 0 &&
    price.output_per_mtok === 0 &&
    (price.cache_read_per_mtok ?? 0) === 0 &&
    (price.cache_write_per_mtok ?? 0) === 0
  );
}
