/**
 * Mounts the scripted model's wire server (src/llm/wire/scripted-wire.ts: one function answering
 * any provider's request format from the cassette) behind the LLM gateway: a call to a `scripted`
 * model (or any call while PAS runs offline) is answered by it in the caller's own format, with
 * tool calls, and its usage is read from the answer like a provider's.
 */
import type { ServerResponse } from 'node:http';
import type { ScriptedWire } from './llm-gateway.ts';
import { UsageTap } from './usage-tap.ts';
import type { WireRoute } from './wire-protocols.ts';

/** What the scripted wire answers: a status, headers, and the body (or the stream's frames) in order. */
export interface WireReplyLike {
  status: number;
  headers: Record<string, string>;
  chunks: ReadonlyArray<string | Uint8Array>;
}

/** The scripted wire's entry point (its `ScriptedWire`), for every route but Ollama's. */
export type WireServe = (route: Exclude<WireRoute, 'ollama-chat' | 'ollama-openai-chat'>, body: unknown, call?: { model?: string; agentId?: string; signal?: AbortSignal }) => Promise<WireReplyLike>;

function writeJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function mountScriptedWire(serve: WireServe): ScriptedWire {
  return async ({ protocol, model, body, grant }, res: ServerResponse) => {
    if (protocol.route === 'ollama-chat') {
      const refusal = protocol.error('unavailable', `the scripted model does not speak Ollama's format (task model ${model.ref})`);
      writeJson(res, refusal.status, refusal.body);
      return null;
    }
    const controller = new AbortController();
    const onClose = () => controller.abort();
    res.once('close', onClose);
    try {
      // Ollama's OpenAI-compatible route is OpenAI Chat Completions on the wire.
      const route = protocol.route === 'ollama-openai-chat' ? 'openai-chat' : protocol.route;
      const reply = await serve(route, body, { model: model.model, agentId: grant.programmerId, signal: controller.signal });
      const tap = new UsageTap(protocol, reply.headers['content-type']);
      res.writeHead(reply.status, reply.headers);
      for (const chunk of reply.chunks) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
        if (reply.status < 400) tap.feed(bytes);
        res.write(bytes);
      }
      res.end();
      return reply.status < 400 ? tap.end().usage : null;
    } finally {
      res.off('close', onClose);
    }
  };
}
