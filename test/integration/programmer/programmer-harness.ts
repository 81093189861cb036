/**
 * Shared by the programmer integration tests: a temp configs folder with a small pool whose
 * programmers use the models under test, HTTP helpers for a programmer's own port, the receipts
 * file, and a /ws feed client. Everything real: sockets, git, SQLite.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WebSocket } from 'ws';
import type { Receipt } from '../../../src/llm/types.ts';
import type { FakeKind } from '../../support/provider-fixtures.ts';
import { FAKE_AIDER_DIR } from '../../support/git-fixtures.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import type { TestTree } from '../../support/test-tree.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';

export interface ProgrammerEntry {
  id: string;
  primary: string;
  backup?: string;
  capabilities?: string[];
  executor?: 'native' | 'aider';
}

export interface PoolOptions {
  programmers: ProgrammerEntry[];
  /** models.yaml base_url per provider (a fake protocol server). */
  baseUrls?: Partial<Record<FakeKind, string>>;
  failover?: { enabled?: boolean; max_retries?: number; retry_delay_s?: number; failure_threshold?: number };
  maxDailySpendUsd?: number;
  aiderBinary?: string;
}

/** The file the edit tests change, the change, and the SEARCH/REPLACE reply that makes it. */
export const GREET = "export const greeting = 'hello';\nexport function greet(name: string): string {\n  return `${greeting}, ${name}`;\n}\n";
export const GREET_EDITED = "export const greeting = 'hi';\nexport const farewell = 'bye';\nexport function greet(name: string): string {\n  return `${greeting}, ${name}`;\n}\n";
export const EDIT_REPLY = [
  'Renaming the greeting and adding a farewell.',
  '',
  'src/greet.ts',
  '```ts',
  '<<<<<<< SEARCH',
  "export const greeting = 'hello';",
  '=======',
  "export const greeting = 'hi';",
  "export const farewell = 'bye';",
  '>>>>>>> REPLACE',
  '```',
].join('\n');

/** What one OpenAI answer with this usage costs at models.yaml's gpt-4o prices (1,200 in, 200 of them cached, 340 out). */
export const PAID_USAGE = { input: 1200, output: 340, cacheRead: 200, thinking: 0 };
export const PAID_CALL_USD = 0.00615;
/** An edit of src/greet.ts whose SEARCH is not in the file: the programmer asks the model once more to correct it. */
export const MISSING_EDIT = ['src/greet.ts', '```ts', '<<<<<<< SEARCH', 'export const nothing = 0;', '=======', 'export const nothing = 1;', '>>>>>>> REPLACE', '```'].join('\n');
/** The task the paid-model tests send: it edits src/greet.ts (GREET). */
export const GREET_INSTRUCTION = "Say 'hi' and add a farewell.";

/** A temp configs folder whose pool is exactly `programmers` (ports 6151…, under Mgr-Code-01). */
export function programmerConfig(options: PoolOptions): TempConfig {
  const cfg = tempConfig('pas-prog-');
  cfg.edit('programmer_pool.yaml', (doc) => {
    const programmers = options.programmers.map((p, i) => ({
      id: p.id,
      port: 6151 + i,
      parent: 'Mgr-Code-01',
      primary_llm: p.primary,
      ...(p.backup ? { backup_llm: p.backup } : {}),
      capabilities: p.capabilities ?? ['fast'],
      ...(p.executor ? { executor: p.executor } : {}),
    }));
    doc.set('pool_size', programmers.length);
    doc.set('programmers', doc.createNode(programmers));
    doc.set('capability_routing', doc.createNode({}));
    const f = options.failover ?? {};
    doc.setIn(['failover', 'enabled'], f.enabled ?? true);
    doc.setIn(['failover', 'max_retries'], f.max_retries ?? 0);
    doc.setIn(['failover', 'retry_delay_s'], f.retry_delay_s ?? 0);
    if (f.failure_threshold !== undefined) doc.setIn(['failover', 'circuit_breaker', 'failure_threshold'], f.failure_threshold);
    if (options.maxDailySpendUsd !== undefined) doc.setIn(['cost_optimization', 'max_daily_spend_usd'], options.maxDailySpendUsd);
    if (options.aiderBinary) doc.setIn(['aider', 'binary'], options.aiderBinary);
  });
  if (options.baseUrls) {
    cfg.edit('models.yaml', (doc) => {
      for (const [provider, url] of Object.entries(options.baseUrls!)) doc.setIn(['providers', provider, 'base_url'], url);
    });
  }
  return cfg;
}

