/**
 * Reads opencode's `run --format json` output (one JSON object a line): `step_start`,
 * `tool_use{part{tool, state{status, input, output, metadata}}}`, `text{part{text}}`,
 * `step_finish{part{reason, tokens{total, input, output, reasoning, cache{read, write}}, cost}}`
 * and, when a model call failed for good, `error{error{name, data{message, statusCode}}}`.
 * opencode prints no final result event: a `step_finish` whose reason is not `tool-calls` ends
 * the agent's turn. With `--print-logs`, stderr carries one `message="stream error"` line per
 * failed model call (opencode retries those itself, up to 5 times; its log names no status).
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import type { TaskProgress } from '../executor.ts';
import type { AgentEvent } from './agent-cli-spec.ts';

const FILE_TOOLS: Record<string, string> = { write: 'write', edit: 'update', patch: 'update', multiedit: 'update' };

function rec(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

export function opencodeLineEvents(line: unknown): AgentEvent[] {
  const event = rec(line);
  if (!event) return [];
  const part = rec(event.part) ?? {};
  switch (event.type) {
    case 'tool_use': {
      const tool = String(part.tool ?? 'tool');
      const state = rec(part.state) ?? {};
      const input = rec(state.input) ?? {};
      const status = String(state.status ?? 'unknown');
      const change = FILE_TOOLS[tool];
      let progress: TaskProgress;
      if (change && typeof input.filePath === 'string') progress = { kind: 'file', tool, path: input.filePath, change };
      else if (tool === 'bash' && typeof input.command === 'string') {
        const exit = rec(state.metadata)?.exit;
        progress = { kind: 'command', tool, command: input.command, exitCode: typeof exit === 'number' ? exit : null };
      } else progress = { kind: 'tool', tool, text: `${tool} ${status}` };
      return [{ type: 'progress', progress }];
    }
    case 'step_finish': {
      const events: AgentEvent[] = [];
      const usage = stepUsage(rec(part.tokens));
      const cost = num(part.cost);
      if (usage) events.push(cost === undefined ? { type: 'usage', usage } : { type: 'usage', usage, costUsd: cost });
      const reason = String(part.reason ?? '');
      if (reason !== 'tool-calls' && reason !== 'error' && reason !== '') events.push({ type: 'result', result: { ok: true } });
      return events;
    }
    case 'text':
      return typeof part.text === 'string' && part.text.trim() ? [{ type: 'progress', progress: { kind: 'message', text: part.text.trim() } }] : [];
    case 'error': {
      const error = rec(event.error) ?? {};
      const data = rec(error.data) ?? {};
      const message = String(data.message ?? error.message ?? error.name ?? 'error');
      const status = num(data.statusCode);
      return [{ type: 'result', result: { ok: false, message, ...(status !== undefined ? { httpStatus: status } : {}) } }];
    }
    default:
      return [];
  }
}

/**
 * One step's tokens as PAS's OpenAI-style receipts count them: opencode counts input without
 * the cached tokens and output without the reasoning tokens, so both are added back
 * (`cache_read` is part of `input`, `thinking` part of `output`). Unreported counts are null.
 */
export function stepUsage(tokens: Record<string, unknown> | undefined): TokenUsage | undefined {
  if (!tokens) return undefined;
  const cache = rec(tokens.cache);
  const input = num(tokens.input);
  const output = num(tokens.output);
  const reasoning = num(tokens.reasoning);
  const read = num(cache?.read);
  const write = num(cache?.write);
  return {
    input: input === undefined ? null : input + (read ?? 0),
    output: output === undefined ? null : output + (reasoning ?? 0),
    thinking: reasoning ?? null,
    cache_read: read ?? null,
    cache_write: write ?? null,
  };
}

/** opencode's retry patterns, for a failed call whose status its log does not name. */
export function statusFromText(text: string): number {
  if (/api key|unauthori[sz]ed|authentication|\b401\b/i.test(text)) return 401;
  if (/rate limit|rate_limit|too many requests|\b429\b/i.test(text)) return 429;
  if (/overloaded|at capacity|\b529\b/i.test(text)) return 529;
  if (/service unavailable|\b503\b/i.test(text)) return 503;
  return 500;
}

/**
 * One stderr line (opencode's log with `--print-logs`): a failed model call — which opencode
 * is about to retry — is a retry and an HTTP error whose status is read from the text.
 */
export function opencodeLogEvents(line: string): AgentEvent[] {
  if (!/message="stream error"/.test(line)) return [];
  const message = (/error\.error="([^"]*)"/.exec(line)?.[1] ?? 'stream error').replace(/^AI_\w+:\s*/, '');
  const status = statusFromText(message);
  return [
    { type: 'progress', progress: { kind: 'retry', status, text: message } },
    { type: 'http.error', status, message },
  ];
}
