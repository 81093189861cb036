/**
 * Property-based fuzzing (fast-check) of every HTTP route of the gateway and of one agent of
 * each role on its own port, and of the WebSocket endpoints: arbitrary JSON bodies and
 * prototype-pollution keys, arbitrary unicode in path params and query strings, wrong content
 * types, raw garbage. Never a 5xx, never a crash: the tree still answers afterwards and a feed
 * client keeps receiving every transition in order.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { inProcessServices } from '../support/in-process-services.ts';
import { tempConfig, type TempConfig } from '../support/test-config.ts';
import { startTestTree, type TestTree } from '../support/test-tree.ts';

/** Every route of the gateway, as `METHOD template` (checked against fastify's router below). */
const GATEWAY_ROUTES = [
  'GET /health',
  'GET /metrics',
  'GET /api/tree',
  'GET /api/agents',
  'GET /api/agents/:id',
  'POST /api/agents/:id/reset',
  'POST /api/agents/:id/fault',
  'POST /api/jobs',
  'GET /api/jobs',
  'GET /api/jobs/:id',
  'POST /api/jobs/:id/cancel',
  'GET /api/pool',
  'GET /api/models',
  'GET /api/settings/llm',
  'PUT /api/settings/llm/:id',
] as const;
const PROGRAMMER_ROUTES = ['GET /health', 'POST /agent_chat/receive', 'POST /execute', 'POST /aider/edit', 'GET /status/:task_id'] as const;
const MANAGER_ROUTES = ['GET /health', 'POST /agent_chat/receive', 'POST /submit', 'GET /status/:job_id', 'GET /programmer_pool/status'] as const;
const LEADER_ROUTES = ['GET /health', 'POST /agent_chat/receive', 'POST /submit', 'GET /status/:job_id'] as const;
const AGENTS = { programmer: 'Prog-001', manager: 'Mgr-Code-01', director: 'Dir-Code', architect: 'Architect' } as const;

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];
const FIELD_NAMES = ['task', 'lane', 'files', 'repo', 'instruction', 'message', 'task_id', 'job_id', 'timeout_s', 'from', 'kind', 'primary', 'backup', ...PROTO_KEYS];

/** Values that stress parsers: huge and odd numbers, deep nesting, unicode, near-valid fields. */
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, -0, 0.1, 1e-320, '', ' ', '\u0000', '\uD800', '../../etc/passwd', 'Code', 'Prog-001', 'ollama/qwen2.5-coder:7b-instruct'),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.array(fc.string({ unit: 'grapheme', maxLength: 12 }), { maxLength: 6 }),
  fc.constant(JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}')),
  fc.integer({ min: 1, max: 60 }).map((depth) => {
    let v: unknown = 'deep';
    for (let i = 0; i < depth; i++) v = i % 2 ? { task: v, files: ['x'] } : [v];
    return v;
  }),
);
const body = fc.oneof(
  fc.dictionary(fc.constantFrom(...FIELD_NAMES), nasty, { maxKeys: 6 }),
  fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 10 }), nasty, { maxKeys: 4 }),
  nasty,
);
/** The raw request body and its content type: JSON, broken JSON, other types, garbage bytes. */
const payload = fc.oneof(
  body.map((b) => ({ type: 'application/json', raw: JSON.stringify(b) ?? 'null' })),
  body.map((b) => ({ type: 'application/json', raw: (JSON.stringify(b) ?? '').slice(0, -1) + '\u0000{' })),
  fc.tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/xml', 'garbage'), fc.string({ maxLength: 80 })).map(([type, raw]) => ({ type, raw })),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ type: 'application/json', raw: new Blob([new Uint8Array(bytes)]) as Blob | string })),
  fc.constant({ type: undefined, raw: undefined }),
);
const paramValue = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom('..', '.', '%2e%2e', '%00', 'Prog-001', 'Mgr-Code-01', 'Architect', '__proto__', 'constructor', 'a'.repeat(600), '\u202Eevil', 'Ｐｒｏｇ'),
);
const query = fc.dictionary(fc.oneof(fc.constantFrom('limit', 'offset', 'status', 'since', '__proto__'), fc.string({ maxLength: 8 })), fc.oneof(paramValue, fc.constantFrom('-1', '1e309', 'NaN', '9'.repeat(40), 'completed')), { maxKeys: 4 });

function fill(template: string, value: string): string {
  return template.replace(/:[a-z_]+/g, () => encodeURIComponent(value));
}

