/**
 * Reads opencode's `run --format json` output (one JSON object a line): `step_start`,
 * `tool_use{part{tool, state{status, input, output, metadata}}}`, `text{part{text}}`,
 * `step_finish{part{reason, tokens{total, input, output, reasoning, cache{read, write}}, cost}}`
 * and, when a model call failed for good, `error{error{name, data{message, statusCode}}}`.
 * With `--print-logs`, stderr carries one `message="stream error"` line per failed model call
 * (opencode retries those itself, up to 5 times, and its log does not name the status).
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import type { ErrorCode } from '../../errors.ts';
import { classifyHttpStatus, parseErrorBody } from '../../llm/provider-errors.ts';
import type { AgentProgress } from './agent-progress.ts';
import type { CliHttpFailure } from './gemini-cli-output.ts';

export interface OpencodeStep {
  reason: string;
  tokens: { total?: number; input?: number; output?: number; reasoning?: number; cache?: { read?: number; write?: number } } | undefined;
  cost: number | undefined;
}

export interface OpencodeError {
  name: string;
  message: string;
  statusCode?: number;
  responseBody?: string;
}

const FILE_TOOLS: Record<string, 'write' | 'edit'> = { write: 'write', edit: 'edit', patch: 'edit', multiedit: 'edit' };

function rec(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

export class OpencodeOutput {
  readonly steps: OpencodeStep[] = [];
  readonly filesTouched = new Set<string>();
  error: OpencodeError | undefined;
  lastText = '';
  /** `stream error` lines seen on stderr: model calls that failed (opencode retries them). */
  streamErrors = 0;
  lastStreamError = '';

  line(text: string): AgentProgress[] {
    let event: Record<string, unknown> | undefined;
    try {
      event = rec(JSON.parse(text));
    } catch {
      return [];
    }
    if (!event) return [];
    const part = rec(event.part) ?? {};
    switch (event.type) {
      case 'tool_use': {
        const tool = String(part.tool ?? 'tool');
        const state = rec(part.state) ?? {};
        const input = rec(state.input) ?? {};
        const status = String(state.status ?? 'unknown');
        const out: AgentProgress[] = [];
        const action = FILE_TOOLS[tool];
        const file = typeof input.filePath === 'string' ? input.filePath : undefined;
        if (action && file) {
          this.filesTouched.add(file);
          out.push({ kind: 'file', tool, path: file, action });
        } else if (tool === 'bash' && typeof input.command === 'string') {
          out.push({ kind: 'command', tool, command: input.command });
        } else {
          out.push({ kind: 'tool', tool });
        }
        const result: AgentProgress = { kind: 'tool_result', tool, status };
        if (tool === 'bash' && typeof input.command === 'string') {
          result.command = input.command;
          const exit = rec(state.metadata)?.exit;
          result.exitCode = typeof exit === 'number' ? exit : null;
        }
        out.push(result);
        return out;
      }
      case 'text':
        if (typeof part.text === 'string') this.lastText = part.text;
        return [];
      case 'step_finish': {
        const tokens = rec(part.tokens) as OpencodeStep['tokens'];
        this.steps.push({ reason: String(part.reason ?? ''), tokens, cost: num(part.cost) });
        return [];
      }
      case 'error': {
        const error = rec(event.error) ?? {};
        const data = rec(error.data) ?? {};
        const parsed: OpencodeError = { name: String(error.name ?? 'Error'), message: String(data.message ?? error.message ?? '') };
        const status = num(data.statusCode);
        if (status !== undefined) parsed.statusCode = status;
        if (typeof data.responseBody === 'string') parsed.responseBody = data.responseBody;
        this.error = parsed;
        return [{ kind: 'warning', message: `${parsed.name}: ${parsed.message}` }];
      }
      default:
        return [];
    }
  }

  /** One line of opencode's log (stderr with `--print-logs`); a failed model call is a retry. */
  logLine(text: string): AgentProgress[] {
    if (!/message="stream error"/.test(text)) return [];
    this.streamErrors++;
    const m = /error\.error="([^"]*)"/.exec(text);
    this.lastStreamError = m?.[1] ?? 'stream error';
    return [{ kind: 'retry', attempt: this.streamErrors, message: this.lastStreamError }];
  }

  /** The run ended on a finished step (`stop`), not on an error or mid-tool. */
  get finished(): boolean {
    const last = this.steps[this.steps.length - 1];
    return this.error === undefined && last !== undefined && last.reason !== 'tool-calls' && last.reason !== 'error';
  }
}

