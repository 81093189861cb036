/**
 * Writes an agent's primary/backup LLM back into its config file through the yaml Document API,
 * so comments and layout stay. The change is validated by loading a copy of the whole configs
 * folder with it first; an invalid change is refused and the file is left untouched. Writes are
 * atomic (temp file + rename) and serialized.
 */
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMap, parseDocument, type Document } from 'yaml';
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

/** Applies the change to the parsed document of the file that holds the agent. */
function edit(config: PasConfig, agentId: string, update: LlmChoiceUpdate): { file: string; mutate: (doc: Document) => void } {
  const programmerIndex = config.pool.programmers.findIndex((p) => p.id === agentId);
  if (programmerIndex >= 0) {
    return {
      file: CONFIG_FILES.pool.file,
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
  return {
    file: CONFIG_FILES.pas.file,
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

    const { file, mutate } = edit(config, agentId, update);
    const full = path.join(config.dir, file);
    const original = readFileSync(full, 'utf8');
    const doc = parseDocument(original);
    mutate(doc);
    const text = doc.toString();

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
