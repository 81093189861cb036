/**
 * Maps every way a provider call can fail onto one PAS_ERR_LLM_* PasError (table in
 * docs/llm-errors.md). Classification reads each provider's real error body: OpenAI
 * `{error:{message,type,code}}`, Anthropic `{type:"error",error:{type,message}}`, Gemini
 * `{error:{code,message,status,details}}` (google.rpc.Status), Ollama `{error:"…"}`.
 */
import { PasError, type ErrorCode } from '../errors.ts';
import { redactSecrets } from '../redaction.ts';

export type ProtocolKind = 'ollama' | 'openai' | 'anthropic' | 'google' | 'scripted';

/** Who failed; every error's details carry it. */
export interface CallSite {
  provider: string;
  kind: ProtocolKind;
  model: string;
  env?: NodeJS.ProcessEnv;
}

/** What an error body says, whatever the provider's shape. */
export interface ProviderErrorBody {
  message: string;
  /** OpenAI `type`, Anthropic `error.type`, Gemini `status`. */
  type?: string;
  /** OpenAI `code`, Anthropic `error.details.error_code`, Gemini ErrorInfo `reason`. */
  code?: string;
  /** Gemini RetryInfo.retryDelay in ms. */
  retryDelayMs?: number;
  /** Gemini QuotaFailure violation quota ids. */
  quotaIds?: string[];
}

const MAX_BODY_IN_MESSAGE = 500;

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Gemini's "26s" / "1.5s" durations. */
export function parseProtoDuration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

/** The headers of an answer as read here: a fetch `Headers`, or node's headers through `headerReader`. */
export interface HeaderReader {
  get(name: string): string | null;
}

/** `retry-after` as delta-seconds or HTTP-date (RFC 9110 §10.2.3), or `retry-after-ms`; in ms. */
export function parseRetryAfter(headers: HeaderReader, now: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms.trim()));
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Reads the error body of any of the four protocols (JSON or not). */
export function parseErrorBody(kind: ProtocolKind, text: string): ProviderErrorBody {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { message: text.trim().slice(0, MAX_BODY_IN_MESSAGE) || '(empty body)' };
  }
  // Gemini sometimes wraps the status in a one-element array.
  if (Array.isArray(json) && json.length > 0) json = json[0];
  const root = asRecord(json);
  const error = root?.error;
  if (typeof error === 'string') return { message: error }; // Ollama
  const e = asRecord(error);
  if (!e) return { message: text.trim().slice(0, MAX_BODY_IN_MESSAGE) };
  const body: ProviderErrorBody = { message: str(e.message) ?? JSON.stringify(e).slice(0, MAX_BODY_IN_MESSAGE) };
  if (kind === 'google') {
    const status = str(e.status);
    if (status) body.type = status;
    const details = Array.isArray(e.details) ? e.details.map(asRecord) : [];
    for (const d of details) {
      if (!d) continue;
      const atType = str(d['@type']) ?? '';
      if (atType.endsWith('google.rpc.RetryInfo')) {
        const delay = parseProtoDuration(d.retryDelay);
        if (delay !== undefined) body.retryDelayMs = delay;
      } else if (atType.endsWith('google.rpc.QuotaFailure') && Array.isArray(d.violations)) {
        body.quotaIds = d.violations.flatMap((v) => {
          const id = str(asRecord(v)?.quotaId);
          return id ? [id] : [];
        });
      } else if (atType.endsWith('google.rpc.ErrorInfo')) {
        const reason = str(d.reason);
        if (reason) body.code = reason;
      }
    }
    return body;
  }
  const type = str(e.type);
  if (type) body.type = type;
  const code = str(e.code) ?? str(asRecord(e.details)?.error_code);
  if (code) body.code = code;
  return body;
}

const CONTEXT_PATTERNS: Record<ProtocolKind, RegExp> = {
  openai: /maximum context length|context window|context_length_exceeded|too many tokens/i,
  anthropic: /prompt is too long|exceed context limit|context window/i,
  google: /input token count.*exceeds|exceeds the maximum number of tokens|context window/i,
  ollama: /context length|context window|context size/i,
  scripted: /context/i,
};

function isQuota(kind: ProtocolKind, status: number, body: ProviderErrorBody): boolean {
  switch (kind) {
    case 'openai':
      return body.code === 'insufficient_quota' || body.type === 'insufficient_quota' || body.code === 'billing_hard_limit_reached';
    case 'anthropic':
      return (
        status === 402 ||
        body.type === 'billing_error' ||
        body.code === 'enforced_spend_limit_reached' ||
        /credit balance|billing|spend limit|usage limit/i.test(body.message)
      );
    case 'google': {
      if (body.type !== 'RESOURCE_EXHAUSTED' && status !== 429) return false;
      if (body.quotaIds?.some((id) => /PerDay/i.test(id))) return true;
      // A per-minute limit carries RetryInfo; "check your plan and billing" without it does not pass by waiting.
      return body.retryDelayMs === undefined && /billing|per day/i.test(body.message);
    }
    default:
      return false;
  }
}

function isAuth(kind: ProtocolKind, status: number, body: ProviderErrorBody): boolean {
  if (status === 401 || status === 403) return true;
  if (kind === 'anthropic') return body.type === 'authentication_error' || body.type === 'permission_error';
  if (kind === 'google') return body.code === 'API_KEY_INVALID' || body.type === 'UNAUTHENTICATED' || body.type === 'PERMISSION_DENIED';
  if (kind === 'openai') return body.code === 'invalid_api_key';
  return false;
}

