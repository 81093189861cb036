/**
 * What `pas doctor` and `pas up` check before the first job: git, the executor binaries the
 * programmers use, and every model an agent is configured with (its API key is set, its server
 * answers, and for Ollama that the model is pulled). Each problem comes with one line that fixes
 * it. Checks run in parallel with a short timeout each, so a tree with ten providers down still
 * answers in about `timeoutMs`.
 */
import { AGENT_CLI_INSTALL } from '../executors/agent-cli/agent-cli-install.ts';
import { execa } from 'execa';
import type { PasConfig } from '../config/load-config.ts';
import { providerKindOf } from '../llm/create-adapter.ts';
import { DEFAULT_BASE_URL_ENV, normalizeOllamaHost } from '../llm/provider-http.ts';
import { buildTopology } from '../runtime/topology.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorRow {
  /** What was checked: `git`, `executor aider`, `model ollama/qwen2.5-coder:7b-instruct`. */
  check: string;
  status: CheckStatus;
  detail: string;
  /** One line that fixes the problem (empty when ok). */
  fix: string;
  /** For models: the agents that use it. */
  usedBy?: string[];
  /** For models: `provider/model`. */
  model?: string;
}

export interface DoctorOptions {
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** Offline: every model is the scripted one, so no model needs a key or a server. */
  offline?: boolean;
}

async function binaryCheck(check: string, file: string, args: string[], fix: string, timeoutMs: number): Promise<DoctorRow> {
  try {
    const run = await execa(file, args, { timeout: Math.max(timeoutMs, 5_000), reject: false, stdin: 'ignore' });
    if (run.failed && (run as { code?: string }).code === 'ENOENT') return { check, status: 'fail', detail: `${file} is not on PATH`, fix };
    const first = `${run.stdout}\n${run.stderr}`.trim().split('\n')[0] ?? '';
    if (run.exitCode !== 0) return { check, status: 'fail', detail: `${file} ${args.join(' ')} exited ${run.exitCode ?? run.signal}: ${first.slice(0, 120)}`, fix };
    return { check, status: 'ok', detail: first.slice(0, 120) || file, fix: '' };
  } catch (err) {
    return { check, status: 'fail', detail: (err as Error).message.split('\n')[0]!, fix };
  }
}

