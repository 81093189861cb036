/**
 * Load → validate → cross-check → freeze. A bad config becomes one PAS_ERR_CONFIG_INVALID whose
 * issues each name the file, the key path, the line and what is wrong.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { PasError } from '../errors.ts';
import { priceIsFree } from '../llm/prices.ts';
import {
  CONFIG_FILES,
  type CmdAllowlist,
  type ExecutorKind,
  type FsAllowlist,
  type ModelsConfigFile,
  type PasConfigFile,
  type PoolConfigFile,
} from './schemas.ts';

export interface ConfigIssue {
  file: string;
  /** Dotted key path with [i] for list items, e.g. `programmers[3].parent`. */
  path: string;
  message: string;
  line?: number;
}

export interface ResolvedProgrammer {
  id: string;
  port: number;
  parent: string;
  primary: string;
  backup?: string;
  capabilities: string[];
  executor: ExecutorKind;
  timeoutMs: number;
  /** True when the primary model costs nothing (local). */
  free: boolean;
  /** The worker that runs it (`programmers[].host`); absent or `local`: the central process. */
  host?: string;
}

export interface PasConfig {
  /** Absolute path of the configs folder the files came from. */
  readonly dir: string;
  readonly pas: PasConfigFile;
  readonly pool: PoolConfigFile;
  readonly models: ModelsConfigFile;
  readonly fsAllowlist: FsAllowlist;
  readonly cmdAllowlist: CmdAllowlist;
  readonly programmers: readonly ResolvedProgrammer[];
}

/** The configs folder shipped with PAS (used when `pas` runs from a folder that has none). */
export const PACKAGED_CONFIG_DIR = fileURLToPath(new URL('../../configs', import.meta.url));

/**
 * `PAS_CONFIG_DIR`, else `./configs` when it holds a pas.yaml, else the configs shipped with PAS,
 * so `pas` works from any folder (a user's own repository) after `npm link`.
 */
export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  if (env.PAS_CONFIG_DIR) return path.resolve(cwd, env.PAS_CONFIG_DIR);
  const local = path.resolve(cwd, 'configs');
  return existsSync(path.join(local, 'pas.yaml')) ? local : PACKAGED_CONFIG_DIR;
}

/**
 * Where a relative `runtime.data_dir` lives: beside the shipped configs (the PAS folder) when
 * those are in use, else the current folder, as before.
 */
export function resolveDataDir(config: Pick<PasConfig, 'dir' | 'pas'>, cwd: string = process.cwd()): string {
  const base = path.resolve(config.dir) === path.resolve(PACKAGED_CONFIG_DIR) ? path.dirname(PACKAGED_CONFIG_DIR) : cwd;
  return path.resolve(base, config.pas.runtime.data_dir);
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line ? `${issue.file}:${issue.line}` : issue.file;
  return `${where}: ${issue.path || '(root)'}: ${issue.message}`;
}

export function configError(issues: ConfigIssue[]): PasError {
  const message = `invalid configuration:\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`;
  return new PasError('PAS_ERR_CONFIG_INVALID', message, { details: { issues } });
}

export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

interface ParsedFile {
  file: string;
  doc: Document;
  lines: LineCounter;
}

function lineOf(parsed: ParsedFile, segments: readonly PropertyKey[]): number | undefined {
  // Walk up the path until a node with a position is found (a missing key has no node).
  for (let n = segments.length; n >= 0; n--) {
    const node = parsed.doc.getIn(segments.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return parsed.lines.linePos(node.range[0]).line;
  }
  return undefined;
}

const MAX_ALIAS_COUNT = 100;

function readYaml(dir: string, file: string): ParsedFile {
  const full = path.join(dir, file);
  if (!existsSync(full)) {
    throw new PasError('PAS_ERR_CONFIG_NOT_FOUND', `${full}: file not found`, { details: { file: full } });
  }
  const lines = new LineCounter();
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PasError('PAS_ERR_CONFIG_NOT_FOUND', `${full}: cannot be read (${code === 'EISDIR' ? 'it is a folder, not a file' : code ?? 'error'})`, { details: { file: full } });
  }
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e) => ({
      file: full,
      path: '',
      message: e.message.split('\n')[0] ?? e.message,
      line: e.linePos?.[0]?.line,
    }));
    const message = `invalid YAML:\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`;
    throw new PasError('PAS_ERR_CONFIG_YAML', message, { details: { issues } });
  }
  try {
    // Aliases are expanded here: a "billion laughs" file would take all memory, so their count is capped.
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const issue = { file: full, path: '', message: `${(err as Error).message} (at most ${MAX_ALIAS_COUNT} alias expansions)` };
    throw new PasError('PAS_ERR_CONFIG_YAML', `invalid YAML:\n  ${formatIssue(issue)}`, { details: { issues: [issue] } });
  }
  return { file: full, doc, lines };
}