/** The PAS code for a non-2xx answer. */
export function classifyHttpStatus(kind: ProtocolKind, status: number, body: ProviderErrorBody): ErrorCode {
  if (isQuota(kind, status, body)) return 'PAS_ERR_LLM_QUOTA';
  if (isAuth(kind, status, body)) return 'PAS_ERR_LLM_AUTH';
  if (status === 413 || (status < 500 && CONTEXT_PATTERNS[kind].test(`${body.code ?? ''} ${body.message}`))) return 'PAS_ERR_LLM_CONTEXT_LENGTH';
  if (status === 429) return 'PAS_ERR_LLM_RATE_LIMITED';
  if (status === 529 || status === 503 || body.type === 'overloaded_error' || body.type === 'UNAVAILABLE') return 'PAS_ERR_LLM_OVERLOADED';
  if (status === 408 || status === 504) return 'PAS_ERR_LLM_TIMEOUT';
  if (status >= 500) return 'PAS_ERR_LLM_SERVER';
  return 'PAS_ERR_LLM_BAD_REQUEST';
}

function baseDetails(site: CallSite): Record<string, unknown> {
  return { provider: site.provider, model: site.model };
}

/** A PasError for a non-2xx answer; the message quotes the provider (redacted). */
export function httpError(site: CallSite, status: number, headers: HeaderReader, text: string, now: number = Date.now()): PasError {
  const body = parseErrorBody(site.kind, text);
  const code = classifyHttpStatus(site.kind, status, body);
  const details: Record<string, unknown> = { ...baseDetails(site), status };
  if (body.type) details.type = body.type;
  if (body.code) details.providerCode = body.code;
  const retryAfterMs = parseRetryAfter(headers, now) ?? body.retryDelayMs;
  if (retryAfterMs !== undefined) details.retryAfterMs = retryAfterMs;
  const requestId = headers.get('request-id') ?? headers.get('x-request-id');
  if (requestId) details.requestId = requestId;
  const label = body.type ? `${status} ${body.type}` : String(status);
  const message = redactSecrets(`${site.provider}/${site.model}: HTTP ${label}: ${body.message}`, site.env);
  return new PasError(code, message, { details });
}

/** An error frame inside a 200 stream (SSE `event: error`, OpenAI/Gemini `data: {"error"…}`, Ollama `{"error"}` line). */
export function streamError(site: CallSite, payload: unknown): PasError {
  const body = parseErrorBody(site.kind, typeof payload === 'string' ? payload : JSON.stringify(payload));
  const details: Record<string, unknown> = { ...baseDetails(site) };
  if (body.type) details.type = body.type;
  if (body.code) details.providerCode = body.code;
  const label = body.type ? ` ${body.type}` : '';
  return new PasError('PAS_ERR_LLM_STREAM', redactSecrets(`${site.provider}/${site.model}: stream error${label}: ${body.message}`, site.env), { details });
}

export function malformed(site: CallSite, what: string, cause?: unknown): PasError {
  const message = redactSecrets(`${site.provider}/${site.model}: unparseable response: ${what}`, site.env);
  return new PasError('PAS_ERR_LLM_MALFORMED', message, { details: baseDetails(site), cause });
}

export function truncatedStream(site: CallSite, what: string): PasError {
  return new PasError('PAS_ERR_LLM_STREAM', `${site.provider}/${site.model}: stream ended early: ${what}`, { details: baseDetails(site) });
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function errnoCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    // AggregateError (happy-eyeballs) holds the per-address errors.
    const inner = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(inner) && inner.length > 0) return errnoCode(inner[0]);
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Turns anything thrown by the request or body reading into a PasError: the caller's abort becomes
 * PAS_ERR_TASK_CANCELLED, our timeout (`timeout.aborted`: it fired) PAS_ERR_LLM_TIMEOUT, socket
 * errors PAS_ERR_LLM_CONNECTION. `where` is the server's origin (`http://127.0.0.1:11434`),
 * named in connection failures.
 */
export function toProviderError(err: unknown, site: CallSite, timeoutMs: number, timeout: { readonly aborted: boolean }, caller?: AbortSignal, where?: string): PasError {
  if (err instanceof PasError) return err;
  const details = baseDetails(site);
  if (caller?.aborted) {
    return new PasError('PAS_ERR_TASK_CANCELLED', `${site.provider}/${site.model}: call cancelled by the caller`, { details, cause: err });
  }
  if (timeout.aborted) {
    return new PasError('PAS_ERR_LLM_TIMEOUT', `${site.provider}/${site.model}: no answer within ${timeoutMs} ms`, {
      details: { ...details, timeoutMs },
      cause: err,
    });
  }
  const code = errnoCode(err);
  const text = err instanceof Error ? err.message : String(err);
  if (err instanceof SyntaxError) return malformed(site, text, err);
  const message = redactSecrets(`${site.provider}/${site.model}: connection failed${where ? ` at ${where}` : ''}: ${code ? `${code} ` : ''}${text}`, site.env);
  return new PasError('PAS_ERR_LLM_CONNECTION', message, {
    details: code ? { ...details, errno: code, known: CONNECTION_CODES.has(code) } : details,
    cause: err,
  });
}
