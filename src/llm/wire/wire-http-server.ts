/**
 * A small HTTP server for the provider paths agent CLIs call — `POST /v1/messages`,
 * `/v1/responses`, `/v1/chat/completions`, `/v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent` — handing each request to one handler and writing its WireReply out.
 * `pas demo` serves the scripted model with it; tests serve scripted turns and errors.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WireReply, WireRoute } from './wire-turn.ts';

export interface WireHttpCall {
  route: WireRoute;
  /** Gemini's model, from the URL. */
  model?: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/** `'hang'` accepts the request and never answers (until the client or close() ends it). */
export type WireHandler = (body: unknown, call: WireHttpCall) => Promise<WireReply | 'hang'> | WireReply | 'hang';

export interface WireHttpServer {
  /** `http://host:port`; OpenAI clients want `${origin}/v1`. */
  origin: string;
  close(): Promise<void>;
}

const GEMINI = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

/** Which wire route a request is, by method and path (query ignored). */
export function wireRouteOf(method: string | undefined, url: string): { route: WireRoute; model?: string } | undefined {
  if (method !== 'POST') return undefined;
  const path = url.split('?', 1)[0]!;
  if (path === '/v1/messages') return { route: 'anthropic-messages' };
  if (path === '/v1/responses') return { route: 'openai-responses' };
  if (path === '/v1/chat/completions') return { route: 'openai-chat' };
  const gemini = GEMINI.exec(path);
  if (gemini) return { route: gemini[2] === 'streamGenerateContent' ? 'gemini-stream' : 'gemini-generate', model: decodeURIComponent(gemini[1]!) };
  return undefined;
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error('request body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startWireServer(handler: WireHandler, options: { host?: string; port?: number } = {}): Promise<WireHttpServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    const url = req.url ?? '/';
    const found = wireRouteOf(req.method, url);
    if (!found) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 404, message: `no route for ${req.method} ${url.split('?', 1)[0]}`, status: 'NOT_FOUND' } }));
      return;
    }
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 400, message: 'request body is not JSON', type: 'invalid_request_error' } }));
      return;
    }
    const aborter = new AbortController();
    res.on('close', () => aborter.abort());
    const reply = await handler(body, { ...found, path: url, headers: req.headers, signal: aborter.signal });
    if (reply === 'hang') return;
    res.writeHead(reply.status, reply.headers);
    for (const chunk of reply.chunks) res.write(chunk);
    res.end();
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 500, message: err instanceof Error ? err.message : String(err) } }));
      } else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    origin: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
