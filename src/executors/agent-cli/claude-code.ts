/**
 * Claude Code (`claude`, @anthropic-ai/claude-code 2.1.x) headless:
 * `claude -p <prompt> --output-format stream-json --verbose --permission-mode acceptEdits`.
 * Events: `system/init`, `system/api_retry`, `assistant` (tool_use blocks: Write, Edit, Bash, …),
 * `user` (tool results), and a final `result` with `is_error`, `api_error_status`, `usage` and
 * `total_cost_usd`. Its exit code is 0 or 1; the result event decides.
 */
import path from 'node:path';
import type { TokenUsage } from '../../../machines/domain.ts';
import type { AgentCliSpec, AgentEndpoint, AgentEvent, AgentRunContext } from './agent-cli-spec.ts';

/** Base URL and key of one run: behind PAS's LLM gateway, its `/llm/...` URL and the task's credential (agent-endpoint.ts). */
export function claudeConnectionEnv(endpoint: AgentEndpoint): Record<string, string> {
  const env: Record<string, string> = { ANTHROPIC_BASE_URL: endpoint.baseUrl };
  if (endpoint.apiKey) env.ANTHROPIC_API_KEY = endpoint.apiKey;
  return env;
}

function claudeArgs(ctx: AgentRunContext): string[] {
  const allowed = ['Read', 'Glob', 'Grep', 'Write', 'Edit', 'MultiEdit'];
  if (ctx.verify && ctx.verify.length > 0) allowed.push(`Bash(${ctx.verify.join(' ')})`);
  return [
    '-p',
    ctx.prompt,
    '--output-format',
    'stream-json',
    '--verbose',
    '--permission-mode',
    'acceptEdits',
    '--model',
    ctx.endpoint.model,
    '--max-turns',
    String(ctx.maxTurns),
    '--allowedTools',
    allowed.join(','),
  ];
}

export const claudeCodeSpec: AgentCliSpec = {
  name: 'claude-code',
  section: 'claude_code',
  kinds: ['anthropic'],
  plan(ctx) {
    return {
      args: claudeArgs(ctx),
      env: {
        ...claudeConnectionEnv(ctx.endpoint),
        CLAUDE_CONFIG_DIR: path.join(ctx.home, '.claude'),
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_AUTOUPDATER: '1',
        DISABLE_ERROR_REPORTING: '1',
        DISABLE_BUG_COMMAND: '1',
        CLAUDE_CODE_MAX_RETRIES: String(ctx.maxRetries),
      },
    };
  },
  parse: parseClaudeLine,
};

type Json = Record<string, unknown>;
const rec = (v: unknown): Json | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Claude Code's `usage` as PAS counts it (Anthropic's disjoint input / cache read / cache write). */
export function claudeUsage(usage: Json): TokenUsage {
  return {
    input: num(usage.input_tokens),
    output: num(usage.output_tokens),
    cache_read: num(usage.cache_read_input_tokens),
    cache_write: num(usage.cache_creation_input_tokens),
  };
}

/** Claude Code's words for a model server it cannot reach ("API Error: Unable to connect to API (ConnectionRefused)"). */
const CONNECTION_FAILURE = /unable to connect|connection ?(refused|error|reset)|ECONNREFUSED|ECONNRESET|ENOTFOUND|fetch failed/i;

export function parseClaudeLine(line: unknown): AgentEvent[] {
  const event = rec(line);
  if (!event) return [{ type: 'other' }];
  switch (event.type) {
    case 'system': {
      if (event.subtype === 'api_retry') {
        const status = num(event.error_status);
        return [{ type: 'progress', progress: { kind: 'retry', attempt: num(event.attempt) ?? 0, ...(status !== null ? { status } : {}), text: str(event.error) ?? 'retry' } }];
      }
      return [{ type: 'other' }];
    }
    case 'assistant': {
      const content = rec(event.message)?.content;
      if (!Array.isArray(content)) return [{ type: 'other' }];
      const out: AgentEvent[] = [];
      for (const block of content.map(rec)) {
        if (!block) continue;
        if (block.type === 'tool_use') {
          const name = str(block.name) ?? 'tool';
          const input = rec(block.input) ?? {};
          const file = str(input.file_path) ?? str(input.notebook_path);
          if (file && /^(Write|Edit|MultiEdit|NotebookEdit)$/.test(name)) {
            out.push({ type: 'progress', progress: { kind: 'file', tool: name, path: file, change: name === 'Write' ? 'write' : 'update' } });
          } else if (name === 'Bash') {
            out.push({ type: 'progress', progress: { kind: 'command', tool: name, command: str(input.command) ?? '', exitCode: null } });
          } else {
            out.push({ type: 'progress', progress: { kind: 'tool', tool: name } });
          }
        } else if (block.type === 'text' && typeof block.text === 'string' && block.text.trim()) {
          out.push({ type: 'progress', progress: { kind: 'message', text: block.text.trim() } });
        }
      }
      return out.length > 0 ? out : [{ type: 'other' }];
    }
    case 'result': {
      const out: AgentEvent[] = [];
      const usage = rec(event.usage);
      const cost = num(event.total_cost_usd);
      if (usage) out.push({ type: 'usage.total', usage: claudeUsage(usage), ...(cost !== null ? { costUsd: cost } : {}) });
      const status = num(event.api_error_status);
      const isError = event.is_error === true || event.subtype !== 'success';
      const message = str(event.result) ?? (Array.isArray(event.errors) ? event.errors.join('; ') : undefined) ?? str(event.subtype);
      if (isError && status === null && message && CONNECTION_FAILURE.test(message)) out.push({ type: 'connection.error', message });
      out.push({
        type: 'result',
        result: {
          ok: !isError,
          ...(status !== null ? { httpStatus: status } : {}),
          ...(isError && message ? { message } : {}),
          ...(!isError && message ? { summary: message } : {}),
        },
      });
      return out;
    }
    default:
      return [{ type: 'other' }];
  }
}
