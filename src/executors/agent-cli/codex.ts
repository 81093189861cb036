/**
 * Codex CLI (`codex`, @openai/codex 0.171) headless:
 * `codex exec --json --skip-git-repo-check --ephemeral -C <worktree> <prompt>` with stdin closed,
 * configured through `$CODEX_HOME/config.toml` in the run's private home: a `pas` model provider
 * (Responses API), no approvals, its sandbox, update checks / plugins / analytics / feedback off,
 * its retries capped. A model catalog for the programmer's model turns on the free-form
 * `apply_patch` tool whatever the model's name (Codex only knows its own models' metadata).
 * Events: `thread.started`, `turn.started`, `item.started` / `item.completed` (file_change,
 * command_execution, agent_message, error), `turn.completed{usage}`, `turn.failed`, `error`.
 * No cost field: the price comes from models.yaml.
 */
import path from 'node:path';
import type { TokenUsage } from '../../../machines/domain.ts';
import type { AgentCliSpec, AgentEndpoint, AgentEvent, AgentRunContext } from './agent-cli-spec.ts';

/** The variable Codex reads the key from (named in config.toml, set only in the child's env). */
export const CODEX_KEY_ENV = 'PAS_CODEX_API_KEY';

/** Base URL and key of one run: behind PAS's LLM gateway, its `/llm/...` URL and the task's credential (agent-endpoint.ts). */
export function codexConnection(endpoint: AgentEndpoint): { baseUrl: string; env: Record<string, string> } {
  // A provider that needs no key (a local OpenAI-compatible server) still gets a value: Codex insists.
  return { baseUrl: endpoint.baseUrl, env: { [CODEX_KEY_ENV]: endpoint.apiKey ?? 'none' } };
}

/** A TOML basic string (JSON's escapes are TOML's). */
const toml = (value: string): string => JSON.stringify(value);

const BASE_INSTRUCTIONS = [
  'You are a coding agent run by PAS, a supervisor of many agents, non-interactively in a git worktree.',
  'Make exactly the change the task asks for. Edit files with the apply_patch tool, with paths relative to the working directory.',
  'Run no command except the one the task names for checking the edit. Do not commit. When done, reply with one short sentence.',
].join('\n');

export function codexConfigToml(ctx: AgentRunContext): string {
  const connection = codexConnection(ctx.endpoint);
  const sandbox = typeof ctx.settings.sandbox_mode === 'string' ? ctx.settings.sandbox_mode : 'workspace-write';
  return [
    `model = ${toml(ctx.endpoint.model)}`,
    'model_provider = "pas"',
    `model_catalog_json = ${toml(path.join(ctx.home, 'model-catalog.json'))}`,
    'approval_policy = "never"',
    `sandbox_mode = ${toml(sandbox)}`,
    'check_for_update_on_startup = false',
    '',
    '[features]',
    'plugins = false',
    'apply_patch_freeform = true',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    '[otel]',
    'exporter = "none"',
    '',
    '[model_providers.pas]',
    'name = "pas"',
    `base_url = ${toml(connection.baseUrl)}`,
    `env_key = ${toml(CODEX_KEY_ENV)}`,
    'wire_api = "responses"',
    `request_max_retries = ${ctx.maxRetries}`,
    `stream_max_retries = ${ctx.maxRetries}`,
    'supports_websockets = false',
    '',
  ].join('\n');
}

/** The smallest model metadata Codex accepts that gives the model the free-form apply_patch tool. */
export function codexModelCatalog(model: string): string {
  return JSON.stringify({
    models: [
      {
        slug: model,
        display_name: model,
        base_instructions: BASE_INSTRUCTIONS,
        support_verbosity: false,
        apply_patch_tool_type: 'freeform',
        shell_type: 'shell_command',
        visibility: 'list',
        supported_in_api: true,
        priority: 1,
        truncation_policy: { mode: 'tokens', limit: 10000 },
        supported_reasoning_levels: [],
        experimental_supported_tools: [],
        model_messages: null,
      },
    ],
  });
}

export const codexSpec: AgentCliSpec = {
  name: 'codex',
  section: 'codex',
  kinds: ['openai'],
  plan(ctx) {
    const codexHome = ctx.home;
    return {
      args: ['exec', '--json', '--skip-git-repo-check', '--ephemeral', '-C', ctx.worktree, ctx.prompt],
      env: { ...codexConnection(ctx.endpoint).env, CODEX_HOME: codexHome },
      files: { 'config.toml': codexConfigToml(ctx), 'model-catalog.json': codexModelCatalog(ctx.endpoint.model) },
    };
  },
  parse: parseCodexLine,
};

