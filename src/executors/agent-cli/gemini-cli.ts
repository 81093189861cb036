/**
 * Gemini CLI (`gemini`; executor `gemini-cli`, section `gemini_cli:`): `gemini
 * --prompt=<prompt> -o stream-json --approval-mode auto_edit --skip-trust -m <model>` in the
 * worktree. Its private HOME holds `.gemini/settings.json`: API-key auth (with only a base URL it
 * picks an auth type headless mode refuses: exit 41), its own attempts capped at
 * `max_retries + 1`, `max_turns` session turns, the task's verify command as the only shell
 * command its policy allows (any other is "denied by policy"), auto-update, telemetry and usage
 * statistics off. `-m` avoids an extra routing request to a flash-lite model; `--skip-trust`
 * the untrusted-folder exit (55).
 *
 * The stream-json events (gemini-cli-output.ts) give progress; `result{status, stats}` decides
 * the run and gives the usage (Gemini reports no cost: models.yaml prices it). On an HTTP
 * failure Gemini exits with the status mod 256 (429→173, 500→244, 529→17, 401→145); the status
 * is read from the result's error text first, then from stderr, then from that exit code.
 */
import type { AgentCliSpec, AgentRunContext, AgentRunPlan } from './agent-cli-spec.ts';
import { geminiLineEvents, geminiStatusFromExit } from './gemini-cli-output.ts';

export function geminiSettings(maxRetries: number, maxTurns = 30, verify?: readonly string[]): Record<string, unknown> {
  return {
    // Edits are approved; a shell command only when it is the task's verify command.
    tools: { allowed: verify && verify.length > 0 ? [`run_shell_command(${verify.join(' ')})`] : [] },
    model: { maxSessionTurns: maxTurns },
    security: { auth: { selectedType: 'gemini-api-key' } },
    general: { maxAttempts: Math.max(1, maxRetries + 1), enableAutoUpdate: false, enableAutoUpdateNotification: false, disableAutoUpdate: true, disableUpdateNag: true },
    telemetry: { enabled: false, logPrompts: false },
    privacy: { usageStatisticsEnabled: false },
    ui: { hideTips: true, hideBanner: true },
  };
}

export function geminiPlan(ctx: AgentRunContext): AgentRunPlan {
  const env: Record<string, string> = {
    GOOGLE_GEMINI_BASE_URL: ctx.endpoint.baseUrl.replace(/\/+$/, ''),
    GEMINI_TELEMETRY_ENABLED: 'false',
    // The machine's settings (/etc/gemini-cli) are not this run's.
    GEMINI_CLI_SYSTEM_SETTINGS_PATH: `${ctx.home}/.gemini/system-settings.json`,
    GEMINI_CLI_SYSTEM_DEFAULTS_PATH: `${ctx.home}/.gemini/system-defaults.json`,
  };
  if (ctx.endpoint.apiKey) env.GEMINI_API_KEY = ctx.endpoint.apiKey;
  return {
    args: [`--prompt=${ctx.prompt}`, '-o', 'stream-json', '--approval-mode', 'auto_edit', '--skip-trust', '-m', ctx.endpoint.model],
    env,
    files: {
      '.gemini/settings.json': JSON.stringify(geminiSettings(ctx.maxRetries, ctx.maxTurns, ctx.verify), null, 2),
      '.gemini/system-settings.json': '{}',
      '.gemini/system-defaults.json': '{}',
    },
  };
}

export const geminiCliSpec: AgentCliSpec = {
  name: 'gemini-cli',
  section: 'gemini_cli',
  kinds: ['google'],
  plan: geminiPlan,
  parse: geminiLineEvents,
  statusFromExit: geminiStatusFromExit,
};
