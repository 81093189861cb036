/**
 * Temp copies of the shipped configs, edited through the yaml Document API (comments and layout
 * kept) or as text, for config validation tests.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';

export const SHIPPED_CONFIGS = path.resolve(import.meta.dirname, '../../../configs');

export interface ConfigCopy {
  dir: string;
  file(name: string): string;
  /** Change one value by key path (`['programmers', 3, 'parent']`). */
  set(name: string, keyPath: Array<string | number>, value: unknown): void;
  /** Edit a file as text. */
  edit(name: string, change: (text: string) => string): void;
  /** 1-based line of the first line containing `needle`. */
  lineOf(name: string, needle: string): number;
  remove(): void;
}

export function copyConfigs(): ConfigCopy {
  const dir = mkdtempSync(path.join(tmpdir(), 'pas-configs-'));
  cpSync(SHIPPED_CONFIGS, dir, { recursive: true });
  const file = (name: string) => path.join(dir, name);
  return {
    dir,
    file,
    set(name, keyPath, value) {
      const doc = parseDocument(readFileSync(file(name), 'utf8'));
      doc.setIn(keyPath, value);
      writeFileSync(file(name), String(doc));
    },
    edit(name, change) {
      writeFileSync(file(name), change(readFileSync(file(name), 'utf8')));
    },
    lineOf(name, needle) {
      const index = readFileSync(file(name), 'utf8')
        .split('\n')
        .findIndex((line) => line.includes(needle));
      if (index < 0) throw new Error(`${needle} not in ${name}`);
      return index + 1;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The kinds of bad config `pas validate` must reject, each with the file and key it must name. */
export interface BadConfigCase {
  name: string;
  file: string;
  keyPath: string;
  message: RegExp;
  /** One case of each kind also runs through the real `pas validate` process. */
  cli?: boolean;
  apply(copy: ConfigCopy): void;
}

export const BAD_CONFIGS: BadConfigCase[] = [
  {
    name: 'an unknown key',
    cli: true,
    file: 'programmer_pool.yaml',
    keyPath: 'programmers[3].colour',
    message: /unknown key "colour"/,
    apply: (c) => c.set('programmer_pool.yaml', ['programmers', 3, 'colour'], 'blue'),
  },
  {
    name: 'an unknown top-level key in pas.yaml',
    file: 'pas.yaml',
    keyPath: 'gateway.prot',
    message: /unknown key "prot"/,
    apply: (c) => c.set('pas.yaml', ['gateway', 'prot'], 6101),
  },
  {
    name: 'a value of the wrong type',
    cli: true,
    file: 'programmer_pool.yaml',
    keyPath: 'pool_size',
    message: /expected number/,
    apply: (c) => c.set('programmer_pool.yaml', ['pool_size'], 'ten'),
  },
  {
    name: 'a nested value of the wrong type',
    file: 'pas.yaml',
    keyPath: 'managers[0].resources.max_concurrent_tasks',
    message: /expected number/,
    apply: (c) => c.set('pas.yaml', ['managers', 0, 'resources', 'max_concurrent_tasks'], 'two'),
  },
  {
    name: 'a duplicate port',
    cli: true,
    file: 'programmer_pool.yaml',
    keyPath: 'programmers[3].port',
    message: /duplicate port 6151 \(also used by Prog-001\)/,
    apply: (c) => c.set('programmer_pool.yaml', ['programmers', 3, 'port'], 6151),
  },
  {
    name: 'a programmer port taken by a Manager',
    file: 'programmer_pool.yaml',
    keyPath: 'programmers[0].port',
    message: /duplicate port 6141 \(also used by Mgr-Code-01\)/,
    apply: (c) => c.set('programmer_pool.yaml', ['programmers', 0, 'port'], 6141),
  },
  {
    name: 'a duplicate agent id',
    cli: true,
    file: 'programmer_pool.yaml',
    keyPath: 'programmers[3].id',
    message: /duplicate agent id "Prog-001"/,
    apply: (c) => c.set('programmer_pool.yaml', ['programmers', 3, 'id'], 'Prog-001'),
  },
  {
    name: 'a Manager id that a Director already has',
    file: 'pas.yaml',
    keyPath: 'managers[1].agent_id',
    message: /duplicate agent id "Dir-Code"/,
    apply: (c) => c.set('pas.yaml', ['managers', 1, 'agent_id'], 'Dir-Code'),
  },
  {
    name: 'a programmer whose parent does not exist',
    cli: true,
    file: 'programmer_pool.yaml',
    keyPath: 'programmers[3].parent',
    message: /parent "Mgr-Nope-01" is not a Manager/,
    apply: (c) => c.set('programmer_pool.yaml', ['programmers', 3, 'parent'], 'Mgr-Nope-01'),
  },
  {
    name: 'a programmer model not in models.yaml',
    cli: true,
    file: 'programmer_pool.yaml',
    keyPath: 'programmers[3].primary_llm',
    message: /model "ollama\/llama-nope:1b" is not in models.yaml/,
    apply: (c) => c.set('programmer_pool.yaml', ['programmers', 3, 'primary_llm'], 'ollama/llama-nope:1b'),
  },
  {
    name: 'a Manager model not in models.yaml',
    file: 'pas.yaml',
    keyPath: 'managers[2].llm.backup.model',
    message: /model "anthropic\/claude-nope" is not in models.yaml/,
    apply: (c) => c.set('pas.yaml', ['managers', 2, 'llm', 'backup', 'model'], 'claude-nope'),
  },
  {
    name: 'a programmer on another host without a distribution section',
    cli: true,
    file: 'programmer_pool.yaml',
    keyPath: 'programmers[3].host',
    message: /host "gpu-1" needs a distribution section \(nats_url\) in pas.yaml/,
    apply: (c) => c.set('programmer_pool.yaml', ['programmers', 3, 'host'], 'gpu-1'),
  },
  {
    name: 'a distribution section whose nats_url is not a NATS address',
    file: 'pas.yaml',
    keyPath: 'distribution.nats_url',
    message: /expected nats:\/\/host:port/,
    apply: (c) => c.set('pas.yaml', ['distribution'], { nats_url: 'http://broker/path' }),
  },
  {
    name: 'a distribution section that would call a worker offline between two heartbeats',
    file: 'pas.yaml',
    keyPath: 'distribution.offline_after_ms',
    message: /more than twice heartbeat_ms/,
    apply: (c) => c.set('pas.yaml', ['distribution'], { nats_url: 'nats://127.0.0.1:4222', heartbeat_ms: 1000, offline_after_ms: 1500 }),
  },
  {
    name: 'a negative watch budget for the reused checkouts',
    cli: true,
    file: 'programmer_pool.yaml',
    keyPath: 'checkouts.max_watches',
    message: />=0/,
    apply: (c) => c.set('programmer_pool.yaml', ['checkouts'], { max_watches: -1 }),
  },
  {
    name: 'a misspelt distribution key',
    file: 'pas.yaml',
    keyPath: 'distribution.prefx',
    message: /unknown key "prefx"/,
    apply: (c) => c.set('pas.yaml', ['distribution'], { nats_url: 'nats://127.0.0.1:4222', prefx: 'a' }),
  },
];
