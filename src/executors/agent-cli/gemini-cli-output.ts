/**
 * Reads Gemini CLI's `-o stream-json` output (one JSON object a line): `init`, `message`,
 * `tool_use{tool_name, tool_id, parameters}`, `tool_result{tool_id, status, output?}` and the
 * final `result{status, error?, stats{total_tokens, input_tokens, output_tokens, cached, …}}`.
 * Gemini reports no cost; its counts follow Google's convention (input includes the cached
 * tokens, output excludes thinking, total = input + output + thinking).
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import type { ErrorCode } from '../../errors.ts';
import { classifyHttpStatus, parseErrorBody } from '../../llm/provider-errors.ts';
import type { AgentProgress } from './agent-progress.ts';

export interface GeminiResult {
  status: 'success' | 'error' | string;
  errorMessage?: string;
  stats?: GeminiStats;
}

export interface GeminiStats {
  total_tokens?: number;
  input_tokens?: number;
  output_tokens?: number;
  cached?: number;
  tool_calls?: number;
  duration_ms?: number;
}

/** The tools Gemini CLI edits files with, and the parameter holding the path. */
const FILE_TOOLS: Record<string, 'write' | 'edit'> = { write_file: 'write', replace: 'edit' };
const SHELL_TOOL = 'run_shell_command';

function rec(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** Accumulates one run's events; `line()` returns the progress each line shows. */
export class GeminiOutput {
  result: GeminiResult | undefined;
  readonly filesTouched = new Set<string>();
  lastMessage = '';
  private readonly pending = new Map<string, { tool: string; command?: string }>();

  line(text: string): AgentProgress[] {
    let event: Record<string, unknown> | undefined;
    try {
      event = rec(JSON.parse(text));
    } catch {
      return [];
    }
    if (!event) return [];
    switch (event.type) {
      case 'tool_use': {
        const tool = String(event.tool_name ?? 'tool');
        const params = rec(event.parameters) ?? {};
        const id = String(event.tool_id ?? '');
        const fileAction = FILE_TOOLS[tool];
        if (fileAction && typeof params.file_path === 'string') {
          this.filesTouched.add(params.file_path);
          this.pending.set(id, { tool });
          return [{ kind: 'file', tool, path: params.file_path, action: fileAction }];
        }
        if (tool === SHELL_TOOL && typeof params.command === 'string') {
          this.pending.set(id, { tool, command: params.command });
          return [{ kind: 'command', tool, command: params.command }];
        }
        this.pending.set(id, { tool });
        return [{ kind: 'tool', tool }];
      }
      case 'tool_result': {
        const id = String(event.tool_id ?? '');
        const started = this.pending.get(id);
        this.pending.delete(id);
        const status = String(event.status ?? 'unknown');
        const progress: AgentProgress = { kind: 'tool_result', tool: started?.tool ?? 'tool', status };
        if (started?.command !== undefined) progress.command = started.command;
        return [progress];
      }
      case 'message':
        if (event.role === 'assistant' && typeof event.content === 'string') {
          // Deltas arrive piece by piece; keep the text of the latest reply.
          this.lastMessage = event.delta === true ? this.lastMessage + event.content : event.content;
        }
        return [];
      case 'error':
        return [{ kind: 'warning', message: String(event.message ?? '') }];
      case 'result': {
        const error = rec(event.error);
        const result: GeminiResult = { status: String(event.status ?? 'unknown') };
        if (error && typeof error.message === 'string') result.errorMessage = error.message;
        const stats = rec(event.stats);
        if (stats) result.stats = stats as GeminiStats;
        this.result = result;
        return [];
      }
      default:
        return [];
    }
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

/** Gemini exits with the HTTP status mod 256 when a model call failed for good. */
const EXIT_TO_STATUS: Record<number, number> = { 173: 429, 244: 500, 17: 529, 145: 401, 147: 403, 247: 503, 248: 504, 144: 400 };

export interface CliHttpFailure {
  code: ErrorCode;
  /** The HTTP status behind it, when the CLI let it be known. */
  status?: number;
  message: string;
}

/**
 * What a failed run's HTTP error was. Read in this order: the status in the result's error
 * message (`[API Error: {"error":{"code":529,…}}]`), the last `status: N` of the stack dump on
 * stderr, then the exit code. `undefined` when nothing says a model call failed.
 */
export function geminiHttpFailure(result: GeminiResult | undefined, stderr: string, exitCode: number | null): CliHttpFailure | undefined {
  const message = result?.errorMessage ?? '';
  let status: number | undefined;
  let body = message;
  const json = /\{"error":\{.*\}\}/s.exec(message)?.[0];
  if (json) {
    body = json;
    const code = rec(rec(safeJson(json))?.error)?.code;
    if (typeof code === 'number') status = code;
  }
  if (status === undefined) {
    const matches = [...stderr.matchAll(/^\s*status: (\d{3}),?$/gm)];
    const last = matches[matches.length - 1];
    if (last) status = Number(last[1]);
  }
  if (status === undefined && exitCode !== null) status = EXIT_TO_STATUS[exitCode];
  if (status === undefined) return undefined;
  const text = message.replace(/^\[API Error: /, '').replace(/\]\s*$/, '').split('\n', 1)[0] ?? '';
  const parsed = parseErrorBody('google', body);
  return { code: classifyHttpStatus('google', status, parsed), status, message: `HTTP ${status}: ${parsed.message || text}` };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
