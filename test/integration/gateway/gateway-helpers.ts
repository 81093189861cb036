/**
 * What the gateway suites share: the default topology as CONTRACT §1 fixes it, a JSON HTTP
 * helper, a WebSocket feed client that records every message, and a tracker that closes every
 * tree, client and server after each test.
 */
import net from 'node:net';
import { afterEach } from 'vitest';
import { WebSocket } from 'ws';
import type { TransitionRecord, TreeNode } from '../../../src/runtime/transition-record.ts';
import { startTestTree, type TestTree, type TestTreeOptions } from '../../support/test-tree.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';

/** The 23 default agents and their base ports (CONTRACT §1). */
export const DEFAULT_AGENTS: ReadonlyArray<{ id: string; role: 'architect' | 'director' | 'manager' | 'programmer'; port: number }> = [
  { id: 'Architect', role: 'architect', port: 6110 },
  ...['Code', 'Models', 'Data', 'DevSecOps', 'Docs'].map((lane, i) => ({ id: `Dir-${lane}`, role: 'director' as const, port: 6111 + i })),
  ...['Code-01', 'Code-02', 'Code-03', 'Models-01', 'Data-01', 'DevSecOps-01', 'Docs-01'].map((name, i) => ({ id: `Mgr-${name}`, role: 'manager' as const, port: 6141 + i })),
  ...Array.from({ length: 10 }, (_, i) => ({ id: `Prog-${String(i + 1).padStart(3, '0')}`, role: 'programmer' as const, port: 6151 + i })),
];
export const GATEWAY_BASE_PORT = 6101;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  body: JsonAnswer;
}

export async function http(url: string, init: { method?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.raw !== undefined) body = init.raw;
  else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export type FeedMessage = (TransitionRecord & { type: 'transition' }) | { v: 1; type: 'hello'; seq: number; tree: Record<string, TreeNode>; gap?: true; oldestSeq?: number };

export interface FeedClient {
  ws: WebSocket;
  messages: FeedMessage[];
  raw: string[];
  hello(): Extract<FeedMessage, { type: 'hello' }>;
  transitions(): TransitionRecord[];
  /** Every record of the feed's seq series after the hello: transitions, progress and merge messages. */
  records(): { seq: number; type: string }[];
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** Tracks what a test opened; everything is closed after each test. */
export function useCleanup() {
  const closers: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  return {
    defer(close: () => Promise<unknown> | unknown): void {
      closers.push(close);
    },
    async tree(options: TestTreeOptions): Promise<TestTree> {
      const tree = await startTestTree(options);
      closers.push(() => tree.close());
      return tree;
    },
    async feed(baseUrl: string, query = ''): Promise<FeedClient> {
      const client = await openFeed(baseUrl, query);
      closers.push(() => client.ws.terminate());
      return client;
    },
  };
}

export async function openFeed(baseUrl: string, query = ''): Promise<FeedClient> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws${query}`);
  const messages: FeedMessage[] = [];
  const raw: string[] = [];
  ws.on('message', (data) => {
    const text = String(data);
    raw.push(text);
    messages.push(JSON.parse(text) as FeedMessage);
  });
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    messages,
    raw,
    hello() {
      const first = messages[0];
      if (!first || first.type !== 'hello') throw new Error(`first feed message is not a hello: ${JSON.stringify(first)}`);
      return first;
    },
    transitions: () => messages.filter((m): m is TransitionRecord & { type: 'transition' } => m.type === 'transition'),
    records: () => messages.filter((m) => m.type !== 'hello') as { seq: number; type: string }[],
    closed,
    close: () => ws.close(),
  };
}

/** Whether something accepts TCP connections on host:port right now. */
export function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Holds a port on 127.0.0.1 the way another program would. */
export async function occupy(port: number): Promise<net.Server> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve());
  });
  return server;
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