/**
 * The receipt's tokens, summed over every step. opencode counts input without the cached
 * tokens and output without the reasoning tokens; PAS's OpenAI-style receipts count both in
 * (`cache_read` is part of `input`, `thinking` part of `output`), so they are added back. A
 * count some step did not report is null.
 */
export function opencodeUsage(steps: readonly OpencodeStep[]): TokenUsage {
  if (steps.length === 0) return { input: null, output: null };
  const sum = (pick: (s: OpencodeStep) => number | undefined): number | null => {
    let total = 0;
    for (const step of steps) {
      const n = pick(step);
      if (n === undefined) return null;
      total += n;
    }
    return total;
  };
  const cacheRead = sum((s) => num(s.tokens?.cache?.read));
  const input = sum((s) => num(s.tokens?.input));
  const output = sum((s) => num(s.tokens?.output));
  const reasoning = sum((s) => num(s.tokens?.reasoning));
  return {
    input: input === null ? null : input + (cacheRead ?? 0),
    output: output === null ? null : output + (reasoning ?? 0),
    thinking: reasoning,
    cache_read: cacheRead,
    cache_write: sum((s) => num(s.tokens?.cache?.write)),
  };
}

/** opencode's own cost, summed over the steps; null when a step did not report one. */
export function opencodeCost(steps: readonly OpencodeStep[]): number | null {
  let total = 0;
  for (const step of steps) {
    if (step.cost === undefined) return null;
    total += step.cost;
  }
  return total;
}

/** opencode's retry patterns, for a failure whose status its log did not say. */
function codeFromText(text: string): ErrorCode {
  if (/rate limit|rate_limit|too many requests|\b429\b/i.test(text)) return 'PAS_ERR_LLM_RATE_LIMITED';
  if (/overloaded|service unavailable|at capacity|\b529\b|\b503\b/i.test(text)) return 'PAS_ERR_LLM_OVERLOADED';
  if (/api key|unauthori[sz]ed|authentication|\b401\b/i.test(text)) return 'PAS_ERR_LLM_AUTH';
  if (/fetch failed|connection|ECONNREFUSED|socket/i.test(text)) return 'PAS_ERR_LLM_CONNECTION';
  return 'PAS_ERR_LLM_SERVER';
}

/**
 * The HTTP failure behind a failed run: the final `error` event's statusCode and body when
 * opencode gave up itself, else (PAS stopped it while it retried) the last stream error's text.
 */
export function opencodeHttpFailure(output: OpencodeOutput): CliHttpFailure | undefined {
  const error = output.error;
  if (error?.statusCode !== undefined) {
    const body = parseErrorBody('openai', error.responseBody ?? JSON.stringify({ error: { message: error.message } }));
    return { code: classifyHttpStatus('openai', error.statusCode, body), status: error.statusCode, message: `HTTP ${error.statusCode}: ${body.message || error.message}` };
  }
  if (output.streamErrors > 0) {
    const text = output.lastStreamError.replace(/^AI_\w+:\s*/, '');
    return { code: codeFromText(text), message: `${output.streamErrors} failed model call(s): ${text}` };
  }
  if (error && /APIError|APICallError/.test(error.name)) return { code: codeFromText(error.message), message: error.message };
  return undefined;
}
