/**
 * A local server that speaks one provider's real wire protocol on 127.0.0.1 (port 0): its
 * paths, its JSON bodies, its stream framing (SSE for OpenAI/Anthropic/Gemini, NDJSON for
 * Ollama) and its error bodies. Each request takes the next behaviour from `script`
 * (then `ok`). Fixed-latency mode (`latencyMs`) is cheap enough for benchmarks.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import {
  DEFAULT_REPLY,
  DEFAULT_USAGE,
  errorFixture,
  okBody,
  streamContentType,
  streamErrorFrame,
  streamFrames,
  type ErrorFixtureName,
  type FakeKind,
  type FixtureUsage,
} from './provider-fixtures.ts';
import { responsesBody, responsesStreamFrames } from './responses-fixtures.ts';

export type FakeBehaviour =
  /** The provider's normal answer (JSON, or its stream when the request asks for one). */
  | 'ok'
  /** Accept the request and never answer. */
  | 'hang'
  /** Stream one text piece, then the provider's in-stream error frame. */
  | 'midstream-error'
  /** Open the stream (200, head frames) and send the error frame before any text. */
  | 'early-stream-error'
  /** 200 with a body cut in the middle of the JSON (or a garbage stream frame). */
  | 'malformed'
  /** Stream one text piece, then end the response without the closing frames. */
  | 'truncated'
  /** Destroy the socket without answering. */
  | 'reset'
  /** One of the provider's real error answers. */
  | { error: ErrorFixtureName; headers?: Record<string, string> }
  /** Any answer. */
  | { status: number; body: unknown; headers?: Record<string, string> }
  /** A normal answer with this text and usage. */
  | { reply: string; usage?: FixtureUsage };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** The body exactly as it arrived. */
  raw: string;
}

export interface FakeProviderOptions {
  kind: FakeKind;
  /** Delay before every answer. */
  latencyMs?: number;
  /** Delay between stream frames. */
  frameDelayMs?: number;
  script?: FakeBehaviour[];
  reply?: string;
  usage?: FixtureUsage;
  /** Keep every request in `requests` (default true; a benchmark's server answers thousands and keeps none). */
  record?: boolean;
}

export interface FakeProvider {
  /** The base URL as models.yaml holds it (`…/v1` for OpenAI). */
  url: string;
  /** `http://127.0.0.1:port`. */
  origin: string;
  requests: RecordedRequest[];
  /** Behaviours still queued. */
  script: FakeBehaviour[];
  /** Changes the delay before every answer from the next request on (a benchmark's warm-up runs with none). */
  setLatency(ms: number): void;
  close(): Promise<void>;
}

const ROUTES: Record<FakeKind, RegExp> = {
  openai: /^\/v1\/(chat\/completions|responses)$/,
  anthropic: /^\/v1\/messages$/,
  google: /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)(\?.*)?$/,
  ollama: /^\/api\/chat$/,
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function presentedKey(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7);
  const k = req.headers['x-api-key'] ?? req.headers['x-goog-api-key'];
  return typeof k === 'string' ? k : '';
}

const wait = (ms: number) => (ms > 0 ? new Promise<void>((r) => setTimeout(r, ms)) : Promise.resolve());

