/**
 * A local model server for agent CLIs, in the four wire formats they speak (Anthropic
 * Messages, OpenAI Responses and Chat Completions, Gemini generate/stream; see
 * src/llm/wire/), on 127.0.0.1 port 0. Each request is answered by `respond(request)`: a
 * scripted turn (text and/or tool calls, with usage), one of the provider's real error
 * answers, or a hang. Every call is recorded.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { encodeWireTurn, readWireRequest } from '../../src/llm/wire/wire-formats.ts';
import { startWireServer } from '../../src/llm/wire/wire-http-server.ts';
import type { WireRequest, WireRoute, WireTurn } from '../../src/llm/wire/wire-turn.ts';

export type WireBehaviour =
  | { turn: WireTurn }
  | { status: number; body: unknown; headers?: Record<string, string> }
  /** Accept the request and never answer. */
  | 'hang';

export interface WireCall {
  route: WireRoute;
  path: string;
  headers: IncomingHttpHeaders;
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
      429: ['RESOURCE_EXHAUSTED', ''],
      500: ['INTERNAL', 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting'],
      503: ['UNAVAILABLE', 'The model is overloaded. Please try again later.'],
      529: ['UNAVAILABLE', 'The model is overloaded. Please try again later.'],
    };
    const [grpc, message] = google[status]!;
    if (status === 429) {
      // A per-minute limit as Google sends it: which quota, and how long to wait.
      return {
        status,
        body: {
          error: {
            code: 429,
            message: 'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.',
            status: grpc,
            details: [
              { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier', quotaValue: '10' }] },
              { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '4s' },
            ],
          },
        },
      };
    }
    return { status, body: { error: { code: status, message, status: grpc } } };
  }
  if (route === 'anthropic-messages') {
    const anthropic: Record<number, [string, string]> = {
      401: ['authentication_error', 'invalid x-api-key'],
      429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit'],
      500: ['api_error', 'Internal server error'],
      503: ['api_error', 'Service unavailable'],
      529: ['overloaded_error', 'Overloaded'],
    };
    const [type, message] = anthropic[status]!;
    return { status, body: { type: 'error', error: { type, message } } };
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

export async function startScriptedWireServer(respond: WireResponder): Promise<ScriptedWireServer> {
  const calls: WireCall[] = [];
  let turns = 0;
  const server = await startWireServer((body, http) => {
    const request = readWireRequest(http.route, body, http.model);
    const call: WireCall = { route: http.route, path: http.path, headers: http.headers, body, request };
    calls.push(call);
    const behaviour = respond(request, call);
    if (behaviour === 'hang') return 'hang';
    if ('turn' in behaviour) return encodeWireTurn(http.route, behaviour.turn, request, turns++);
    return { status: behaviour.status, headers: { 'content-type': 'application/json', ...behaviour.headers }, chunks: [JSON.stringify(behaviour.body)] };
  });
  return { origin: server.origin, calls, close: () => server.close() };
}