function validate<S extends z.ZodType>(parsed: ParsedFile, schema: S, issues: ConfigIssue[]): z.infer<S> | undefined {
  const result = schema.safeParse(parsed.doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {});
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    let segments: PropertyKey[] = issue.path;
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      // Point at the unknown key itself rather than its parent object.
      for (const key of issue.keys) {
        segments = [...issue.path, key];
        issues.push({ file: parsed.file, path: formatPath(segments), message: `unknown key "${key}"`, line: lineOf(parsed, segments) });
      }
      continue;
    }
    if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) message = `required (${issue.message})`;
    issues.push({ file: parsed.file, path: formatPath(segments), message, line: lineOf(parsed, segments) });
  }
  return undefined;
}

/** Reads and validates every file of a configs folder. Throws a coded PasError on any problem. */
export function loadConfig(dir: string = defaultConfigDir()): PasConfig {
  const absDir = path.resolve(dir);
  const parsed = {
    pas: readYaml(absDir, CONFIG_FILES.pas.file),
    pool: readYaml(absDir, CONFIG_FILES.pool.file),
    models: readYaml(absDir, CONFIG_FILES.models.file),
    fsAllowlist: readYaml(absDir, CONFIG_FILES.fsAllowlist.file),
    cmdAllowlist: readYaml(absDir, CONFIG_FILES.cmdAllowlist.file),
  };
  const issues: ConfigIssue[] = [];
  const pas = validate(parsed.pas, CONFIG_FILES.pas.schema, issues);
  const pool = validate(parsed.pool, CONFIG_FILES.pool.schema, issues);
  const models = validate(parsed.models, CONFIG_FILES.models.schema, issues);
  const fsAllowlist = validate(parsed.fsAllowlist, CONFIG_FILES.fsAllowlist.schema, issues);
  const cmdAllowlist = validate(parsed.cmdAllowlist, CONFIG_FILES.cmdAllowlist.schema, issues);
  if (!pas || !pool || !models || !fsAllowlist || !cmdAllowlist) throw configError(issues);

  const at = (file: ParsedFile, segments: PropertyKey[], message: string) =>
    issues.push({ file: file.file, path: formatPath(segments), message, line: lineOf(file, segments) });
  crossCheck(pas, pool, models, parsed, at);
  if (issues.length > 0) throw configError(issues);

  const programmers = pool.programmers.map((p): ResolvedProgrammer => {
    const resolved: ResolvedProgrammer = {
      id: p.id,
      port: p.port,
      parent: p.parent ?? pas.managers[0]!.agent_id,
      primary: p.primary_llm,
      capabilities: p.capabilities,
      executor: p.executor ?? pool.defaults.executor,
      timeoutMs: (p.timeout_s ?? pool.defaults.timeout_s) * 1000,
      free: modelIsFree(models, p.primary_llm),
    };
    if (p.backup_llm) resolved.backup = p.backup_llm;
    if (p.host !== 'local') resolved.host = p.host;
    return resolved;
  });

  return deepFreeze({ dir: absDir, pas, pool, models, fsAllowlist, cmdAllowlist, programmers });
}

export function splitModelRef(ref: string): { provider: string; model: string } {
  const slash = ref.indexOf('/');
  return { provider: ref.slice(0, slash), model: ref.slice(slash + 1) };
}

export function modelIsFree(models: ModelsConfigFile, ref: string): boolean {
  const { provider, model } = splitModelRef(ref);
  const price = models.providers[provider]?.models[model];
  return !!price && priceIsFree(price);
}

