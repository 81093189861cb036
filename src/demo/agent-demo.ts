/**
 * The demo on coding agents (`pas demo --executors claude-code,codex`, and the mixed-agents
 * test): the same job and cassette as the offline demo, with some programmers running agent
 * CLIs instead of the native editor. The CLIs reach the scripted model through PAS's own LLM
 * gateway (`/llm/...` on the gateway port, CONTRACT §9) in their own provider's wire format
 * (src/llm/wire/), with a per-task credential: the gateway answers for the `scripted` model,
 * measures each call and the receipts carry what it measured.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { PasConfig, ResolvedProgrammer } from '../config/load-config.ts';
import type { ExecutorKind, PoolConfigFile } from '../config/schemas.ts';
import { AGENT_CLI_INSTALL } from '../executors/agent-cli/agent-cli-install.ts';
import type { AgentCliExecutorName } from '../executors/agent-cli/agent-cli-spec.ts';
import { PasError } from '../errors.ts';

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

/**
 * The scripted provider of `base` (models.yaml's `kind: scripted` entry): the model every CLI
 * programmer of the demo runs, answered by the LLM gateway in the CLI's own wire format.
 */
export function scriptedModelRef(base: PasConfig): string {
  const entry = Object.entries(base.models.providers).find(([name, p]) => (p.kind ?? name) === 'scripted');
  const model = entry ? Object.keys(entry[1].models)[0] : undefined;
  if (!entry || !model) {
    throw new PasError('PAS_ERR_CONFIG_INVALID', `${base.dir}/models.yaml: the agent demo needs a provider of kind "scripted" (providers.scripted) with one model`, {
      details: { file: 'models.yaml', path: 'providers.scripted' },
    });
  }
  return `${entry[0]}/${model}`;
}

/**
 * The config the agent demo runs: the first `count` programmers of `base`, their executors
 * taken in turn from `executors` (e.g. claude-code, codex, native), each CLI programmer on the
 * scripted model, which it reaches through PAS's LLM gateway (CONTRACT §9) with a per-task
 * credential like any other model. `binaries` overrides a CLI's `binary` setting.
 */
export function agentDemoConfig(base: PasConfig, options: { executors: readonly ExecutorKind[]; count: number; binaries?: Partial<Record<AgentCliName, string>> }): PasConfig {
  const scripted = scriptedModelRef(base);
  const chosen = base.programmers.slice(0, options.count);
  const programmers: ResolvedProgrammer[] = chosen.map((p, i) => {
    const executor = options.executors[i % options.executors.length]!;
    if (!isAgentCli(executor)) return { ...p, executor };
    const { backup: _backup, ...rest } = p;
    return { ...rest, executor, primary: scripted, free: true };
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
  return { ...base, pool, programmers };
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
