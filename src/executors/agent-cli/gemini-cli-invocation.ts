/**
 * How PAS starts Gemini CLI headless: `gemini -p <prompt> -o stream-json --yolo --skip-trust -m
 * <model>` with a private HOME whose `.gemini/settings.json` selects API-key auth (with only a
 * base URL it picks an auth type headless mode refuses), caps the CLI's own attempts and turns
 * auto-update, telemetry and usage statistics off. `-m` avoids the extra routing request.
 */
import path from 'node:path';
import { PasError } from '../../errors.ts';
import type { CliInvocation, CliRunContext } from './cli-invocation.ts';

export function geminiSettings(maxRetries: number): Record<string, unknown> {
  return {
    security: { auth: { selectedType: 'gemini-api-key' } },
    general: { maxAttempts: Math.max(1, maxRetries + 1), enableAutoUpdate: false, enableAutoUpdateNotification: false, disableAutoUpdate: true, disableUpdateNag: true },
    telemetry: { enabled: false, logPrompts: false },
    privacy: { usageStatisticsEnabled: false },
    ui: { hideTips: true, hideBanner: true },
  };
}

export function geminiInvocation(ctx: CliRunContext): CliInvocation {
  const { endpoint } = ctx;
  if (endpoint.kind !== 'google') {
    throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `gemini-cli speaks only Google's Gemini API; ${endpoint.provider}/${endpoint.model} is a ${endpoint.kind} model`, {
      details: { ref: `${endpoint.provider}/${endpoint.model}`, executor: 'gemini-cli' },
    });
  }
  const settingsDir = path.join(ctx.home, '.gemini');
  const env: Record<string, string> = {
    ...ctx.baseEnv,
    HOME: ctx.home,
    TMPDIR: ctx.tmpdir,
    GOOGLE_GEMINI_BASE_URL: endpoint.baseUrl.replace(/\/+$/, ''),
    GEMINI_TELEMETRY_ENABLED: 'false',
    // Settings of the machine (/etc/gemini-cli) are not this run's.
    GEMINI_CLI_SYSTEM_SETTINGS_PATH: path.join(settingsDir, 'system-settings.json'),
    GEMINI_CLI_SYSTEM_DEFAULTS_PATH: path.join(settingsDir, 'system-defaults.json'),
    NO_COLOR: '1',
    TERM: 'dumb',
    CI: '1',
  };
  if (endpoint.apiKey) env.GEMINI_API_KEY = endpoint.apiKey;
  return {
    args: [`--prompt=${ctx.prompt}`, '-o', 'stream-json', '--yolo', '--skip-trust', '-m', endpoint.model],
    env,
    files: [
      { path: path.join(settingsDir, 'settings.json'), content: JSON.stringify(geminiSettings(ctx.maxRetries), null, 2) },
      { path: path.join(settingsDir, 'system-settings.json'), content: '{}' },
      { path: path.join(settingsDir, 'system-defaults.json'), content: '{}' },
    ],
  };
}
