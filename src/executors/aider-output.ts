/**
 * Reading what the Aider CLI prints. Its exit code says nothing (it exits 0 after a failed LLM
 * call); the truth is in its output:
 *
 *     Applied edit to src/app.ts
 *     Tokens: 2.5k sent, 1.1k received. Cost: $0.01 message, $0.03 session.
 *     Tokens: 12k sent, 1.2k cache write, 3.4k cache hit, 512 received.
 *     Cost: $0.04 message, $0.04 session.
 *
 * Counts are printed as `1,234` (older versions), `2.5k`, `12k` or `1.2M`; the Cost part is
 * missing when aider knows no price for the model, and goes to its own line when both cache
 * counts are shown.
 */
import type { TokenUsage } from '../../machines/domain.ts';
import { addUsage } from './executor.ts';

export interface AiderReport {
  /** Paths from `Applied edit to <path>` lines, as printed (relative to aider's root), first seen first. */
  applied: string[];
  /** Usage summed over every `Tokens:` line; null when aider printed none. */
  tokens: TokenUsage | null;
  /** The session cost of the run (or the sum of message costs); null when no Cost was printed. */
  costUsd: number | null;
}

// eslint-disable-next-line no-control-regex -- ESC and BEL delimit the ANSI sequences stripped from aider's output
const ANSI = /\u001B\[[0-?]*[ -/]*[@-~]|\u001B\][^\u0007]*\u0007/g;
const COUNT = String.raw`([\d][\d.,]*\s*[kKmM]?)`;
const TOKENS_LINE = new RegExp(
  String.raw`Tokens:\s*${COUNT} sent` +
    String.raw`(?:,\s*${COUNT} cache write)?` +
    String.raw`(?:,\s*${COUNT} cache hit)?` +
    String.raw`(?:,\s*${COUNT} cached)?` +
    String.raw`,\s*${COUNT} received\.`,
);
const COST_LINE = /Cost:\s*\$([\d.,]+) message,\s*\$([\d.,]+) session\./;
const APPLIED_LINE = /^Applied edit to (.+?)\s*$/;

/** `1,234` → 1234, `2.5k` → 2500, `12k` → 12000, `1.2M` → 1200000. */
export function parseTokenCount(text: string): number | null {
  const match = /^([\d][\d,]*(?:\.\d+)?)\s*([kKmM]?)$/.exec(text.trim());
  if (!match) return null;
  const value = Number(match[1]!.replace(/,/g, ''));
  if (!Number.isFinite(value)) return null;
  const scale = match[2] === '' ? 1 : match[2]!.toLowerCase() === 'k' ? 1_000 : 1_000_000;
  return Math.round(value * scale);
}

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export function parseAiderOutput(output: string): AiderReport {
  const applied: string[] = [];
  let tokens: TokenUsage | null = null;
  let sessionCost: number | null = null;
  let messageCosts: number | null = null;

  for (const raw of stripAnsi(output).split(/\r?\n/)) {
    const line = raw.trim();
    const edit = APPLIED_LINE.exec(line);
    if (edit) {
      if (!applied.includes(edit[1]!)) applied.push(edit[1]!);
      continue;
    }
    const usage = TOKENS_LINE.exec(line);
    if (usage) {
      const [, sent, cacheWrite, cacheHit, cached, received] = usage;
      const current: TokenUsage = { input: parseTokenCount(sent!), output: parseTokenCount(received!) };
      if (cacheWrite !== undefined) current.cache_write = parseTokenCount(cacheWrite);
      const read = cacheHit ?? cached;
      if (read !== undefined) current.cache_read = parseTokenCount(read);
      tokens = tokens ? addUsage(tokens, current) : current;
    }
    const cost = COST_LINE.exec(line);
    if (cost) {
      const message = Number(cost[1]!.replace(/,/g, ''));
      const session = Number(cost[2]!.replace(/,/g, ''));
      if (Number.isFinite(message)) messageCosts = (messageCosts ?? 0) + message;
      if (Number.isFinite(session)) sessionCost = session;
    }
  }
  return { applied, tokens, costUsd: sessionCost ?? messageCosts };
}
