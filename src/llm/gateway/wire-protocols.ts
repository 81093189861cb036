/**
 * The provider wire formats the LLM gateway speaks (CONTRACT §9), one entry per route: where the
 * model name is, where the caller's key is, how the upstream is addressed and authenticated, how
 * usage is read from the answer on the side, and each provider's own error bodies (so a CLI
 * reacts to a PAS refusal exactly as to its provider's).
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import { anthropicUsage } from '../providers/anthropic-adapter.ts';
import { geminiUsage } from '../providers/gemini-adapter.ts';
import { ollamaUsage } from '../providers/ollama-adapter.ts';
import { openAiUsage } from '../providers/openai-adapter.ts';
import { count, record } from '../provider-http.ts';

export type WireRoute = 'anthropic-messages' | 'openai-responses' | 'openai-chat' | 'gemini-generate' | 'gemini-stream' | 'ollama-chat' | 'ollama-openai-chat';
export type WireKind = 'anthropic' | 'openai' | 'google' | 'ollama';

/** Why PAS answers instead of the provider. */
export type Refusal = 'unauthorized' | 'budget' | 'unavailable' | 'model_not_allowed' | 'bad_request';

export interface ShapedError {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface WireProtocol {
  route: WireRoute;
  kind: WireKind;
  /** The upstream path after the provider's base URL (OpenAI base URLs end in `/v1`). */
  upstreamPath(model: string): string;
  /** Upstream auth headers for the real key. */
  authHeaders(key: string): Record<string, string>;
  /** How each refusal looks in this provider's format. */
  error(refusal: Refusal, message: string): ShapedError;
  /** Reads the usage out of one complete JSON answer or one stream event's data. */
  usageFrom(json: Record<string, unknown>, previous: TokenUsage | undefined, event: string | undefined): TokenUsage | undefined;
  /** Whether one stream event's data says the stream failed. */
  streamFailed(json: Record<string, unknown>, event: string | undefined): boolean;
  /**
   * Whether a stream event may carry usage or an error and so must be parsed; the others (text
   * deltas, the bulk of a stream) pass without a JSON.parse.
   */
  worthReading(data: string, event: string | undefined): boolean;
  /**
   * Where a plain JSON answer keeps its usage: a top-level key whose object alone gives the
   * counts, so only that object is parsed. Absent: the whole answer is parsed (Ollama's counts
   * sit among the answer's own fields).
   */
  answerUsage?: { key: string; read(usage: Record<string, unknown>): TokenUsage };
}

/** Events without a name: read those whose data mentions usage or an error. */
const mentionsUsageOrError = (data: string) => data.includes('usage') || data.includes('"error"');
/** OpenAI's chat chunks all say `"usage":null` when usage was asked for; only the last one's is an object. */
const USAGE_NOT_NULL = /"usage"\s*:\s*(?!null\b)/;
const carriesUsageOrError = (data: string) => data.includes('"error"') || USAGE_NOT_NULL.test(data);
const ANTHROPIC_EVENTS = new Set(['message_start', 'message_delta', 'error']);
const RESPONSES_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed', 'error']);

/** The usage of Anthropic's message_start merged with message_delta's cumulative counts. */
function anthropicStreamUsage(json: Record<string, unknown>, previous: TokenUsage | undefined, event: string | undefined): TokenUsage | undefined {
  const type = event ?? json.type;
  if (type === 'message_start') {
    const u = record(record(json.message)?.usage);
    return u ? anthropicUsage(u) : previous;
  }
  if (type === 'message_delta') {
    const u = record(json.usage);
    if (!u) return previous;
    const next = anthropicUsage(u);
    const merged: TokenUsage = { ...(previous ?? { input: null, output: null }) };
    for (const [k, v] of Object.entries(next) as Array<[keyof TokenUsage, number | null | undefined]>) if (v !== null && v !== undefined) merged[k] = v;
    return merged;
  }
  if (json.type === 'message' && record(json.usage)) return anthropicUsage(record(json.usage));
  return previous;
}

/** OpenAI Responses usage: `input_tokens` (includes cached), `output_tokens` (includes reasoning). */
export function responsesUsage(u: Record<string, unknown> | undefined): TokenUsage {
  return {
    input: count(u?.input_tokens),
    output: count(u?.output_tokens),
    thinking: count(record(u?.output_tokens_details)?.reasoning_tokens),
    cache_read: count(record(u?.input_tokens_details)?.cached_tokens),
  };
}

const anthropicError = (status: number, type: string) => (message: string): ShapedError => ({
  status,
  body: { type: 'error', error: { type, message } },
});
const openAiError = (status: number, type: string, code: string | null) => (message: string): ShapedError => ({
  status,
  body: { error: { message, type, param: null, code } },
});
const googleError = (status: number, grpc: string, details?: unknown[]) => (message: string): ShapedError => ({
  status,
  body: { error: { code: status, message, status: grpc, ...(details ? { details } : {}) } },
});
const ollamaError = (status: number) => (message: string): ShapedError => ({ status, body: { error: message } });

/**
 * Refusals, chosen so each CLI stops at once instead of retrying (docs/llm-gateway.md): a spent
 * budget is a 400 in every format (no CLI retries a 400; a 402/429 would be retried by some), an
 * unknown credential the provider's 401, no model available the provider's overload answer.
 */
const ANTHROPIC_ERRORS: Record<Refusal, (m: string) => ShapedError> = {
  unauthorized: anthropicError(401, 'authentication_error'),
  budget: anthropicError(400, 'invalid_request_error'),
  unavailable: anthropicError(529, 'overloaded_error'),
  model_not_allowed: anthropicError(404, 'not_found_error'),
  bad_request: anthropicError(400, 'invalid_request_error'),
};
const OPENAI_ERRORS: Record<Refusal, (m: string) => ShapedError> = {
  unauthorized: openAiError(401, 'invalid_request_error', 'invalid_api_key'),
  budget: openAiError(400, 'insufficient_quota', 'insufficient_quota'),
  unavailable: openAiError(503, 'server_error', null),
  model_not_allowed: openAiError(404, 'invalid_request_error', 'model_not_found'),
  bad_request: openAiError(400, 'invalid_request_error', null),
};
const GOOGLE_ERRORS: Record<Refusal, (m: string) => ShapedError> = {
  unauthorized: googleError(401, 'UNAUTHENTICATED', [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } }]),
  budget: googleError(400, 'FAILED_PRECONDITION'),
  unavailable: googleError(503, 'UNAVAILABLE'),
  model_not_allowed: googleError(404, 'NOT_FOUND'),
  bad_request: googleError(400, 'INVALID_ARGUMENT'),
};
const OLLAMA_ERRORS: Record<Refusal, (m: string) => ShapedError> = {
  unauthorized: ollamaError(401),
  budget: ollamaError(400),
  unavailable: ollamaError(503),
  model_not_allowed: ollamaError(404),
  bad_request: ollamaError(400),
};

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const openAiFailed = (json: Record<string, unknown>) => json.error !== undefined && json.error !== null;

