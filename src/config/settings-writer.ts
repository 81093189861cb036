/**
 * Writes an agent's primary/backup LLM back into its config file through the yaml Document API,
 * so comments and layout stay. The change is validated by loading a copy of the whole configs
 * folder with it first; an invalid change is refused and the file is left untouched. Writes are
 * atomic (temp file + rename) and serialized.
 */
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMap, isScalar, parseDocument, type Document } from 'yaml';
import { PasError, isPasError } from '../errors.ts';
import { loadConfig, splitModelRef, type PasConfig } from './load-config.ts';
import { CONFIG_FILES } from './schemas.ts';

export interface LlmChoiceUpdate {
  primary: string;
  backup?: string | null;
}

export interface SettingsWriteResult {
  agentId: string;
  file: string;
  primary: string;
  backup: string | null;
  config: PasConfig;
}

function refused(message: string, details: Record<string, unknown>): PasError {
  return new PasError('PAS_ERR_SETTINGS_INVALID', message, { details });
}

function modelExists(config: PasConfig, ref: string): boolean {
  const { provider, model } = splitModelRef(ref);
  return !!config.models.providers[provider]?.models[model];
}

/** One existing scalar to replace in place; `null` when the change also adds or removes nodes. */
type ScalarChanges = Array<{ path: (string | number)[]; value: string }> | null;

/**
 * The original text with each changed scalar replaced where it stands, so every other byte (comment
 * columns, flow maps on one line, blank lines) stays. Null when that cannot express the change or
 * the result would not read back as intended; the caller then re-serializes the document.
 */
function spliceScalars(original: string, changes: ScalarChanges): string | null {
  if (!changes || changes.length === 0) return null;
  const doc = parseDocument(original);
  const spans: { start: number; end: number; value: string }[] = [];
  for (const change of changes) {
    const node = doc.getIn(change.path, true);
    if (!isScalar(node) || !node.range || (node.type !== 'PLAIN' && node.type !== 'QUOTE_DOUBLE' && node.type !== 'QUOTE_SINGLE')) return null;
    spans.push({ start: node.range[0], end: node.range[1], value: change.value });
  }
  for (const quoted of [false, true]) {
    let text = original;
    for (const span of [...spans].sort((a, b) => b.start - a.start)) {
      text = text.slice(0, span.start) + (quoted ? JSON.stringify(span.value) : span.value) + text.slice(span.end);
    }
    const check = parseDocument(text);
    if (check.errors.length === 0 && changes.every((c) => check.getIn(c.path) === c.value)) return text;
  }
  return null;
}

/** Applies the change to the parsed document of the file that holds the agent. */
function edit(config: PasConfig, agentId: string, update: LlmChoiceUpdate): { file: string; mutate: (doc: Document) => void; scalars: ScalarChanges } {
  const programmerIndex = config.pool.programmers.findIndex((p) => p.id === agentId);
  if (programmerIndex >= 0) {
    const at = (key: string) => ['programmers', programmerIndex, key];
    return {
      file: CONFIG_FILES.pool.file,
      scalars:
        update.backup === null
          ? null
          : [{ path: at('primary_llm'), value: update.primary }, ...(update.backup !== undefined ? [{ path: at('backup_llm'), value: update.backup }] : [])],
      mutate(doc) {
        doc.setIn(['programmers', programmerIndex, 'primary_llm'], update.primary);
        if (update.backup === null) doc.deleteIn(['programmers', programmerIndex, 'backup_llm']);
        else if (update.backup !== undefined) doc.setIn(['programmers', programmerIndex, 'backup_llm'], update.backup);
      },
    };
  }
  let base: (string | number)[] | null = null;
  if (config.pas.architect.agent_id === agentId) base = ['architect', 'llm'];
  const managerIndex = config.pas.managers.findIndex((m) => m.agent_id === agentId);
  if (managerIndex >= 0) base = ['managers', managerIndex, 'llm'];
  if (!base) throw new PasError('PAS_ERR_AGENT_NOT_FOUND', `no Architect, Manager or Programmer "${agentId}" has LLM settings`, { details: { field: 'agentId' } });
  const llmPath = base;
  const choice = (which: 'primary' | 'backup', ref: string) => {
    const { provider, model } = splitModelRef(ref);
    return [
      { path: [...llmPath, which, 'provider'], value: provider },
      { path: [...llmPath, which, 'model'], value: model },
    ];
  };
  return {
    file: CONFIG_FILES.pas.file,
    scalars:
      update.backup === null ? null : [...choice('primary', update.primary), ...(update.backup !== undefined ? choice('backup', update.backup) : [])],
    mutate(doc) {
      const setChoice = (which: 'primary' | 'backup', ref: string) => {
        const { provider, model } = splitModelRef(ref);
        const existing = doc.getIn([...llmPath, which], true);
        if (isMap(existing)) {
          doc.setIn([...llmPath, which, 'provider'], provider);
          doc.setIn([...llmPath, which, 'model'], model);
        } else {
          const primary = doc.getIn([...llmPath, 'primary'], true);
          const node = doc.createNode({ provider, model });
          if (isMap(primary) && primary.flow) node.flow = true;
          doc.setIn([...llmPath, which], node);
        }
      };
      setChoice('primary', update.primary);
      if (update.backup === null) doc.deleteIn([...llmPath, 'backup']);
      else if (update.backup !== undefined) setChoice('backup', update.backup);
    },
  };
}

