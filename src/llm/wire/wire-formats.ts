/**
 * One entry point per wire format: read a request into a WireRequest, encode a WireTurn as the
 * answer, and shape an error as that provider would send it.
 */
import { anthropicReply, readAnthropicRequest } from './anthropic-wire.ts';
import { geminiReply, readGeminiRequest } from './gemini-wire.ts';
import { openAiChatReply, readOpenAiChatRequest } from './openai-chat-wire.ts';
import { openAiResponsesReply, readOpenAiResponsesRequest } from './openai-responses-wire.ts';
import { jsonReply, type WireReply, type WireRequest, type WireRoute, type WireTurn } from './wire-turn.ts';

/** `model` is the URL's for Gemini (its body names none). */
export function readWireRequest(route: WireRoute, body: unknown, model?: string): WireRequest & { includeUsage?: boolean } {
  switch (route) {
    case 'anthropic-messages':
      return readAnthropicRequest(body);
    case 'openai-responses':
      return readOpenAiResponsesRequest(body);
    case 'openai-chat':
      return readOpenAiChatRequest(body);
    case 'gemini-generate':
    case 'gemini-stream':
      return readGeminiRequest(body, model ?? '', route === 'gemini-stream');
  }
}

export function encodeWireTurn(route: WireRoute, turn: WireTurn, request: WireRequest & { includeUsage?: boolean }, turnIndex = 0): WireReply {
  switch (route) {
    case 'anthropic-messages':
      return anthropicReply(turn, request.model, request.stream, turnIndex);
    case 'openai-responses':
      return openAiResponsesReply(turn, request.model, request.stream, turnIndex);
    case 'openai-chat':
      return openAiChatReply(turn, request.model, request.stream, request.includeUsage === true, turnIndex);
    case 'gemini-generate':
    case 'gemini-stream':
      return geminiReply(turn, request.model, route === 'gemini-stream');
  }
}

const GOOGLE_STATUS: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED' };
const ANTHROPIC_TYPE: Record<number, string> = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error' };
const OPENAI_TYPE: Record<number, string> = { 400: 'invalid_request_error', 401: 'invalid_request_error', 404: 'invalid_request_error', 429: 'requests', 500: 'server_error', 503: 'server_error' };

/** An error answer in the route's provider's own shape. */
export function wireErrorReply(route: WireRoute, status: number, message: string): WireReply {
  switch (route) {
    case 'anthropic-messages':
      return jsonReply(status, { type: 'error', error: { type: ANTHROPIC_TYPE[status] ?? 'api_error', message } });
    case 'gemini-generate':
    case 'gemini-stream':
      return jsonReply(status, { error: { code: status, message, status: GOOGLE_STATUS[status] ?? 'UNKNOWN' } });
    default:
      return jsonReply(status, { error: { message, type: OPENAI_TYPE[status] ?? 'server_error', param: null, code: status === 401 ? 'invalid_api_key' : null } });
  }
}
