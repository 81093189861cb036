/**
 * Reads Gemini CLI's `-o stream-json` output (one JSON object a line): `init`, `message`,
 * `tool_use{tool_name, tool_id, parameters}`, `tool_result{tool_id, status, output?}` and the
 * final `result{status, error?, stats{total_tokens, input_tokens, output_tokens, cached, …}}`.
 * Gemini reports no cost; its counts follow Google's convention (input includes the cached
 * tokens, output excludes thinking, total = input + output + thinking).
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import type { TaskProgress } from '../executor.ts';
import type { AgentEvent } from './agent-cli-spec.ts';

export interface GeminiStats {
  total_tokens?: number;
  input_tokens?: number;
  output_tokens?: number;
  cached?: number;
  tool_calls?: number;
  duration_ms?: number;
}

/** The tools Gemini CLI edits files with. */
const FILE_TOOLS: Record<string, string> = { write_file: 'write', replace: 'update' };
const SHELL_TOOL = 'run_shell_command';

function rec(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** `run_shell_command__run_shell_command_1796…_1` → `run_shell_command`. */
function toolOfId(id: unknown): string {
  return typeof id === 'string' && id.includes('__') ? id.slice(0, id.indexOf('__')) : 'tool';
}

/** What one stream-json line means (already JSON-parsed; anything else means nothing). */
export function geminiLineEvents(line: unknown): AgentEvent[] {
  const event = rec(line);
  if (!event) return [];
  switch (event.type) {
    case 'tool_use': {
      const tool = String(event.tool_name ?? 'tool');
      const params = rec(event.parameters) ?? {};
      const change = FILE_TOOLS[tool];
      let progress: TaskProgress;
      if (change && typeof params.file_path === 'string') progress = { kind: 'file', tool, path: params.file_path, change };
      else if (tool === SHELL_TOOL && typeof params.command === 'string') progress = { kind: 'command', tool, command: params.command, exitCode: null };
      else progress = { kind: 'tool', tool };
      return [{ type: 'progress', progress }];
    }
    case 'tool_result': {
      const tool = toolOfId(event.tool_id);
      const status = String(event.status ?? 'unknown');
      // Gemini's events carry no exit code: the status (success / error) is what is known.
      return [{ type: 'progress', progress: { kind: 'tool', tool, text: `${tool} ${status}` } }];
    }
    case 'error':
      return [{ type: 'progress', progress: { kind: 'message', text: String(event.message ?? 'error') } }];
    case 'result': {
      const stats = rec(event.stats) as GeminiStats | undefined;
      const error = rec(event.error);
      const ok = event.status === 'success';
      const message = typeof error?.message === 'string' ? error.message : undefined;
      const status = message ? statusInMessage(message) : undefined;
      // A per-minute quota says "Suggested retry after 4s." (from its RetryInfo); a per-day one does not.
      const retry = message ? /Suggested retry after (\d+(?:\.\d+)?)s/.exec(message) : null;
      const events: AgentEvent[] = [];
      if (stats) events.push({ type: 'usage.total', usage: geminiUsage(stats) });
      events.push({
        type: 'result',
        result: { ok, ...(status !== undefined ? { httpStatus: status } : {}), ...(message ? { message: cleanMessage(message) } : {}), ...(retry ? { retryAfterMs: Math.round(Number(retry[1]) * 1000) } : {}) },
      });
      return events;
    }
    default:
      return [];
  }
}

/**
 * The receipt's tokens from `result.stats`: every count Gemini did not send is null. Thinking
 * tokens are not a field of their own; they are what the total holds beyond input and output.
 */
export function geminiUsage(stats: GeminiStats | undefined): TokenUsage {
  const input = num(stats?.input_tokens) ?? null;
  const output = num(stats?.output_tokens) ?? null;
  const usage: TokenUsage = { input, output, cache_read: num(stats?.cached) ?? null };
  const total = num(stats?.total_tokens);
  usage.thinking = total !== undefined && input !== null && output !== null && total >= input + output ? total - input - output : null;
  return usage;
}

/** `[API Error: {"error":{"code":529,…}}]` → 529. */
function statusInMessage(message: string): number | undefined {
  const json = /\{"error":\{.*\}\}/s.exec(message)?.[0];
  if (!json) return undefined;
  try {
    const code = rec(rec(JSON.parse(json))?.error)?.code;
    return typeof code === 'number' && code >= 100 && code <= 599 ? code : undefined;
  } catch {
    return undefined;
  }
}

/** The provider's own message out of Gemini's `[API Error: …]` wrapper. */
function cleanMessage(message: string): string {
  const json = /\{"error":\{.*\}\}/s.exec(message)?.[0];
  if (json) {
    try {
      const inner = rec(rec(JSON.parse(json))?.error)?.message;
      if (typeof inner === 'string') return inner;
    } catch {
      // fall through
    }
  }
  return message.replace(/^\[API Error: /, '').split('\n', 1)[0]!.replace(/\]$/, '');
}

/** Gemini exits with the HTTP status mod 256 when a model call failed for good. */
const EXIT_TO_STATUS: Record<number, number> = { 173: 429, 244: 500, 17: 529, 145: 401, 147: 403, 247: 503, 248: 504, 144: 400 };

/**
 * The HTTP status of a failed run that its result event did not name: the last `status: N` of
 * the error Gemini dumps on stderr, else the exit code (the status mod 256).
 */
export function geminiStatusFromExit(exitCode: number | null, stderr: string): number | undefined {
  const matches = [...stderr.matchAll(/^\s*status: (\d{3}),?\s*$/gm)];
  const last = matches[matches.length - 1];
  if (last) return Number(last[1]);
  return exitCode === null ? undefined : EXIT_TO_STATUS[exitCode];
}