/** An agent's configured primary/backup as `provider/model` refs. */
export function llmOf(config: PasConfig, agentId: string): { primary: string; backup?: string } | undefined {
  const p = config.programmers.find((x) => x.id === agentId);
  if (p) return p.backup ? { primary: p.primary, backup: p.backup } : { primary: p.primary };
  const llm = config.pas.architect.agent_id === agentId ? config.pas.architect.llm : config.pas.managers.find((m) => m.agent_id === agentId)?.llm;
  if (!llm) return undefined;
  const ref = (c: { provider: string; model: string }) => `${c.provider}/${c.model}`;
  return llm.backup ? { primary: ref(llm.primary), backup: ref(llm.backup) } : { primary: ref(llm.primary) };
}

let queue: Promise<unknown> = Promise.resolve();

/** Validates, writes and returns the reloaded config. Throws PAS_ERR_SETTINGS_INVALID and writes nothing on a bad choice. */
export function writeLlmSetting(config: PasConfig, agentId: string, update: LlmChoiceUpdate): Promise<SettingsWriteResult> {
  const run = async () => {
    for (const [field, ref] of [['primary', update.primary], ['backup', update.backup]] as const) {
      if (ref && !modelExists(config, ref)) throw refused(`${field}: model "${ref}" is not in models.yaml`, { field, value: ref });
    }
    if (update.backup && update.backup === update.primary) throw refused('backup: must differ from primary', { field: 'backup' });

    const { file, mutate, scalars } = edit(config, agentId, update);
    const full = path.join(config.dir, file);
    const original = readFileSync(full, 'utf8');
    let text = spliceScalars(original, scalars);
    if (text === null) {
      const doc = parseDocument(original);
      mutate(doc);
      text = doc.toString({ lineWidth: 0 });
    }

    // Validate the whole folder with the change before touching the real file.
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-settings-'));
    let reloaded: PasConfig;
    try {
      for (const { file: f } of Object.values(CONFIG_FILES)) copyFileSync(path.join(config.dir, f), path.join(scratch, f));
      writeFileSync(path.join(scratch, file), text);
      try {
        reloaded = loadConfig(scratch);
      } catch (err) {
        const issues = isPasError(err) ? (err.details.issues as unknown[] | undefined) : undefined;
        throw refused(`the change would make ${file} invalid: ${(err as Error).message}`, { field: 'primary', issues: issues ?? [] });
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    const tmp = `${full}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, full);
    const now = llmOf(reloaded, agentId)!;
    return { agentId, file: full, primary: now.primary, backup: now.backup ?? null, config: loadConfig(config.dir) };
  };
  const next = queue.then(run, run);
  queue = next.catch(() => undefined);
  return next;
}
