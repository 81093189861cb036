/**
 * The adapters' own HTTP path (node:http over kept-alive sockets, the answer read as Node stream
 * chunks) against raw local servers: what fetch did, it still does — the same request bytes,
 * redirects followed, gzip undone, TLS with a trusted certificate — and every way an answer can
 * break (a reset or the caller's abort mid-body, the timeout mid-stream, a 429, chunks that cut
 * a UTF-8 character or an SSE frame in two) ends as the same coded error.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { providerSchema } from '../../../src/config/schemas.ts';
import { createProviderAdapter } from '../../../src/llm/create-adapter.ts';
import type { FetchLike } from '../../../src/llm/provider-http.ts';
import type { ChatRequest, ProviderAdapter } from '../../../src/llm/types.ts';
import { failure } from '../../support/pas-failure.ts';

type Kind = 'ollama' | 'openai' | 'anthropic';
type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void | Promise<void>;

const ROOT = path.resolve(import.meta.dirname, '../../..');
const TLS_DIR = path.join(ROOT, 'test/fixtures/tls');
const KEY = 'sk-test-LEAN-0123456789abcdef';

interface Seen {
  rawHeaders: string[];
  body: Buffer;
  url: string;
  socket: object;
}

let servers: Array<http.Server | https.Server> = [];
afterEach(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  servers = [];
});

async function serve(handler: Handler, tls = false): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ rawHeaders: req.rawHeaders, body, url: req.url ?? '', socket: req.socket });
      void handler(req, body, res);
    });
  };
  const server = tls
    ? https.createServer({ cert: readFileSync(path.join(TLS_DIR, 'localhost-cert.pem')), key: readFileSync(path.join(TLS_DIR, 'localhost-key.pem')) }, onRequest)
    : http.createServer(onRequest);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, seen };
}

function adapter(kind: Kind, base: string, extra: { timeout_s?: number; fetch?: FetchLike; now?: () => number } = {}): ProviderAdapter {
  const keyEnv = kind === 'ollama' ? undefined : 'LEAN_KEY';
  const config = providerSchema.parse({
    base_url: base,
    ...(keyEnv ? { api_key_env: keyEnv } : {}),
    timeout_s: extra.timeout_s ?? 10,
    models: { m: { input_per_mtok: 1, output_per_mtok: 2 } },
  });
  return createProviderAdapter(kind, config, { env: { LEAN_KEY: KEY }, ...(extra.fetch ? { fetch: extra.fetch } : {}), ...(extra.now ? { now: extra.now } : {}) });
}

function request(extra: Partial<ChatRequest> = {}): ChatRequest {
  return { messages: [{ role: 'user', content: 'Say hello — ünïcödé ✓.' }], temperature: 0.2, maxTokens: 64, ...extra };
}

const OLLAMA_DONE = { model: 'm', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 3, eval_count: 2 };
const ollamaReply = (content: string) => JSON.stringify({ ...OLLAMA_DONE, message: { role: 'assistant', content } });
const openAiChunk = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
const OPENAI_END = `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\ndata: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } })}\n\ndata: [DONE]\n\n`;

/** Writes `parts` as separate chunks, each flushed before the next. */
async function writeApart(res: ServerResponse, parts: Buffer[]): Promise<void> {
  for (const part of parts) {
    res.write(part);
    await sleep(15);
  }
  res.end();
}

