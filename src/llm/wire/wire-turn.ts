/**
 * One model turn as PAS serves it over a provider's wire format (the offline scripted model, the
 * test servers): some text and/or tool calls, with the usage the turn reports. Each
 * `*-wire.ts` file encodes a turn in its provider's framing and reads that provider's requests.
 */

/** The provider wire formats agent CLIs speak (route names as the LLM gateway uses them). */
export type WireRoute = 'anthropic-messages' | 'openai-responses' | 'openai-chat' | 'gemini-generate' | 'gemini-stream';

export const WIRE_ROUTES: readonly WireRoute[] = ['anthropic-messages', 'openai-responses', 'openai-chat', 'gemini-generate', 'gemini-stream'];

export interface WireToolCall {
  /** The tool's name in the caller's own tool list (`write_file`, `Write`, `apply_patch`, …). */
  name: string;
  /** Arguments as an object; for a free-form (custom) tool such as Codex's `apply_patch`, the text. */
  input: Record<string, unknown> | string;
  /** Call id; one is made up from the turn when left out. */
  id?: string;
}

/** Token counts a turn reports; a count left out is left out of the body too. */
export interface WireUsage {
  input?: number;
  output?: number;
  cacheRead?: number;
  cacheWrite?: number;
  thinking?: number;
}

export interface WireTurn {
  text?: string;
  toolCalls?: WireToolCall[];
  usage?: WireUsage;
}

/** What the server sends: a JSON body or a stream of already framed chunks. */
export interface WireReply {
  status: number;
  headers: Record<string, string>;
  /** The whole body (JSON) or the stream's frames in order. */
  chunks: string[];
}

/** What the scripted side needs from a request, whatever its format. */
export interface WireRequest {
  model: string;
  stream: boolean;
  /** System prompt text (joined). */
  system: string;
  /** The user's text turns, in order (tool results left out). */
  userTexts: string[];
  /** The request ends with tool results: the model is being told what its calls did. */
  afterToolResults: boolean;
  /** How many assistant turns with tool calls the conversation holds so far. */
  toolRounds: number;
  /** Names of the tools the caller offers. */
  tools: string[];
}

/** Text cut into word pieces with their trailing whitespace, so joined they equal the text. */
export function textPieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

export function callId(prefix: string, turnIndex: number, callIndex: number): string {
  return `${prefix}_${turnIndex.toString(36)}${callIndex.toString(36)}pas`;
}

export function rec(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export function sseData(json: unknown, eol = '\n'): string {
  return `data: ${JSON.stringify(json)}${eol}${eol}`;
}

export function sseEvent(event: string, json: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(json)}\n\n`;
}

export function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}): WireReply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, chunks: [JSON.stringify(body)] };
}

export function streamReply(chunks: string[]): WireReply {
  return { status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }, chunks };
}