/** An executable that runs the fake aider with extra settings (the executor passes aider a clean env). */
export function aiderWrapper(dir: string, env: Record<string, string>): string {
  const file = path.join(dir, 'aider-wrapper');
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v}'`);
  writeFileSync(file, ['#!/bin/sh', ...exports, `exec '${process.execPath}' '${path.join(FAKE_AIDER_DIR, 'aider')}' "$@"`, ''].join('\n'));
  chmodSync(file, 0o755);
  return file;
}

/** The env vars that would override models.yaml base URLs; cleared so the temp config decides. */
export const BASE_URL_ENV = ['OLLAMA_HOST', 'OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL', 'GOOGLE_GEMINI_BASE_URL'] as const;

/** Sets (or, with undefined, removes) env vars and returns a function that restores them. */
export function setEnv(values: Record<string, string | undefined>): () => void {
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(values)) {
    saved.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

export interface HttpAnswer<T = JsonAnswer> {
  status: number;
  body: T;
  text: string;
}

export async function http<T = JsonAnswer>(url: string, init: { method?: string; body?: unknown } = {}): Promise<HttpAnswer<T>> {
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    ...(init.body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  let body: JsonAnswer = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain text (metrics)
  }
  return { status: res.status, body: body as T, text };
}

/** `http://127.0.0.1:<port>` of an agent's own server. */
export function agentUrl(tree: TestTree, agentId: string): string {
  const port = tree.gateway!.agentPorts.get(agentId);
  if (port === undefined) throw new Error(`${agentId} has no port`);
  return `http://127.0.0.1:${port}`;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'interrupted']);

/** Polls `GET /status/{task_id}` on the programmer's port until the task has ended. */
export async function waitForTask(base: string, taskId: string, timeoutMs = 20_000): Promise<JsonAnswer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await http(`${base}/status/${taskId}`);
    if (answer.status !== 200) throw new Error(`GET /status/${taskId} answered ${answer.status}: ${answer.text}`);
    if (TERMINAL.has(answer.body.status)) return answer.body;
    if (Date.now() > deadline) throw new Error(`task ${taskId} still ${answer.body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** POST a task to a programmer's own port (`/execute` or `/aider/edit`), expect 202, wait for its end. */
export async function runTask(base: string, body: Record<string, unknown>, endpoint: '/execute' | '/aider/edit' = '/execute'): Promise<{ accepted: JsonAnswer; task: JsonAnswer }> {
  const accepted = await http(`${base}${endpoint}`, { body });
  if (accepted.status !== 202) throw new Error(`POST ${endpoint} answered ${accepted.status}: ${accepted.text}`);
  const task = await waitForTask(base, accepted.body.task_id);
  return { accepted: accepted.body, task };
}

export function receiptsFile(tree: TestTree): string {
  return path.join(tree.dataDir, 'receipts', `${tree.runtime.runId}.jsonl`);
}

export function readReceipts(tree: TestTree): Receipt[] {
  const file = receiptsFile(tree);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Receipt);
}

export function receiptOf(tree: TestTree, taskId: string): Receipt {
  const matches = readReceipts(tree).filter((r) => r.task_id === taskId);
  if (matches.length !== 1) throw new Error(`expected one receipt for ${taskId}, found ${matches.length}`);
  return matches[0]!;
}

export interface FeedClient {
  messages: Array<Record<string, JsonAnswer>>;
  raw: string[];
  close(): void;
}

/** Connects to the gateway's /ws and resolves once the hello arrived. */
export async function openFeed(gatewayUrl: string): Promise<FeedClient> {
  const ws = new WebSocket(`${gatewayUrl.replace(/^http/, 'ws')}/ws`);
  const messages: Array<Record<string, JsonAnswer>> = [];
  const raw: string[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.on('message', (data) => {
      raw.push(String(data));
      const message = JSON.parse(String(data)) as Record<string, JsonAnswer>;
      messages.push(message);
      if (message.type === 'hello') resolve();
    });
  });
  return { messages, raw, close: () => ws.terminate() };
}

export async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