type Json = Record<string, unknown>;
const rec = (v: unknown): Json | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `turn.completed.usage` as PAS counts it (OpenAI: input includes cached, output includes reasoning). */
export function codexUsage(usage: Json): TokenUsage {
  const out: TokenUsage = {
    input: num(usage.input_tokens),
    output: num(usage.output_tokens),
    cache_read: num(usage.cached_input_tokens),
    thinking: num(usage.reasoning_output_tokens),
  };
  if ('cache_write_input_tokens' in usage) out.cache_write = num(usage.cache_write_input_tokens);
  return out;
}

/** The HTTP status in one of Codex's error texts (`unexpected status 429 Too Many Requests: …`). */
export function codexErrorStatus(message: string): number | undefined {
  const m = /(?:unexpected status|status(?: code)?:?|http)\s*(\d{3})\b/i.exec(message) ?? /\b(401|403|429|500|502|503|504|529)\b/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/** Codex's words for a model server it cannot reach. */
const CONNECTION_FAILURE = /waiting for network|connection failed|error sending request|connection refused|dns error/i;

export function parseCodexLine(line: unknown): AgentEvent[] {
  const event = rec(line);
  if (!event) return [{ type: 'other' }];
  switch (event.type) {
    case 'item.started':
    case 'item.completed': {
      const item = rec(event.item);
      if (!item) return [{ type: 'other' }];
      const done = event.type === 'item.completed';
      if (item.type === 'file_change') {
        if (!done) return [{ type: 'other' }];
        const changes = Array.isArray(item.changes) ? item.changes.map(rec) : [];
        return changes.flatMap((c): AgentEvent[] =>
          c && typeof c.path === 'string' ? [{ type: 'progress', progress: { kind: 'file', tool: 'apply_patch', path: c.path, change: str(c.kind) ?? 'update' } }] : [],
        );
      }
      if (item.type === 'command_execution') {
        return [{ type: 'progress', progress: { kind: 'command', tool: 'exec_command', command: str(item.command) ?? '', exitCode: done ? num(item.exit_code) : null } }];
      }
      if (item.type === 'agent_message' && done) {
        return [{ type: 'progress', progress: { kind: 'message', text: str(item.text) ?? '' } }];
      }
      if (item.type === 'mcp_tool_call' || item.type === 'web_search') {
        return [{ type: 'progress', progress: { kind: 'tool', tool: str(item.tool) ?? String(item.type) } }];
      }
      if (item.type === 'error' && done) {
        const message = str(item.message) ?? '';
        if (CONNECTION_FAILURE.test(message)) return [{ type: 'connection.error', message }];
        const retry = /reconnecting|retrying/i.exec(message);
        if (retry) {
          const status = codexErrorStatus(message);
          return [{ type: 'progress', progress: { kind: 'retry', text: message, ...(status !== undefined ? { status } : {}) } }];
        }
      }
      return [{ type: 'other' }];
    }
    case 'turn.completed': {
      const usage = rec(event.usage);
      const last = rec(event.last_agent_message);
      return [
        ...(usage ? [{ type: 'usage' as const, usage: codexUsage(usage) }] : []),
        { type: 'result', result: { ok: true, ...(typeof last === 'string' ? { summary: last } : {}) } },
      ];
    }
    case 'turn.failed': {
      const message = str(rec(event.error)?.message) ?? 'turn failed';
      const status = codexErrorStatus(message);
      if (status === undefined && CONNECTION_FAILURE.test(message)) return [{ type: 'connection.error', message }];
      return [{ type: 'result', result: { ok: false, message, ...(status !== undefined ? { httpStatus: status } : {}) } }];
    }
    case 'error': {
      const message = str(event.message) ?? 'error';
      // Codex waits for the network forever ("Reconnecting... waiting for network"): stop it now.
      if (CONNECTION_FAILURE.test(message)) return [{ type: 'connection.error', message }];
      const status = codexErrorStatus(message);
      if (/reconnecting|retrying/i.test(message)) {
        return [{ type: 'progress', progress: { kind: 'retry', text: message, ...(status !== undefined ? { status } : {}) } }];
      }
      return status !== undefined ? [{ type: 'http.error', status, message }] : [{ type: 'other' }];
    }
    default:
      return [{ type: 'other' }];
  }
}
