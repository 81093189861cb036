/**
 * The provider-compatible endpoints of the LLM gateway (CONTRACT §9), in their own fastify scope:
 * bodies arrive as raw bytes (forwarded untouched) under their own, larger body limit, and each
 * answer is written straight to the socket so a stream passes through as it arrives.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LlmGateway, ScriptedWire } from '../../llm/gateway/llm-gateway.ts';
import { WIRE_PROTOCOLS, type WireProtocol, type WireRoute } from '../../llm/gateway/wire-protocols.ts';
import { forwardLlmCall } from './forward-call.ts';

export interface LlmProxyOptions {
  gateway: LlmGateway;
  bodyLimitBytes: number;
  scripted?: ScriptedWire;
}

const GEMINI_METHOD = /^([^/:]+):(generateContent|streamGenerateContent)$/;

export function registerLlmProxyRoutes(app: FastifyInstance, options: LlmProxyOptions): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    const raw = { parseAs: 'buffer' as const, bodyLimit: options.bodyLimitBytes };
    const keep = (_request: FastifyRequest, body: Buffer | string, done: (err: null, body: Buffer | string) => void) => done(null, body);
    // What every SDK sends, by name: fastify remembers a named type's parser (the catch-all it
    // would look up again, parsing the header, on every call).
    scope.addContentTypeParser('application/json', raw, keep);
    scope.addContentTypeParser('*', raw, keep);

    const serve = (route: WireRoute | ((request: FastifyRequest) => { protocol: WireProtocol; pathModel: string } | undefined)) =>
      async (request: FastifyRequest, reply: FastifyReply) => {
        let protocol: WireProtocol;
        let pathModel: string | undefined;
        if (typeof route === 'string') protocol = WIRE_PROTOCOLS[route];
        else {
          const found = route(request);
          if (!found) return reply.status(404).send({ error: { code: 404, message: `no Gemini method ${request.url.split('?')[0]}`, status: 'NOT_FOUND' } });
          ({ protocol, pathModel } = found);
        }
        const question = request.url.indexOf('?');
        const query = new URLSearchParams(question >= 0 ? request.url.slice(question + 1) : '');
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        reply.hijack();
        try {
          await forwardLlmCall(options.gateway, { protocol, query, headers: request.headers, body, ...(pathModel !== undefined ? { pathModel } : {}) }, reply.raw, options.scripted);
        } catch (err) {
          options.gateway.logger?.error({ err }, 'llm gateway: call failed');
          if (!reply.raw.headersSent) {
            const shaped = protocol.error('unavailable', 'the PAS LLM gateway failed on this call');
            reply.raw.writeHead(shaped.status, { 'content-type': 'application/json' });
            reply.raw.end(JSON.stringify(shaped.body));
          } else reply.raw.destroy();
        }
      };

    scope.post('/llm/anthropic/v1/messages', serve('anthropic-messages'));
    // Claude Code checks that its base URL answers before the first call.
    scope.head('/llm/anthropic', async (_request, reply) => reply.status(200).send());
    scope.head('/llm/anthropic/', async (_request, reply) => reply.status(200).send());
    scope.post('/llm/openai/v1/responses', serve('openai-responses'));
    scope.post('/llm/openai/v1/chat/completions', serve('openai-chat'));
    scope.post(
      '/llm/gemini/v1beta/models/*',
      serve((request) => {
        const tail = decodeURIComponent((request.params as { '*': string })['*'] ?? '');
        const m = GEMINI_METHOD.exec(tail);
        if (!m) return undefined;
        return { protocol: WIRE_PROTOCOLS[m[2] === 'streamGenerateContent' ? 'gemini-stream' : 'gemini-generate'], pathModel: m[1]! };
      }),
    );
    scope.post('/llm/ollama/api/chat', serve('ollama-chat'));
    scope.post('/llm/ollama/v1/chat/completions', serve('ollama-openai-chat'));
  });
}