/**
 * A route whose usage sits under one top-level key of the answer and of each stream chunk
 * (OpenAI Chat's `usage`, Gemini's `usageMetadata`): the rest of the protocol is the caller's.
 */
const keyedUsageProtocol = (
  usageKey: string,
  read: (usage: Record<string, unknown>) => TokenUsage,
  protocol: Omit<WireProtocol, 'usageFrom' | 'streamFailed' | 'answerUsage'>,
): WireProtocol => ({
  ...protocol,
  usageFrom: (json, previous) => {
    const u = record(json[usageKey]);
    return u ? read(u) : previous;
  },
  streamFailed: openAiFailed,
  answerUsage: { key: usageKey, read },
});

/** OpenAI Chat Completions (opencode, aider); Ollama's OpenAI-compatible route is the same on another path. */
const OPENAI_CHAT: WireProtocol = keyedUsageProtocol('usage', openAiUsage, {
  route: 'openai-chat',
  kind: 'openai',
  upstreamPath: () => '/chat/completions',
  authHeaders: bearer,
  error: (refusal, message) => OPENAI_ERRORS[refusal](message),
  worthReading: carriesUsageOrError,
});

/** Gemini's two routes differ only in the method the model path ends with. */
const gemini = (route: 'gemini-generate' | 'gemini-stream', method: string): WireProtocol =>
  keyedUsageProtocol('usageMetadata', geminiUsage, {
    route,
    kind: 'google',
    upstreamPath: (model) => `/v1beta/models/${encodeURIComponent(model)}:${method}`,
    authHeaders: (key) => ({ 'x-goog-api-key': key }),
    error: (refusal, message) => GOOGLE_ERRORS[refusal](message),
    worthReading: mentionsUsageOrError,
  });

export const WIRE_PROTOCOLS: Record<WireRoute, WireProtocol> = {
  'anthropic-messages': {
    route: 'anthropic-messages',
    kind: 'anthropic',
    upstreamPath: () => '/v1/messages',
    authHeaders: (key) => ({ 'x-api-key': key }),
    error: (refusal, message) => ANTHROPIC_ERRORS[refusal](message),
    usageFrom: anthropicStreamUsage,
    streamFailed: (json, event) => (event ?? json.type) === 'error',
    worthReading: (data, event) => (event ? ANTHROPIC_EVENTS.has(event) : mentionsUsageOrError(data)),
    answerUsage: { key: 'usage', read: anthropicUsage },
  },
  'openai-responses': {
    route: 'openai-responses',
    kind: 'openai',
    upstreamPath: () => '/responses',
    authHeaders: bearer,
    error: (refusal, message) => OPENAI_ERRORS[refusal](message),
    usageFrom: (json, previous, event) => {
      const type = event ?? json.type;
      if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
        const u = record(record(json.response)?.usage);
        return u ? responsesUsage(u) : previous;
      }
      if (json.object === 'response') return responsesUsage(record(json.usage));
      return previous;
    },
    streamFailed: (json, event) => {
      const type = event ?? json.type;
      return type === 'error' || type === 'response.failed';
    },
    worthReading: (data, event) => (event ? RESPONSES_EVENTS.has(event) : mentionsUsageOrError(data)),
    answerUsage: { key: 'usage', read: responsesUsage },
  },
  'openai-chat': OPENAI_CHAT,
  /** Ollama's OpenAI-compatible Chat Completions (`/v1/chat/completions`: what opencode speaks to Ollama). */
  'ollama-openai-chat': { ...OPENAI_CHAT, route: 'ollama-openai-chat', kind: 'ollama', upstreamPath: () => '/v1/chat/completions' },
  'gemini-generate': gemini('gemini-generate', 'generateContent'),
  'gemini-stream': gemini('gemini-stream', 'streamGenerateContent'),
  'ollama-chat': {
    route: 'ollama-chat',
    kind: 'ollama',
    upstreamPath: () => '/api/chat',
    authHeaders: bearer,
    error: (refusal, message) => OLLAMA_ERRORS[refusal](message),
    usageFrom: (json, previous) => (json.done === true ? ollamaUsage(json) : previous),
    streamFailed: (json) => typeof json.error === 'string',
    worthReading: (data) => /"done"\s*:\s*true/.test(data) || data.includes('"error"'),
  },
};
