/**
 * How PAS starts opencode headless: `opencode run --print-logs --format json -m pas/<model>
 * <prompt>` with its whole config inline (`OPENCODE_CONFIG_CONTENT`): one OpenAI-compatible
 * provider `pas` at the model's base URL (prices from models.yaml, so opencode's own `cost` is
 * PAS's), edits and shell allowed, the title request, sharing, auto-update, LSP downloads,
 * plugins, project config and Claude Code imports off. XDG dirs and TMPDIR live in the run's
 * private home. opencode tries an npm install of its plugin package at start; npm is told to
 * stay offline (`npm_config_offline`), so that fails at once instead of waiting on a network.
 */
import path from 'node:path';
import { PasError } from '../../errors.ts';
import { normalizeOllamaHost } from '../../llm/provider-http.ts';
import type { CliInvocation, CliRunContext } from './cli-invocation.ts';

export const OPENCODE_PROVIDER_ID = 'pas';
/** The child reads its key from this variable (`{env:…}` in the config), never from the config text. */
export const OPENCODE_KEY_ENV = 'PAS_OPENCODE_API_KEY';

export function opencodeBaseUrl(kind: string, baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, '');
  if (kind === 'ollama') return `${normalizeOllamaHost(trimmed)}/v1`;
  return trimmed;
}

export function opencodeConfig(ctx: CliRunContext): Record<string, unknown> {
  const { endpoint } = ctx;
  const model: Record<string, unknown> = { name: endpoint.model, tool_call: true };
  if (endpoint.price) {
    const cost: Record<string, number> = { input: endpoint.price.input_per_mtok, output: endpoint.price.output_per_mtok };
    if (endpoint.price.cache_read_per_mtok !== undefined) cost.cache_read = endpoint.price.cache_read_per_mtok;
    if (endpoint.price.cache_write_per_mtok !== undefined) cost.cache_write = endpoint.price.cache_write_per_mtok;
    model.cost = cost;
  }
  return {
    $schema: 'https://opencode.ai/config.json',
    model: `${OPENCODE_PROVIDER_ID}/${endpoint.model}`,
    small_model: `${OPENCODE_PROVIDER_ID}/${endpoint.model}`,
    enabled_providers: [OPENCODE_PROVIDER_ID],
    provider: {
      [OPENCODE_PROVIDER_ID]: {
        npm: '@ai-sdk/openai-compatible',
        name: 'PAS',
        options: { baseURL: opencodeBaseUrl(endpoint.kind, endpoint.baseUrl), apiKey: `{env:${OPENCODE_KEY_ENV}}` },
        models: { [endpoint.model]: model },
      },
    },
    permission: { edit: 'allow', bash: 'allow', webfetch: 'deny', external_directory: 'deny' },
    agent: { title: { disable: true } },
    autoupdate: false,
    share: 'disabled',
    plugin: [],
  };
}

export function opencodeInvocation(ctx: CliRunContext): CliInvocation {
  const { endpoint } = ctx;
  if (endpoint.kind !== 'openai' && endpoint.kind !== 'ollama') {
    throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `opencode is run against OpenAI-compatible endpoints; ${endpoint.provider}/${endpoint.model} is a ${endpoint.kind} model`, {
      details: { ref: `${endpoint.provider}/${endpoint.model}`, executor: 'opencode' },
    });
  }
  const env: Record<string, string> = {
    ...ctx.baseEnv,
    HOME: ctx.home,
    TMPDIR: ctx.tmpdir,
    XDG_CONFIG_HOME: path.join(ctx.home, 'config'),
    XDG_DATA_HOME: path.join(ctx.home, 'data'),
    XDG_CACHE_HOME: path.join(ctx.home, 'cache'),
    XDG_STATE_HOME: path.join(ctx.home, 'state'),
    OPENCODE_CONFIG_CONTENT: JSON.stringify(opencodeConfig(ctx)),
    OPENCODE_DISABLE_MODELS_FETCH: '1',
    OPENCODE_DISABLE_AUTOUPDATE: '1',
    OPENCODE_DISABLE_SHARE: '1',
    OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
    OPENCODE_DISABLE_DEFAULT_PLUGINS: '1',
    OPENCODE_DISABLE_PROJECT_CONFIG: '1',
    OPENCODE_DISABLE_CLAUDE_CODE: '1',
    OPENCODE_DISABLE_EXTERNAL_SKILLS: '1',
    OPENCODE_PURE: '1',
    npm_config_offline: 'true',
    npm_config_cache: path.join(ctx.home, 'npm-cache'),
    npm_config_update_notifier: 'false',
    NO_COLOR: '1',
    TERM: 'dumb',
  };
  env[OPENCODE_KEY_ENV] = endpoint.apiKey ?? 'none';
  return {
    args: ['run', '--print-logs', '--format', 'json', '-m', `${OPENCODE_PROVIDER_ID}/${endpoint.model}`, '--', ctx.prompt],
    env,
    files: [],
  };
}
