/**
 * opencode (`opencode`; executor `opencode`, section `opencode:`): `opencode run --print-logs
 * --format json -m pas/<model> -- <prompt>` in the worktree, with its whole config inline
 * (`OPENCODE_CONFIG_CONTENT`): one OpenAI-compatible provider `pas` at the model's base URL
 * (an Ollama model at its `/v1`), with models.yaml's prices so opencode's own `cost` is PAS's;
 * edits allowed, the shell only for the task's verify command, web fetches and other folders
 * refused, at most `max_turns` steps; the title request, sharing,
 * auto-update, LSP downloads, plugins, the project's own opencode config and Claude Code
 * imports off. opencode tries an npm install of its plugin package at start: npm is told to
 * stay offline (`npm_config_offline`), so that fails at once instead of waiting on a network.
 *
 * opencode retries a failed model call itself, 5 times, 2–30 s apart (its count is not
 * configurable); its log on stderr says so (`stream error`), and the runner stops it once it
 * has retried `max_retries` times. The key reaches the child only as a variable the config
 * names (`{env:…}`), never in the config text.
 */
import type { AgentCliSpec, AgentRunContext, AgentRunPlan } from './agent-cli-spec.ts';
import { opencodeLineEvents, opencodeLogEvents } from './opencode-output.ts';

export const OPENCODE_PROVIDER_ID = 'pas';
export const OPENCODE_KEY_ENV = 'PAS_OPENCODE_API_KEY';

export function opencodeBaseUrl(kind: string, baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, '');
  return kind === 'ollama' && !trimmed.endsWith('/v1') ? `${trimmed}/v1` : trimmed;
}

/** Shell commands: none, or the task's verify command alone (the last matching rule wins). */
export function bashPermission(verify: readonly string[] | undefined): string | Record<string, string> {
  if (!verify || verify.length === 0) return 'deny';
  const command = verify.join(' ');
  return { '*': 'deny', [command]: 'allow', [`${command} *`]: 'allow' };
}

export function opencodeConfig(ctx: AgentRunContext): Record<string, unknown> {
  const { endpoint } = ctx;
  const price = endpoint.price;
  const model: Record<string, unknown> = { name: endpoint.model, tool_call: true };
  if (price) {
    const cost: Record<string, number> = { input: price.input_per_mtok, output: price.output_per_mtok };
    if (price.cache_read_per_mtok !== undefined) cost.cache_read = price.cache_read_per_mtok;
    if (price.cache_write_per_mtok !== undefined) cost.cache_write = price.cache_write_per_mtok;
    model.cost = cost;
  }
  const ref = `${OPENCODE_PROVIDER_ID}/${endpoint.model}`;
  return {
    $schema: 'https://opencode.ai/config.json',
    model: ref,
    small_model: ref,
    enabled_providers: [OPENCODE_PROVIDER_ID],
    provider: {
      [OPENCODE_PROVIDER_ID]: {
        npm: '@ai-sdk/openai-compatible',
        name: 'PAS',
        options: { baseURL: opencodeBaseUrl(endpoint.kind, endpoint.baseUrl), apiKey: `{env:${OPENCODE_KEY_ENV}}` },
        models: { [endpoint.model]: model },
      },
    },
    permission: { edit: 'allow', bash: bashPermission(ctx.verify), webfetch: 'deny', external_directory: 'deny' },
    agent: { title: { disable: true }, build: { steps: ctx.maxTurns } },
    autoupdate: false,
    share: 'disabled',
    plugin: [],
  };
}

export function opencodePlan(ctx: AgentRunContext): AgentRunPlan {
  return {
    args: ['run', '--print-logs', '--format', 'json', '-m', `${OPENCODE_PROVIDER_ID}/${ctx.endpoint.model}`, '--', ctx.prompt],
    env: {
      OPENCODE_CONFIG_CONTENT: JSON.stringify(opencodeConfig(ctx)),
      [OPENCODE_KEY_ENV]: ctx.endpoint.apiKey ?? 'none',
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
      npm_config_cache: `${ctx.home}/.npm`,
      npm_config_update_notifier: 'false',
    },
  };
}

export const opencodeSpec: AgentCliSpec = {
  name: 'opencode',
  section: 'opencode',
  kinds: ['openai', 'ollama'],
  plan: opencodePlan,
  parse: opencodeLineEvents,
  parseStderr: opencodeLogEvents,
};