function crossCheck(
  pas: PasConfigFile,
  pool: PoolConfigFile,
  models: ModelsConfigFile,
  files: Record<'pas' | 'pool' | 'models', ParsedFile>,
  at: (file: ParsedFile, segments: PropertyKey[], message: string) => void,
): void {
  const hasModel = (provider: string, model: string) => !!models.providers[provider]?.models[model];
  const knownModels = () =>
    Object.entries(models.providers)
      .flatMap(([p, cfg]) => Object.keys(cfg.models).map((m) => `${p}/${m}`))
      .join(', ');

  // Agent ids and ports are unique across the whole tree (and the gateway port).
  const ids = new Map<string, string>();
  const ports = new Map<number, string>([[pas.gateway.port, 'gateway']]);
  const claim = (file: ParsedFile, segments: PropertyKey[], id: string, port: number) => {
    const idOwner = ids.get(id);
    if (idOwner) at(file, [...segments, file === files.pool ? 'id' : 'agent_id'], `duplicate agent id "${id}" (also ${idOwner})`);
    else ids.set(id, formatPath(segments));
    const portOwner = ports.get(port);
    if (portOwner) at(file, [...segments, 'port'], `duplicate port ${port} (also used by ${portOwner})`);
    else ports.set(port, id);
  };
  claim(files.pas, ['architect'], pas.architect.agent_id, pas.architect.port);
  pas.directors.forEach((d, i) => claim(files.pas, ['directors', i], d.agent_id, d.port));
  pas.managers.forEach((m, i) => claim(files.pas, ['managers', i], m.agent_id, m.port));
  pool.programmers.forEach((p, i) => claim(files.pool, ['programmers', i], p.id, p.port));

  const checkLlm = (file: ParsedFile, segments: PropertyKey[], llm: { primary: { provider: string; model: string }; backup?: { provider: string; model: string } | undefined }) => {
    for (const which of ['primary', 'backup'] as const) {
      const choice = llm[which];
      if (choice && !hasModel(choice.provider, choice.model)) {
        at(file, [...segments, 'llm', which, 'model'], `model "${choice.provider}/${choice.model}" is not in models.yaml (known: ${knownModels()})`);
      }
    }
  };
  checkLlm(files.pas, ['architect'], pas.architect.llm);

  const directorLanes = new Map<string, string>();
  pas.directors.forEach((d, i) => {
    if (d.parent !== pas.architect.agent_id) at(files.pas, ['directors', i, 'parent'], `parent "${d.parent}" is not the Architect (${pas.architect.agent_id})`);
    if (!pas.lanes.includes(d.lane)) at(files.pas, ['directors', i, 'lane'], `lane "${d.lane}" is not in lanes`);
    if ([...directorLanes.values()].includes(d.lane)) at(files.pas, ['directors', i, 'lane'], `lane "${d.lane}" already has a Director`);
    directorLanes.set(d.agent_id, d.lane);
    if (d.llm) checkLlm(files.pas, ['directors', i], d.llm);
  });
  const managerIds = new Set<string>();
  pas.managers.forEach((m, i) => {
    managerIds.add(m.agent_id);
    const lane = directorLanes.get(m.parent);
    if (lane === undefined) at(files.pas, ['managers', i, 'parent'], `parent "${m.parent}" is not a Director (known: ${[...directorLanes.keys()].join(', ')})`);
    else if (lane !== m.lane) at(files.pas, ['managers', i, 'lane'], `lane "${m.lane}" differs from its Director's lane "${lane}"`);
    checkLlm(files.pas, ['managers', i], m.llm);
  });
  for (const lane of pas.lanes) {
    if (![...directorLanes.values()].includes(lane)) at(files.pas, ['lanes'], `lane "${lane}" has no Director`);
  }

  if (pool.pool_size !== pool.programmers.length) {
    at(files.pool, ['pool_size'], `pool_size is ${pool.pool_size} but ${pool.programmers.length} programmers are listed`);
  }
  const programmerIds = new Set(pool.programmers.map((p) => p.id));
  pool.programmers.forEach((p, i) => {
    if (p.parent !== undefined && !managerIds.has(p.parent)) {
      at(files.pool, ['programmers', i, 'parent'], `parent "${p.parent}" is not a Manager (known: ${[...managerIds].join(', ')})`);
    }
    if (p.host !== 'local' && !pas.distribution) {
      at(files.pool, ['programmers', i, 'host'], `host "${p.host}" needs a distribution section (nats_url) in pas.yaml; without it every programmer runs here (host: local)`);
    }
    for (const key of ['primary_llm', 'backup_llm'] as const) {
      const ref = p[key];
      if (ref === undefined) continue;
      const { provider, model } = splitModelRef(ref);
      if (!hasModel(provider, model)) at(files.pool, ['programmers', i, key], `model "${ref}" is not in models.yaml (known: ${knownModels()})`);
    }
  });
  for (const [cap, list] of Object.entries(pool.capability_routing)) {
    list.forEach((id, j) => {
      if (!programmerIds.has(id)) at(files.pool, ['capability_routing', cap, j], `"${id}" is not a programmer`);
    });
  }
  for (const [name, provider] of Object.entries(models.providers)) {
    const kind = provider.kind ?? name;
    if (!['ollama', 'openai', 'anthropic', 'google', 'scripted'].includes(kind)) {
      at(files.models, ['providers', name, 'kind'], `provider "${name}" needs a kind (ollama, openai, anthropic, google or scripted)`);
    } else if (kind !== 'scripted' && !provider.base_url) {
      at(files.models, ['providers', name, 'base_url'], 'required for a network provider');
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