describe('fuzzing every HTTP route and WebSocket endpoint', () => {
  let tree: TestTree;
  let cfg: TempConfig;
  const seen: number[] = [];

  beforeAll(async () => {
    // A temp config: a fuzzed settings change that happens to be valid is written there.
    cfg = tempConfig('pas-fuzz-');
    tree = await startTestTree({ configDir: cfg.dir, services: inProcessServices({ taskMs: 5 }), gatewayOptions: { token: '', inspectorRelay: true } });
  });
  afterAll(async () => {
    await tree?.close();
    cfg?.cleanup();
  });

  const agentBase = (id: string) => `http://127.0.0.1:${tree.gateway!.agentPorts.get(id)}`;

  it('knows every route the gateway and each kind of agent serve', () => {
    const app = tree.gateway!.app;
    for (const route of GATEWAY_ROUTES) {
      const [method, url] = route.split(' ') as [string, string];
      expect(app.hasRoute({ method: method as 'GET', url }), route).toBe(true);
    }
    for (const [role, id] of Object.entries(AGENTS)) {
      const routes = role === 'programmer' ? PROGRAMMER_ROUTES : role === 'manager' ? MANAGER_ROUTES : LEADER_ROUTES;
      for (const route of routes) {
        const [method, url] = route.split(' ') as [string, string];
        expect(app.hasRoute({ method: method as 'GET', url: `/agents/${id}${url}` }), `${id} ${route}`).toBe(true);
      }
    }
  });

  async function send(base: string, route: string, param: string, q: Record<string, string>, p: { type: string | undefined; raw: string | Blob | undefined }, methodOverride?: string) {
    const [method, template] = route.split(' ') as [string, string];
    const m = methodOverride ?? method;
    const search = new URLSearchParams(Object.entries(q)).toString();
    const url = `${base}${fill(template, param)}${search ? `?${search}` : ''}`;
    const withBody = m !== 'GET' && m !== 'HEAD' && p.raw !== undefined;
    const res = await fetch(url, { method: m, ...(withBody ? { body: p.raw, headers: p.type ? { 'content-type': p.type } : {} } : {}) });
    const text = await res.text();
    seen.push(res.status);
    return { status: res.status, text };
  }

  it('never answers 5xx to anything sent to a gateway route', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...GATEWAY_ROUTES), paramValue, query, payload, async (route, param, q, p) => {
        const { status, text } = await send(tree.url, route, param, q, p);
        expect(status, `${route} ${param} → ${status} ${text.slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: 1500, seed: 4242 },
    );
  });

  it("never answers 5xx to anything sent to an agent's own port, for every role", async () => {
    const routes = Object.entries(AGENTS).flatMap(([role, id]) =>
      (role === 'programmer' ? PROGRAMMER_ROUTES : role === 'manager' ? MANAGER_ROUTES : LEADER_ROUTES).map((r) => ({ id, route: r as string })),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), paramValue, query, payload, async ({ id, route }, param, q, p) => {
        const { status, text } = await send(agentBase(id), route, param, q, p);
        expect(status, `${id} ${route} ${param} → ${status} ${text.slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: 1000, seed: 4343 },
    );
  });

  it('never answers 5xx to unknown paths and methods', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
        fc.array(paramValue, { minLength: 1, maxLength: 4 }),
        payload,
        async (method, segments, p) => {
          const res = await fetch(`${tree.url}/${segments.map(encodeURIComponent).join('/')}`, {
            method,
            ...(method !== 'GET' && p.raw !== undefined ? { body: p.raw, headers: p.type ? { 'content-type': p.type } : {} } : {}),
          });
          await res.arrayBuffer();
          expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: 300, seed: 4444 },
    );
  });

  it('still serves the tree afterwards, with no prototype polluted', async () => {
    expect(seen.length).toBe(2500);
    expect(seen.every((s) => s < 500)).toBe(true);
    for (const url of [`${tree.url}/health`, `${tree.url}/api/tree`, `${agentBase('Prog-001')}/health`, `${agentBase('Architect')}/health`]) {
      expect((await fetch(url)).status).toBe(200);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('keeps the WebSocket feeds up through arbitrary client messages: other clients get every transition in order', async () => {
    const wsUrl = tree.url.replace(/^http/, 'ws');
    const observer = new WebSocket(`${wsUrl}/ws`);
    const received: Array<{ type: string; seq: number }> = [];
    await new Promise<void>((resolve, reject) => {
      observer.once('error', reject);
      observer.on('message', (data) => {
        const m = JSON.parse(String(data)) as { type: string; seq: number };
        received.push(m);
        if (m.type === 'hello') resolve();
      });
    });

    const message = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ data: s, binary: false })),
      fc.jsonValue({ maxDepth: 3 }).map((v) => ({ data: JSON.stringify(v), binary: false })),
      fc.constantFrom('{"type":"ping"}', '{"type":"__proto__"}', '{"__proto__":{"polluted":1}}', '{"since":-1}', '{', 'null').map((s) => ({ data: s, binary: false })),
      fc.uint8Array({ maxLength: 300 }).map((b) => ({ data: Buffer.from(b), binary: true })),
      fc.constant({ data: 'x'.repeat(2_000_000), binary: false }),
    );
    for (const endpoint of ['/ws', '/ws?since=abc', '/ws?since=-5', '/ws?since=99999999999', '/inspect']) {
      await fc.assert(
        fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 5 }), async (messages) => {
          const client = new WebSocket(`${wsUrl}${endpoint}`);
          await new Promise<void>((resolve) => {
            client.once('open', () => resolve());
            client.once('error', () => resolve());
            client.once('close', () => resolve());
          });
          if (client.readyState === WebSocket.OPEN) {
            for (const m of messages) client.send(m.data, { binary: m.binary });
          }
          await new Promise((r) => setTimeout(r, 5));
          client.terminate();
        }),
        { numRuns: 25, seed: 4545 },
      );
    }

    // The gateway still serves, and the untouched observer receives a job's transitions gap-free.
    const before = received.length;
    const res = await fetch(`${tree.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'after the fuzz', lane: 'Code', files: ['a.ts', 'b.ts'] }) });
    expect(res.status).toBe(202);
    const { job_id } = (await res.json()) as { job_id: string };
    await tree.runtime.waitForJob(job_id, 20_000);
    const hub = tree.gateway!.hub;
    await until(() => received.at(-1)?.seq === hub.stats().seq);
    // Every record of the seq series (transitions and the job's merge-queue messages).
    const seqs = received.filter((m) => m.type !== 'hello').map((m) => m.seq);
    expect(seqs.length).toBeGreaterThan(before);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    expect(observer.readyState).toBe(WebSocket.OPEN);
    observer.terminate();
    expect((await fetch(`${tree.url}/health`)).status).toBe(200);
  });
});

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}
