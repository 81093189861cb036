/**
 * Response bodies, stream frames and error bodies as each provider really sends them
 * (OpenAI Chat Completions, Anthropic Messages, Gemini generateContent, Ollama /api/chat).
 * Used by the fake protocol servers; shapes follow each provider's public API reference.
 */

export type FakeKind = 'ollama' | 'openai' | 'anthropic' | 'google';

/** Token counts a fixture reports; a field left undefined is left out of the body entirely. */
export interface FixtureUsage {
  input?: number;
  output?: number;
  thinking?: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/** What each provider reports by default (OpenAI and Anthropic always send their zero cache counts). */
export const DEFAULT_USAGE: Record<FakeKind, FixtureUsage> = {
  openai: { input: 19, output: 10, cacheRead: 0, thinking: 0 },
  anthropic: { input: 25, output: 12, cacheRead: 0, cacheWrite: 0 },
  google: { input: 8, output: 9 },
  ollama: { input: 26, output: 11 },
};

export const DEFAULT_REPLY = 'Hello from the fake provider.';

const CREATED = 1_735_689_600; // 2025-01-01T00:00:00Z
const CREATED_AT = '2025-01-01T00:00:00.000000Z';

function defined<T extends Record<string, unknown>>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ── usage objects ───────────────────────────────────────────────────────────

export function openAiUsageBody(u: FixtureUsage): Record<string, unknown> {
  const body: Record<string, unknown> = defined({
    prompt_tokens: u.input,
    completion_tokens: u.output,
    total_tokens: u.input !== undefined && u.output !== undefined ? u.input + u.output : undefined,
  });
  if (u.cacheRead !== undefined) body.prompt_tokens_details = { cached_tokens: u.cacheRead, audio_tokens: 0 };
  if (u.thinking !== undefined) {
    body.completion_tokens_details = { reasoning_tokens: u.thinking, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 };
  }
  return body;
}

export function anthropicUsageBody(u: FixtureUsage): Record<string, unknown> {
  return defined({
    input_tokens: u.input,
    cache_creation_input_tokens: u.cacheWrite,
    cache_read_input_tokens: u.cacheRead,
    output_tokens: u.output,
  });
}

export function geminiUsageBody(u: FixtureUsage): Record<string, unknown> {
  return defined({
    promptTokenCount: u.input,
    candidatesTokenCount: u.output,
    totalTokenCount: (u.input ?? 0) + (u.output ?? 0) + (u.thinking ?? 0),
    cachedContentTokenCount: u.cacheRead,
    thoughtsTokenCount: u.thinking,
    promptTokensDetails: u.input === undefined ? undefined : [{ modality: 'TEXT', tokenCount: u.input }],
  });
}

/** Ollama's last `/api/chat` object (`done: true`): the whole reply when not streaming, the closing line of a stream. */
export function ollamaDone(model: string, content: string, u: FixtureUsage): Record<string, unknown> {
  return {
    model,
    created_at: CREATED_AT,
    message: { role: 'assistant', content },
    done_reason: 'stop',
    done: true,
    total_duration: 4_883_583_458,
    load_duration: 1_334_875,
    ...defined({ prompt_eval_count: u.input }),
    prompt_eval_duration: 342_546_000,
    ...defined({ eval_count: u.output }),
    eval_duration: 4_535_599_000,
  };
}

// ── non-streaming bodies ────────────────────────────────────────────────────

export function okBody(kind: FakeKind, model: string, text: string, usage: FixtureUsage): unknown {
  switch (kind) {
    case 'openai':
      return {
        id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
        object: 'chat.completion',
        created: CREATED,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
        usage: openAiUsageBody(usage),
        service_tier: 'default',
        system_fingerprint: 'fp_50cad350e4',
      };
    case 'anthropic':
      return {
        id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: anthropicUsageBody(usage),
      };
    case 'google':
      return {
        candidates: [{ content: { parts: [{ text }], role: 'model' }, finishReason: 'STOP', index: 0 }],
        usageMetadata: geminiUsageBody(usage),
        modelVersion: model,
        responseId: 'mAitaLmkHPPlz7IPvtfUqQ4',
      };
    case 'ollama':
      return ollamaDone(model, text, usage);
  }
}

// ── stream frames ───────────────────────────────────────────────────────────

export function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

function sse(data: unknown, event?: string, eol = '\n'): string {
  const payload = typeof data === 'string' ? data : JSON.stringify(data);
  return `${event ? `event: ${event}${eol}` : ''}data: ${payload}${eol}${eol}`;
}

/** Gemini's SSE uses CRLF line endings. */
const GEMINI_EOL = '\r\n';

export function streamContentType(kind: FakeKind): string {
  return kind === 'ollama' ? 'application/x-ndjson' : 'text/event-stream';
}

export interface StreamFrames {
  /** Frames before any text (message_start…). */
  head: string[];
  /** One frame per text piece. */
  text: string[];
  /** Closing frames (finish, usage, [DONE], message_stop…). */
  tail: string[];
}

export function streamFrames(kind: FakeKind, model: string, text: string, usage: FixtureUsage): StreamFrames {
  const parts = pieces(text);
  switch (kind) {
    case 'openai': {
      const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
        id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
        object: 'chat.completion.chunk',
        created: CREATED,
        model,
        service_tier: 'default',
        system_fingerprint: 'fp_50cad350e4',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        usage: null,
      });
      return {
        head: [sse(chunk({ role: 'assistant', content: '', refusal: null }, null))],
        text: parts.map((p) => sse(chunk({ content: p }, null))),
        tail: [
          sse(chunk({}, 'stop')),
          sse({ id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT', object: 'chat.completion.chunk', created: CREATED, model, choices: [], usage: openAiUsageBody(usage) }),
          sse('[DONE]'),
        ],
      };
    }
    case 'anthropic': {
      const startUsage = { ...anthropicUsageBody({ ...usage, output: 1 }) };
      return {
        head: [
          sse(
            { type: 'message_start', message: { id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF', type: 'message', role: 'assistant', content: [], model, stop_reason: null, stop_sequence: null, usage: startUsage } },
            'message_start',
          ),
          sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start'),
          sse({ type: 'ping' }, 'ping'),
        ],
        text: parts.map((p) => sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }, 'content_block_delta')),
        tail: [
          sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'),
          sse({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: defined({ output_tokens: usage.output }) }, 'message_delta'),
          sse({ type: 'message_stop' }, 'message_stop'),
        ],
      };
    }
    case 'google': {
      const running = defined({ promptTokenCount: usage.input, totalTokenCount: usage.input });
      return {
        head: [],
        text: parts.map((p, i) =>
          sse(
            {
              candidates: [{ content: { parts: [{ text: p }], role: 'model' }, index: 0, ...(i === parts.length - 1 ? { finishReason: 'STOP' } : {}) }],
              usageMetadata: i === parts.length - 1 ? geminiUsageBody(usage) : running,
              modelVersion: model,
              responseId: 'mAitaLmkHPPlz7IPvtfUqQ4',
            },
            undefined,
            GEMINI_EOL,
          ),
        ),
        tail: [],
      };
    }
    case 'ollama': {
      const line = (o: unknown) => `${JSON.stringify(o)}\n`;
      return {
        head: [],
        text: parts.map((p) => line({ model, created_at: CREATED_AT, message: { role: 'assistant', content: p }, done: false })),
        tail: [
          line(ollamaDone(model, '', usage)),
        ],
      };
    }
  }
}

/** The error frame a provider sends inside a 200 stream. */
export function streamErrorFrame(kind: FakeKind): string {
  switch (kind) {
    case 'openai':
      return sse({ error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } });
    case 'anthropic':
      return sse({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, 'error');
    case 'google':
      return sse({ error: { code: 500, message: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting', status: 'INTERNAL' } }, undefined, GEMINI_EOL);
    case 'ollama':
      return `${JSON.stringify({ error: 'an error was encountered while running the model: unexpected EOF' })}\n`;
  }
}

// ── error answers ───────────────────────────────────────────────────────────

export type ErrorFixtureName = 'rate_limited' | 'overloaded' | 'server' | 'bad_request' | 'context_length' | 'auth' | 'quota' | 'not_found';

export interface ErrorFixture {
  status: number;
  /** `{{key}}` is replaced by the API key the request carried (a server that echoes it). */
  body: unknown;
  headers?: Record<string, string>;
}

const ANTHROPIC_REQUEST_ID = 'req_011CSHoEeqs5C35K2UUqR7Fy';

function anthropicError(type: string, message: string): unknown {
  return { type: 'error', error: { type, message }, request_id: ANTHROPIC_REQUEST_ID };
}

function openAiError(message: string, type: string, code: string | null, param: string | null = null): unknown {
  return { error: { message, type, param, code } };
}

function googleError(code: number, status: string, message: string, details?: unknown[]): unknown {
  return { error: { code, message, status, ...(details ? { details } : {}) } };
}

export function errorFixture(kind: FakeKind, name: ErrorFixtureName): ErrorFixture {
  switch (kind) {
    case 'openai':
      switch (name) {
        case 'rate_limited':
          return {
            status: 429,
            headers: { 'retry-after': '2', 'x-ratelimit-reset-tokens': '2s' },
            body: openAiError('Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s. Visit https://platform.openai.com/account/rate-limits to learn more.', 'tokens', 'rate_limit_exceeded'),
          };
        case 'quota':
          return { status: 429, body: openAiError('You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.', 'insufficient_quota', 'insufficient_quota') };
        case 'overloaded':
          return { status: 503, body: openAiError('The engine is currently overloaded, please try again later', 'server_error', null) };
        case 'server':
          return { status: 500, body: openAiError('The server had an error while processing your request. Sorry about that!', 'server_error', null) };
        case 'bad_request':
          return { status: 400, body: openAiError("Invalid type for 'temperature': expected a decimal, but got a string instead.", 'invalid_request_error', 'invalid_type', 'temperature') };
        case 'context_length':
          return { status: 400, body: openAiError("This model's maximum context length is 128000 tokens. However, your messages resulted in 204308 tokens. Please reduce the length of the messages.", 'invalid_request_error', 'context_length_exceeded', 'messages') };
        case 'auth':
          return { status: 401, body: openAiError('Incorrect API key provided: {{key}}. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_request_error', 'invalid_api_key') };
        case 'not_found':
          return { status: 404, body: openAiError('The model `gpt-5-nonexistent` does not exist or you do not have access to it.', 'invalid_request_error', 'model_not_found') };
      }
      break;
    case 'anthropic':
      switch (name) {
        case 'rate_limited':
          return { status: 429, headers: { 'retry-after': '3', 'request-id': ANTHROPIC_REQUEST_ID }, body: anthropicError('rate_limit_error', 'This request would exceed the rate limit for your organization of 50,000 input tokens per minute.') };
        case 'quota':
          return { status: 400, body: anthropicError('invalid_request_error', 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.') };
        case 'overloaded':
          return { status: 529, body: anthropicError('overloaded_error', 'Overloaded') };
        case 'server':
          return { status: 500, body: anthropicError('api_error', 'Internal server error') };
        case 'bad_request':
          return { status: 400, body: anthropicError('invalid_request_error', 'messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row') };
        case 'context_length':
          return { status: 400, body: anthropicError('invalid_request_error', 'prompt is too long: 208310 tokens > 200000 maximum') };
        case 'auth':
          return { status: 401, body: anthropicError('authentication_error', 'invalid x-api-key') };
        case 'not_found':
          return { status: 404, body: anthropicError('not_found_error', 'model: claude-nonexistent') };
      }
      break;
    case 'google':
      switch (name) {
        case 'rate_limited':
          return {
            status: 429,
            body: googleError(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.', [
              { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier', quotaDimensions: { location: 'global', model: 'gemini-2.5-flash' }, quotaValue: '10' }] },
              { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }] },
              { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '4s' },
            ]),
          };
        case 'quota':
          return {
            status: 429,
            body: googleError(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.', [
              { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier', quotaDimensions: { location: 'global', model: 'gemini-2.5-flash' }, quotaValue: '250' }] },
            ]),
          };
        case 'overloaded':
          return { status: 503, body: googleError(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.') };
        case 'server':
          return { status: 500, body: googleError(500, 'INTERNAL', 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting') };
        case 'bad_request':
          return { status: 400, body: googleError(400, 'INVALID_ARGUMENT', 'Invalid value at \'generation_config.temperature\' (TYPE_FLOAT), "hot"') };
        case 'context_length':
          return { status: 400, body: googleError(400, 'INVALID_ARGUMENT', 'The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).') };
        case 'auth':
          return {
            status: 400,
            body: googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
              { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
            ]),
          };
        case 'not_found':
          return { status: 404, body: googleError(404, 'NOT_FOUND', 'models/gemini-nonexistent is not found for API version v1beta, or is not supported for generateContent.') };
      }
      break;
    case 'ollama':
      switch (name) {
        case 'rate_limited':
          return { status: 429, headers: { 'retry-after': '1' }, body: { error: 'server busy, please try again.  maximum pending requests exceeded' } };
        case 'overloaded':
          return { status: 503, body: { error: 'server busy, please try again.  maximum pending requests exceeded' } };
        case 'server':
          return { status: 500, body: { error: 'llama runner process has terminated: exit status 2' } };
        case 'bad_request':
        case 'quota':
          return { status: 400, body: { error: 'invalid options: temperature' } };
        case 'context_length':
          return { status: 400, body: { error: 'the input length exceeds the context length' } };
        case 'auth':
          return { status: 401, body: { error: 'unauthorized' } };
        case 'not_found':
          return { status: 404, body: { error: 'model "qwen2.5-coder:7b-instruct" not found, try pulling it first' } };
      }
      break;
  }
  throw new Error(`no ${name} fixture for ${kind}`);
}
