/**
 * A local model server for agent CLIs: speaks Gemini `streamGenerateContent` / `generateContent`
 * (`/v1beta/models/{model}:…`) and OpenAI Chat Completions (`/v1/chat/completions`) with tool
 * calls, on 127.0.0.1 (port 0). Each request is answered by `respond(request)`: a scripted turn
 * (text and/or tool calls, with usage), one of the provider's real error answers, or a hang.
 * Turns are encoded by `src/llm/wire/` — the same code the offline scripted model is served with.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { geminiReply, readGeminiRequest } from '../../src/llm/wire/gemini-wire.ts';
import { openAiChatReply, readOpenAiChatRequest } from '../../src/llm/wire/openai-chat-wire.ts';
import type { WireRequest, WireRoute, WireTurn } from '../../src/llm/wire/wire-turn.ts';

export type WireBehaviour =
  | { turn: WireTurn }
  | { status: number; body: unknown; headers?: Record<string, string> }
  /** Accept the request and never answer. */
  | 'hang';

export interface WireCall {
  route: WireRoute;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  request: WireRequest;
}

export type WireResponder = (request: WireRequest, call: WireCall) => WireBehaviour;

export interface ScriptedWireServer {
  /** `http://127.0.0.1:port`. */
  origin: string;
  calls: WireCall[];
  close(): Promise<void>;
}

/** The provider's real error answers, by HTTP status. */
export function wireError(route: WireRoute, status: 401 | 429 | 500 | 503 | 529): { status: number; body: unknown; headers?: Record<string, string> } {
  if (route === 'gemini-stream' || route === 'gemini-generate') {
    const google: Record<number, [string, string]> = {
      401: ['UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.'],
      429: ['RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).'],
      500: ['INTERNAL', 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting'],
      503: ['UNAVAILABLE', 'The model is overloaded. Please try again later.'],
      529: ['UNAVAILABLE', 'The model is overloaded. Please try again later.'],
    };
    const [grpc, message] = google[status]!;
    return { status, body: { error: { code: status, message, status: grpc } } };
  }
  const openai: Record<number, { message: string; type: string; code: string | null }> = {
    401: { message: 'Incorrect API key provided: sk-test. You can find your API key at https://platform.openai.com/account/api-keys.', type: 'invalid_request_error', code: 'invalid_api_key' },
    429: { message: 'Rate limit reached for gpt-4o in organization org-test on requests per min (RPM): Limit 3, Used 3, Requested 1.', type: 'requests', code: 'rate_limit_exceeded' },
    500: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', code: null },
    503: { message: 'The engine is currently overloaded, please try again later.', type: 'server_error', code: null },
    529: { message: 'The engine is currently overloaded, please try again later.', type: 'overloaded_error', code: null },
  };
  return { status, body: { error: { ...openai[status]!, param: null } } };
}

const GEMINI = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)(\?.*)?$/;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startScriptedWireServer(respond: WireResponder): Promise<ScriptedWireServer> {
  const calls: WireCall[] = [];
  let turns = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const path = req.url ?? '/';
    const gemini = GEMINI.exec(path);
    let route: WireRoute;
    let request: WireRequest;
    let includeUsage = false;
    if (req.method === 'POST' && gemini) {
      route = gemini[2] === 'streamGenerateContent' ? 'gemini-stream' : 'gemini-generate';
      request = readGeminiRequest(body, decodeURIComponent(gemini[1]!), route === 'gemini-stream');
    } else if (req.method === 'POST' && path === '/v1/chat/completions') {
      route = 'openai-chat';
      const chat = readOpenAiChatRequest(body);
      includeUsage = chat.includeUsage;
      request = chat;
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 404, message: `no route ${req.method} ${path}`, status: 'NOT_FOUND' } }));
      return;
    }
    const call: WireCall = { route, path, headers: req.headers, body, request };
    calls.push(call);
    const behaviour = respond(request, call);
    if (behaviour === 'hang') return;
    if (!('turn' in behaviour)) {
      const text = JSON.stringify(behaviour.body);
      res.writeHead(behaviour.status, { 'content-type': 'application/json', ...behaviour.headers });
      res.end(text);
      return;
    }
    const index = turns++;
    const reply =
      route === 'openai-chat' ? openAiChatReply(behaviour.turn, request.model, request.stream, includeUsage, index) : geminiReply(behaviour.turn, request.model, request.stream);
    res.writeHead(reply.status, reply.headers);
    for (const chunk of reply.chunks) res.write(chunk);
    res.end();
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(err) } }));
      } else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
