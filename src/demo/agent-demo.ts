/**
 * The demo on coding agents (`pas demo --executors claude-code,codex`, and the mixed-agents
 * test): the same job and cassette as the offline demo, with some programmers running agent
 * CLIs instead of the native editor. The CLIs reach the scripted model over HTTP in their own
 * provider's wire format (src/llm/wire/): a local server on 127.0.0.1 behind three demo
 * providers (`pas-demo-anthropic`, `pas-demo-openai`, `pas-demo-google`) that cost nothing.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { PasConfig, ResolvedProgrammer } from '../config/load-config.ts';
import type { ExecutorKind, ModelsConfigFile, PoolConfigFile } from '../config/schemas.ts';
import { AGENT_CLI_INSTALL } from '../executors/agent-cli/agent-cli-install.ts';
import type { AgentCliExecutorName } from '../executors/agent-cli/agent-cli-spec.ts';
import type { ProviderAdapter } from '../llm/types.ts';
import { createScriptedWire } from '../llm/wire/scripted-wire.ts';
import { startWireServer, type WireHttpServer } from '../llm/wire/wire-http-server.ts';

export type AgentCliName = AgentCliExecutorName;
export { AGENT_CLI_INSTALL };

export function isAgentCli(name: string): name is AgentCliName {
  return Object.hasOwn(AGENT_CLI_INSTALL, name);
}

/** The executable a `binary` setting names: a path as is, a bare name looked up on PATH. */
export function findExecutable(binary: string, pathVar: string | undefined = process.env.PATH): string | undefined {
  const usable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (binary.includes('/')) return usable(binary) ? path.resolve(binary) : undefined;
  for (const dir of (pathVar ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, binary);
    if (usable(file)) return file;
  }
  return undefined;
}

/** The variable the demo providers read their (made-up) key from; never a real key. */
export const DEMO_KEY_ENV = 'PAS_DEMO_API_KEY';
export const DEMO_KEY = 'pas-demo-scripted';
const DEMO_MODEL = 'scripted';

/** The demo provider (and model ref) each CLI talks to. */
const CLI_PROVIDER: Record<AgentCliName, { provider: string; kind: 'anthropic' | 'openai' | 'google'; path: string }> = {
  'claude-code': { provider: 'pas-demo-anthropic', kind: 'anthropic', path: '' },
  codex: { provider: 'pas-demo-openai', kind: 'openai', path: '/v1' },
  'gemini-cli': { provider: 'pas-demo-google', kind: 'google', path: '' },
  opencode: { provider: 'pas-demo-openai', kind: 'openai', path: '/v1' },
};

export interface AgentDemoServer {
  server: WireHttpServer;
  close(): Promise<void>;
}

/** The scripted model (one adapter, the demo cassette) served in every wire format. */
export async function startAgentDemoServer(adapter: ProviderAdapter): Promise<AgentDemoServer> {
  const wire = createScriptedWire(adapter);
  const server = await startWireServer((body, call) => wire(call.route, body, { ...(call.model ? { model: call.model } : {}), signal: call.signal }));
  return { server, close: () => server.close() };
}

/**
 * The config the agent demo runs: the first `count` programmers of `base`, their executors
 * taken in turn from `executors` (e.g. claude-code, codex, native), each CLI programmer on the
 * demo provider of its wire format. `binaries` overrides a CLI's `binary` setting.
 */
export function agentDemoConfig(base: PasConfig, options: { executors: readonly ExecutorKind[]; count: number; origin: string; binaries?: Partial<Record<AgentCliName, string>> }): PasConfig {
  const providers: ModelsConfigFile['providers'] = { ...base.models.providers };
  for (const { provider, kind, path: suffix } of Object.values(CLI_PROVIDER)) {
    providers[provider] = { kind, base_url: `${options.origin}${suffix}`, api_key_env: DEMO_KEY_ENV, timeout_s: 120, models: { [DEMO_MODEL]: { input_per_mtok: 0, output_per_mtok: 0 } } };
  }
  const chosen = base.programmers.slice(0, options.count);
  const programmers: ResolvedProgrammer[] = chosen.map((p, i) => {
    const executor = options.executors[i % options.executors.length]!;
    if (!isAgentCli(executor)) return { ...p, executor };
    const ref = `${CLI_PROVIDER[executor].provider}/${DEMO_MODEL}`;
    const { backup: _backup, ...rest } = p;
    return { ...rest, executor, primary: ref, free: true };
  });
  const byId = new Map(programmers.map((p) => [p.id, p]));
  let pool: PoolConfigFile = {
    ...base.pool,
    pool_size: programmers.length,
    programmers: base.pool.programmers
      .filter((p) => byId.has(p.id))
      .map((p) => {
        const resolved = byId.get(p.id)!;
        const { backup_llm: _b, ...rest } = p;
        return resolved.backup ? { ...p, executor: resolved.executor } : { ...rest, primary_llm: resolved.primary, executor: resolved.executor };
      }),
    capability_routing: {},
  };
  for (const [name, binary] of Object.entries(options.binaries ?? {}) as [AgentCliName, string][]) {
    const section = AGENT_CLI_INSTALL[name].section;
    pool = { ...pool, [section]: { ...pool[section], binary } } as PoolConfigFile;
  }
  return { ...base, models: { providers }, pool, programmers };
}

/** Which requested CLIs cannot be found (binary from the config section), with how to install them. */
export function missingAgentClis(config: PasConfig, executors: readonly string[], pathVar?: string): { name: AgentCliName; binary: string; install: string }[] {
  const missing: { name: AgentCliName; binary: string; install: string }[] = [];
  for (const name of executors) {
    if (!isAgentCli(name)) continue;
    const binary = config.pool[AGENT_CLI_INSTALL[name].section].binary;
    if (!findExecutable(binary, pathVar)) missing.push({ name, binary, install: AGENT_CLI_INSTALL[name].command });
  }
  return missing;
}