export async function startFakeProvider(options: FakeProviderOptions): Promise<FakeProvider> {
  const { kind } = options;
  const requests: RecordedRequest[] = [];
  const script = [...(options.script ?? [])];
  let latencyMs = options.latencyMs ?? 0;

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  const writeFrames = async (res: ServerResponse, frames: string[]) => {
    for (const frame of frames) {
      if (res.destroyed) return;
      res.write(frame);
      await wait(options.frameDelayMs ?? 0);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    let body: unknown = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // keep the raw text
    }
    const path = req.url ?? '/';
    if (options.record !== false) requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body, raw });
    const route = ROUTES[kind].exec(kind === 'google' ? path : path.split('?')[0]!);
    // OpenAI's Responses API (Codex) next to Chat Completions.
    const responses = kind === 'openai' && route?.[1] === 'responses';
    if (req.method !== 'POST' || !route) {
      const nf = errorFixture(kind, 'not_found');
      return sendJson(res, nf.status, nf.body);
    }
    const behaviour: FakeBehaviour = script.shift() ?? 'ok';
    await wait(latencyMs);
    if (behaviour === 'hang') return; // the socket stays open until the client gives up or close()
    if (behaviour === 'reset') {
      req.socket.destroy();
      return;
    }
    const b = (body ?? {}) as Record<string, unknown>;
    const model = kind === 'google' ? decodeURIComponent(route[1]!) : String(b.model ?? 'unknown');
    // Ollama streams unless told `stream: false`; Gemini streams on its own method.
    const stream = kind === 'google' ? route[2] === 'streamGenerateContent' : kind === 'ollama' ? b.stream !== false : b.stream === true;
    if (typeof behaviour === 'object') {
      if ('error' in behaviour) {
        const fx = errorFixture(kind, behaviour.error);
        const text = JSON.stringify(fx.body).split('{{key}}').join(presentedKey(req));
        return sendJson(res, fx.status, text, { ...fx.headers, ...behaviour.headers });
      }
      if ('status' in behaviour) return sendJson(res, behaviour.status, behaviour.body, behaviour.headers);
    }
    const reply = typeof behaviour === 'object' && 'reply' in behaviour ? behaviour.reply : (options.reply ?? DEFAULT_REPLY);
    const usage = typeof behaviour === 'object' && 'reply' in behaviour && behaviour.usage ? behaviour.usage : (options.usage ?? DEFAULT_USAGE[kind]);

    if (!stream) {
      if (behaviour === 'malformed') return sendJson(res, 200, JSON.stringify(okBody(kind, model, reply, usage)).slice(0, 40));
      if (behaviour === 'midstream-error' || behaviour === 'early-stream-error' || behaviour === 'truncated') {
        // Without a stream these become a connection cut mid-body.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"id":');
        res.destroy();
        return;
      }
      return sendJson(res, 200, responses ? responsesBody(model, reply, usage) : okBody(kind, model, reply, usage));
    }

    const frames = responses ? responsesStreamFrames(model, reply, usage) : streamFrames(kind, model, reply, usage);
    res.writeHead(200, {
      'content-type': streamContentType(kind),
      'cache-control': 'no-cache',
      ...(kind === 'ollama' ? {} : { connection: 'keep-alive' }),
    });
    switch (behaviour) {
      case 'malformed':
        await writeFrames(res, [...frames.head, kind === 'ollama' ? '{"model": "x", "message": {\n' : 'data: {"choices": [{"delta": \n\n']);
        return res.end();
      case 'early-stream-error':
        await writeFrames(res, [...frames.head, streamErrorFrame(kind)]);
        return res.end();
      case 'midstream-error':
        await writeFrames(res, [...frames.head, ...frames.text.slice(0, 1), streamErrorFrame(kind)]);
        return res.end();
      case 'truncated':
        await writeFrames(res, [...frames.head, ...frames.text.slice(0, 1)]);
        return res.end();
      default:
        await writeFrames(res, [...frames.head, ...frames.text, ...frames.tail]);
        return res.end();
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: kind === 'openai' ? `${origin}/v1` : origin,
    origin,
    requests,
    script,
    setLatency: (ms) => {
      latencyMs = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port that was just free and is now closed: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  // A privileged port (below 1024) nobody listens on: no test server, no test tree's port offset
  // and no outgoing connection's local port can take it after this check, as one just freed from
  // the ephemeral range can (a closed port that answers 400 was seen in CI). The check connects
  // and wants a refusal; it never listens, because a probe listening for a moment is itself a
  // server that another test's connection to its own closed port can reach (seen in CI).
  for (let i = 0; i < 20; i++) {
    // 900–980: below the ports fetch refuses outright as "bad ports" (989, 990, 993, 995).
    const port = 900 + Math.floor(Math.random() * 81);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
  throw new Error('no closed port found in 900–980: something listens on all of them');
}