/** Why fetch failed, in the words a user searches for: ECONNREFUSED, ENOTFOUND, timeout. */
export function fetchCause(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer (timeout)';
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

async function modelCheck(config: PasConfig, ref: string, usedBy: string[], options: Required<Pick<DoctorOptions, 'timeoutMs'>> & DoctorOptions): Promise<DoctorRow> {
  const env = options.env ?? process.env;
  const doFetch = options.fetch ?? fetch;
  const slash = ref.indexOf('/');
  const providerName = ref.slice(0, slash);
  const model = ref.slice(slash + 1);
  const check = `model ${ref}`;
  const base = { check, model: ref, usedBy };
  const provider = config.models.providers[providerName];
  if (!provider) return { ...base, status: 'fail', detail: `models.yaml has no provider "${providerName}"`, fix: `add providers.${providerName} to models.yaml` };
  if (options.offline) return { ...base, status: 'ok', detail: 'offline: answered by the scripted model', fix: '' };
  const kind = providerKindOf(providerName, provider);
  if (kind === 'scripted') return { ...base, status: 'ok', detail: `scripted (${provider.cassette ?? 'in-memory'})`, fix: '' };
  const keyEnv = provider.api_key_env;
  if (keyEnv && !env[keyEnv]) {
    return { ...base, status: 'fail', detail: `${keyEnv} is not set`, fix: `export ${keyEnv}=… (or point ${usedBy.length > 1 ? 'these agents' : usedBy[0]} at another model)` };
  }
  const urlEnv = provider.base_url_env ?? DEFAULT_BASE_URL_ENV[kind];
  const raw = env[urlEnv]?.trim() || provider.base_url;
  if (!raw) return { ...base, status: 'fail', detail: `providers.${providerName}.base_url is missing`, fix: `set providers.${providerName}.base_url in models.yaml or export ${urlEnv}` };
  const url = kind === 'ollama' ? normalizeOllamaHost(raw) : raw.replace(/\/+$/, '');
  const probe = kind === 'ollama' ? `${url}/api/tags` : url;
  let response: Response;
  try {
    response = await doFetch(probe, { signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (err) {
    const fix = kind === 'ollama' ? `start Ollama (ollama serve) or set ${urlEnv} to where it runs` : `check the network, or set ${urlEnv} to a reachable ${kind} endpoint`;
    return { ...base, status: 'fail', detail: `${url} unreachable: ${fetchCause(err)}`, fix };
  }
  if (kind === 'ollama' && response.ok) {
    const body = (await response.json().catch(() => null)) as { models?: Array<{ name?: string; model?: string }> } | null;
    if (body && Array.isArray(body.models)) {
      const names = body.models.flatMap((m) => [m.name, m.model]).filter((n): n is string => !!n);
      const pulled = names.some((n) => n === model || n === `${model}:latest`);
      if (!pulled) return { ...base, status: 'fail', detail: `Ollama at ${url} answers but has no model ${model}`, fix: `ollama pull ${model}` };
    }
  } else {
    await response.body?.cancel().catch(() => undefined);
  }
  return { ...base, status: 'ok', detail: `${url} answers${keyEnv ? `; ${keyEnv} is set` : ''}`, fix: '' };
}

export async function runDoctor(config: PasConfig, options: DoctorOptions = {}): Promise<DoctorRow[]> {
  const opts = { ...options, timeoutMs: options.timeoutMs ?? 3_000 };
  const checks: Array<Promise<DoctorRow>> = [
    binaryCheck('git', 'git', ['--version'], 'install git (apt-get install git, brew install git)', opts.timeoutMs),
  ];
  const executors = new Set(config.programmers.map((p) => p.executor));
  if (executors.has('aider')) {
    const users = config.programmers.filter((p) => p.executor === 'aider').map((p) => p.id);
    checks.push(
      binaryCheck(`executor aider (${users.length} programmer${users.length === 1 ? '' : 's'})`, config.pool.aider.binary, ['--version'], 'pip install aider-chat, or set aider.binary in programmer_pool.yaml, or use executor: native', opts.timeoutMs),
    );
  }
  if (executors.has('native')) checks.push(Promise.resolve({ check: 'executor native', status: 'ok', detail: 'built in', fix: '' }));
  for (const [name, cli] of Object.entries(AGENT_CLI_INSTALL) as [keyof typeof AGENT_CLI_INSTALL, (typeof AGENT_CLI_INSTALL)[keyof typeof AGENT_CLI_INSTALL]][]) {
    if (!executors.has(name)) continue;
    const users = config.programmers.filter((p) => p.executor === name).length;
    const binary = config.pool[cli.section].binary;
    checks.push(binaryCheck(`executor ${name} (${users} programmer${users === 1 ? '' : 's'})`, binary, ['--version'], `${cli.command}, or set ${cli.section}.binary in programmer_pool.yaml`, opts.timeoutMs));
  }
  for (const breaker of buildTopology(config).breakers) checks.push(modelCheck(config, breaker.key, breaker.usedBy, opts));
  return Promise.all(checks);
}

/** Models that cannot be used now, with why: what `pas up` marks in the tree. */
export function unusableModels(rows: readonly DoctorRow[]): Map<string, DoctorRow> {
  return new Map(rows.filter((r) => r.model && r.status === 'fail').map((r) => [r.model!, r]));
}

/**
 * Whether every agent has at least one usable model (its primary or its backup). A tree where
 * some models are down but every agent has a working one still works.
 */
export function agentsWithoutModel(config: PasConfig, rows: readonly DoctorRow[]): string[] {
  const bad = unusableModels(rows);
  const lacking: string[] = [];
  const test = (id: string, refs: Array<string | undefined>) => {
    const own = refs.filter((r): r is string => !!r);
    if (own.length > 0 && own.every((r) => bad.has(r))) lacking.push(id);
  };
  const ref = (l: { provider: string; model: string } | undefined) => (l ? `${l.provider}/${l.model}` : undefined);
  test(config.pas.architect.agent_id, [ref(config.pas.architect.llm.primary), ref(config.pas.architect.llm.backup)]);
  for (const m of config.pas.managers) test(m.agent_id, [ref(m.llm.primary), ref(m.llm.backup)]);
  for (const p of config.programmers) test(p.id, [p.primary, p.backup]);
  return lacking;
}
