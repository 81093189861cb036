/**
 * Temp copies of the shipped configs folder, optionally edited through the yaml Document API
 * (so the copy keeps its comments, as a user's file would).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument, type Document } from 'yaml';

export const SHIPPED_CONFIGS = path.resolve(import.meta.dirname, '../../configs');

export interface TempConfig {
  dir: string;
  edit(file: string, change: (doc: Document) => void): void;
  read(file: string): string;
  cleanup(): void;
}

export function tempConfig(prefix = 'pas-config-'): TempConfig {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  const dir = path.join(root, 'configs');
  cpSync(SHIPPED_CONFIGS, dir, { recursive: true });
  return {
    dir,
    edit(file, change) {
      const full = path.join(dir, file);
      const doc = parseDocument(readFileSync(full, 'utf8'));
      change(doc);
      writeFileSync(full, doc.toString());
    },
    read: (file) => readFileSync(path.join(dir, file), 'utf8'),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Programmers Prog-001 … Prog-NNN on ports 6151…, free local models, for bigger pools. */
export function growPool(config: TempConfig, size: number): void {
  config.edit('programmer_pool.yaml', (doc) => {
    const managers = ['Mgr-Code-01', 'Mgr-Code-02', 'Mgr-Code-03'];
    const programmers = Array.from({ length: size }, (_, i) => ({
      id: `Prog-${String(i + 1).padStart(3, '0')}`,
      port: 6151 + i,
      parent: managers[i % managers.length],
      primary_llm: 'ollama/qwen2.5-coder:7b-instruct',
      backup_llm: 'ollama/qwen2.5-coder:14b-instruct',
      capabilities: ['fast', 'free'],
    }));
    doc.set('pool_size', size);
    doc.set('programmers', doc.createNode(programmers));
    doc.set('capability_routing', doc.createNode({}));
  });
}