describe('the lean path sends what fetch sent', () => {
  it('sends the same headers and body bytes as fetch did, for every protocol', async () => {
    for (const kind of ['ollama', 'openai', 'anthropic'] as const) {
      const server = await serve((_req, _body, res) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"error":"stop here"}');
      });
      const base = kind === 'openai' ? `${server.url}/v1` : server.url;
      await failure(adapter(kind, base, { fetch: globalThis.fetch }).chat('m', request()));
      await failure(adapter(kind, base).chat('m', request()));
      const [viaFetch, lean] = server.seen;
      const pairs = (raw: string[]) => raw.flatMap((v, i) => (i % 2 === 0 ? [`${v.toLowerCase()}: ${raw[i + 1]}`] : [])).sort();
      expect(pairs(lean!.rawHeaders)).toEqual(pairs(viaFetch!.rawHeaders));
      expect(lean!.body.equals(viaFetch!.body)).toBe(true);
      expect(lean!.url).toBe(viaFetch!.url);
    }
  });

  it('reuses one kept-alive connection for calls one after the other', async () => {
    const server = await serve((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(ollamaReply('hi'));
    });
    const ollama = adapter('ollama', server.url);
    for (let i = 0; i < 3; i++) expect((await ollama.chat('m', request())).text).toBe('hi');
    expect(new Set(server.seen.map((s) => s.socket)).size).toBe(1);
  });

  it('follows a 307 redirect with the same POST, as fetch did', async () => {
    const server = await serve((req, body, res) => {
      if (req.url === '/api/chat') {
        res.writeHead(307, { location: '/moved/api/chat' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(ollamaReply(`moved ${JSON.parse(body.toString()).model}`));
    });
    expect((await adapter('ollama', server.url).chat('m', request())).text).toBe('moved m');
    expect(server.seen.at(-1)!.url).toBe('/moved/api/chat');
  });

  it('gives a redirected call only what is left of its timeout, not a new one', async () => {
    // The clock moves past the 10 s timeout while the first leg is answered.
    let skew = 0;
    const server = await serve((req, body, res) => {
      if (req.url === '/api/chat') {
        skew += 11_000;
        res.writeHead(307, { location: '/moved/api/chat' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(ollamaReply(`moved ${JSON.parse(body.toString()).model}`));
    });
    const err = await failure(adapter('ollama', server.url, { now: () => Date.now() + skew }).chat('m', request()));
    expect(err.code).toBe('PAS_ERR_LLM_TIMEOUT');
    expect(server.seen.map((s) => s.url)).toEqual(['/api/chat']);
  });

  it('reads a gzip-encoded answer and a gzip-encoded error body', async () => {
    let fail = false;
    const server = await serve((_req, _body, res) => {
      const [status, text] = fail ? [429, JSON.stringify({ error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' } })] : [200, JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'zipped ✓' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2 } })];
      res.writeHead(status, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(zlib.gzipSync(text));
    });
    const openai = adapter('openai', `${server.url}/v1`);
    expect((await openai.chat('m', request())).text).toBe('zipped ✓');
    fail = true;
    const err = await failure(openai.chat('m', request()));
    expect(err.code).toBe('PAS_ERR_LLM_RATE_LIMITED');
    expect(err.message).toContain('slow down');
  });

  it('still calls an injected fetch instead of its own client', async () => {
    const server = await serve((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(ollamaReply('via fetch'));
    });
    const urls: string[] = [];
    const recording: FetchLike = (input, init) => {
      urls.push(String(input));
      return fetch(input, init);
    };
    expect((await adapter('ollama', server.url, { fetch: recording }).chat('m', request())).text).toBe('via fetch');
    expect(urls).toEqual([`${server.url}/api/chat`]);
  });
});

describe('answers cut in awkward places', () => {
  it('joins a UTF-8 character and an SSE frame cut across chunks', async () => {
    const text = openAiChunk('héllo ✓ ') + openAiChunk('wörld') + OPENAI_END;
    const bytes = Buffer.from(text);
    const check = bytes.indexOf(Buffer.from('✓'));
    // Cuts: inside the 3-byte ✓, inside the "data:" of the second frame, between the two "\n" ending it.
    const second = bytes.indexOf('data:', check);
    const cuts = [check + 1, second + 3, bytes.indexOf('\n\n', second) + 1];
    const bounds = [0, ...cuts, bytes.length];
    const parts = bounds.slice(1).map((end, i) => bytes.subarray(bounds[i], end));
    expect(cuts).toEqual([...cuts].sort((a, b) => a - b));
    const server = await serve((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      void writeApart(res, parts);
    });
    expect(Buffer.concat(parts).equals(bytes)).toBe(true);
    const tokens: string[] = [];
    const reply = await adapter('openai', `${server.url}/v1`).chat('m', request({ stream: true, onToken: (t) => tokens.push(t) }));
    expect(reply.text).toBe('héllo ✓ wörld');
    expect(tokens).toEqual(['héllo ✓ ', 'wörld']);
    expect(reply.usage.output).toBe(2);
  });

  it('joins a UTF-8 character and an NDJSON line cut across chunks', async () => {
    const lines = `${JSON.stringify({ model: 'm', message: { role: 'assistant', content: 'añb ✓' }, done: false })}\n${JSON.stringify(OLLAMA_DONE)}\n`;
    const bytes = Buffer.from(lines);
    const cut1 = bytes.indexOf(Buffer.from('ñ')) + 1;
    const cut2 = bytes.indexOf(Buffer.from('✓')) + 2;
    const server = await serve((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      void writeApart(res, [bytes.subarray(0, cut1), bytes.subarray(cut1, cut2), bytes.subarray(cut2)]);
    });
    const reply = await adapter('ollama', server.url).chat('m', request({ stream: true }));
    expect(reply.text).toBe('añb ✓');
    expect(reply.finishReason).toBe('stop');
  });
});

describe('failures on the lean path', () => {
  it('maps a connection reset in the middle of a plain answer to PAS_ERR_LLM_CONNECTION', async () => {
    const server = await serve(async (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' });
      res.write(ollamaReply('half').slice(0, 40));
      await sleep(20);
      res.socket?.resetAndDestroy();
    });
    const err = await failure(adapter('ollama', server.url).chat('m', request()));
    expect(err.code).toBe('PAS_ERR_LLM_CONNECTION');
    expect(err.details.errno).toBe('ECONNRESET');
  });

  it('maps a connection reset in the middle of a stream to PAS_ERR_LLM_CONNECTION after the first tokens', async () => {
    const server = await serve(async (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(openAiChunk('first '));
      await sleep(20);
      res.socket?.resetAndDestroy();
    });
    const tokens: string[] = [];
    const err = await failure(adapter('openai', `${server.url}/v1`).chat('m', request({ stream: true, onToken: (t) => tokens.push(t) })));
    expect(err.code).toBe('PAS_ERR_LLM_CONNECTION');
    expect(tokens).toEqual(['first ']);
  });

  it('ends a stream the caller aborts mid-body as PAS_ERR_TASK_CANCELLED and closes the connection', async () => {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    const server = await serve((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(openAiChunk('partial '));
      res.on('close', closed); // never ends by itself
    });
    const controller = new AbortController();
    const err = await failure(
      adapter('openai', `${server.url}/v1`).chat('m', request({ stream: true, signal: controller.signal, onToken: () => controller.abort(new Error('user stop')) })),
    );
    expect(err.code).toBe('PAS_ERR_TASK_CANCELLED');
    await connectionClosed;
  });

  it('ends a stream that stalls past the provider timeout as PAS_ERR_LLM_TIMEOUT', async () => {
    const server = await serve((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ model: 'm', message: { role: 'assistant', content: 'slow' }, done: false })}\n`); // then nothing
    });
    const err = await failure(adapter('ollama', server.url, { timeout_s: 0.3 }).chat('m', request({ stream: true })));
    expect(err.code).toBe('PAS_ERR_LLM_TIMEOUT');
    expect(err.details.timeoutMs).toBe(300);
  });

  it('reads a 429 whole: its code, Retry-After and request id', async () => {
    const server = await serve((_req, _body, res) => {
      const body = JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' } });
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7', 'request-id': 'req_lean_429' });
      // The error body arrives in two chunks; it is read whole.
      res.write(body.slice(0, 30));
      setTimeout(() => res.end(body.slice(30)), 15);
    });
    const err = await failure(adapter('anthropic', server.url).chat('m', request()));
    expect(err.code).toBe('PAS_ERR_LLM_RATE_LIMITED');
    expect(err.details).toMatchObject({ status: 429, retryAfterMs: 7000, requestId: 'req_lean_429', type: 'rate_limit_error' });
    expect(err.message).toContain('per-minute rate limit');
  });

  it('refuses a certificate nobody trusts as PAS_ERR_LLM_CONNECTION naming the server', async () => {
    const server = await serve((_req, _body, res) => void res.end(), true);
    const err = await failure(adapter('openai', `${server.url}/v1`).chat('m', request()));
    expect(err.code).toBe('PAS_ERR_LLM_CONNECTION');
    expect(err.message).toContain(server.url);
    expect(String(err.details.errno)).toMatch(/CERT|SELF_SIGNED/);
  });

  it('talks TLS to a server whose certificate is trusted through NODE_EXTRA_CA_CERTS', async () => {
    const server = await serve((_req, body, res) => {
      const stream = JSON.parse(body.toString()).stream === true;
      if (stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(openAiChunk('over tls') + OPENAI_END);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'over tls' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } }));
    }, true);
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/lean-https-call.ts', `${server.url}/v1`], {
      cwd: ROOT,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(TLS_DIR, 'localhost-cert.pem') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise((resolve) => child.on('close', resolve));
    expect(JSON.parse(out.trim())).toEqual({ plain: 'over tls', streamed: 'over tls' });
  });
});
