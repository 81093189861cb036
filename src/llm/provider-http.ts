/**
 * What every network adapter shares: base URL and key resolution at call time, one POST with
 * the per-provider timeout combined with the caller's signal, and stream framing (SSE via
 * eventsource-parser, NDJSON for Ollama).
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { PasError } from '../errors.ts';
import type { ProviderConfig } from '../config/schemas.ts';
import type { OutgoingHttpHeaders } from 'node:http';
import { Hangup, postUpstream, upstreamTarget, UpstreamTimeout } from './http-upstream.ts';
import { headerReader, leanBody, type ProviderBody } from './lean-answer.ts';
import { httpError, toProviderError, type CallSite, type ProtocolKind } from './provider-errors.ts';
import type { ChatRequest } from './types.ts';

export type FetchLike = typeof fetch;

/** Shared by the four network adapters. */
export interface AdapterOptions {
  /** The provider entry name in models.yaml (`openai`, or e.g. `vllm` with kind openai). */
  name: string;
  config: ProviderConfig;
  env?: NodeJS.ProcessEnv;
  fetch?: FetchLike;
  now?: () => number;
}

/** The env var each protocol's own SDK reads for its base URL, used when models.yaml names none. */
export const DEFAULT_BASE_URL_ENV: Record<Exclude<ProtocolKind, 'scripted'>, string> = {
  ollama: 'OLLAMA_HOST',
  openai: 'OPENAI_BASE_URL',
  anthropic: 'ANTHROPIC_BASE_URL',
  google: 'GOOGLE_GEMINI_BASE_URL',
};

/** `OLLAMA_HOST` may be `host`, `host:port` or a URL; the Ollama CLI defaults scheme http and port 11434. */
export function normalizeOllamaHost(value: string): string {
  let v = value.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    const hasPort = /:\d+(\/|$)/.test(v) || /^\[.*\]:\d+/.test(v);
    v = `http://${v}${hasPort ? '' : ':11434'}`;
  }
  return v.replace(/\/+$/, '');
}

/** The base URL for this call: the provider's env var wins over models.yaml. */
export function resolveBaseUrl(kind: Exclude<ProtocolKind, 'scripted'>, opts: AdapterOptions): string {
  const env = opts.env ?? process.env;
  const fromEnv = env[opts.config.base_url_env ?? DEFAULT_BASE_URL_ENV[kind]]?.trim();
  const raw = fromEnv || opts.config.base_url;
  if (!raw) {
    throw new PasError('PAS_ERR_CONFIG_INVALID', `models.yaml: providers.${opts.name}.base_url: required for a network provider`);
  }
  return kind === 'ollama' ? normalizeOllamaHost(raw) : raw.replace(/\/+$/, '');
}

/** The API key, read from the environment at call time; AUTH when the named variable is empty. */
export function resolveApiKey(opts: AdapterOptions, site: CallSite): string | undefined {
  const name = opts.config.api_key_env;
  if (!name) return undefined;
  const value = (opts.env ?? process.env)[name];
  if (!value) {
    throw new PasError('PAS_ERR_LLM_AUTH', `${site.provider}/${site.model}: ${name} is not set`, {
      details: { provider: site.provider, model: site.model, env: name },
    });
  }
  return value;
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

export interface PostOptions<T> {
  site: CallSite;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** An injected fetch (tests, embedders); without one the call takes the lean node:http path. */
  fetch?: FetchLike | undefined;
  now: () => number;
  /** Reads a 2xx answer; anything it throws is mapped like a transport failure. */
  consume: (res: ProviderBody) => Promise<T>;
}

/**
 * One POST: the per-provider timeout combined with the caller's signal (both also end an answer
 * being read), non-2xx classified, every failure a PasError.
 */
export function postJson<T>(o: PostOptions<T>): Promise<T> {
  return o.fetch ? postWithFetch(o, o.fetch) : postLean(o);
}

async function postWithFetch<T>(o: PostOptions<T>, fetch: FetchLike): Promise<T> {
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
  try {
    signal.throwIfAborted();
    const res = await fetch(o.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...o.headers },
      body: JSON.stringify(o.body),
      signal,
    });
    if (!res.ok) {
      const text = await res.text();
      throw httpError(o.site, res.status, res.headers, text, o.now());
    }
    return await o.consume({ text: () => res.text(), body: res.body as unknown as AsyncIterable<Uint8Array> | null });
  } catch (err) {
    throw toProviderError(err, o.site, o.timeoutMs, timeout, o.signal, originOf(o.url));
  }
}

/** The headers fetch added to ours, sent as it sent them (providers see the same request). */
const FETCH_DEFAULT_HEADERS: ReadonlyArray<[string, string]> = [
  ['accept', '*/*'],
  ['accept-language', '*'],
  ['sec-fetch-mode', 'cors'],
  ['user-agent', 'node'],
  ['accept-encoding', 'gzip, deflate'],
];

function leanHeaders(headers: Record<string, string>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { 'content-type': 'application/json', ...headers };
  for (const [name, value] of FETCH_DEFAULT_HEADERS) if (!(name in out)) out[name] = value;
  return out;
}

/** Statuses fetch followed (redirect: 'follow'). */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * The same POST on node's own http client over kept-alive sockets, the answer read as Node
 * stream chunks: a fraction of fetch's main-thread CPU (no web streams, no AbortSignal.any).
 * A redirect (a base_url that moved) is handed to fetch, which follows it as before.
 */
async function postLean<T>(o: PostOptions<T>): Promise<T> {
  const caller = o.signal;
  const timeout = { aborted: false };
  const hangup = new Hangup();
  const onAbort = () => hangup.fire(caller?.reason instanceof Error ? caller.reason : new Error('aborted by the caller'));
  let timer: NodeJS.Timeout | undefined;
  const started = o.now();
  try {
    caller?.throwIfAborted();
    timer = setTimeout(() => {
      timeout.aborted = true;
      hangup.fire(new UpstreamTimeout(o.timeoutMs));
    }, o.timeoutMs);
    timer.unref();
    caller?.addEventListener('abort', onAbort, { once: true });
    const body = Buffer.from(JSON.stringify(o.body));
    const res = await postUpstream({ target: upstreamTarget(o.url), query: '', headers: leanHeaders(o.headers), body, hangup });
    // From here on the timeout or the caller's abort ends the answer being read.
    hangup.watch((reason) => res.destroy(reason));
    if (hangup.reason) res.destroy(hangup.reason);
    const status = res.statusCode ?? 0;
    if (REDIRECTS.has(status) && res.headers.location) {
      res.resume();
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
      // The redirected call has what is left of this call's timeout, not a new one.
      const left = o.timeoutMs - (o.now() - started);
      if (left <= 0) {
        timeout.aborted = true;
        throw new UpstreamTimeout(o.timeoutMs);
      }
      return await postWithFetch({ ...o, timeoutMs: left }, globalThis.fetch);
    }
    if (status < 200 || status >= 300) {
      const text = await leanBody(res).text();
      throw httpError(o.site, status, headerReader(res.headers), text, o.now());
    }
    return await o.consume(leanBody(res));
  } catch (err) {
    throw toProviderError(err, o.site, o.timeoutMs, timeout, caller, originOf(o.url));
  } finally {
    clearTimeout(timer);
    caller?.removeEventListener('abort', onAbort);
  }
}

/** Calls `onText` with the body as text, in order (bytes decoded across chunk boundaries). */
async function eachText(res: ProviderBody, onText: (text: string) => void): Promise<void> {
  const body = res.body;
  if (!body) return;
  let decoder: TextDecoder | undefined;
  for await (const chunk of body) {
    if (typeof chunk === 'string') {
      onText(chunk);
      continue;
    }
    decoder ??= new TextDecoder();
    onText(decoder.decode(chunk, { stream: true }));
  }
  const tail = decoder?.decode();
  if (tail) onText(tail);
}

/** Feeds a `text/event-stream` body to `onEvent`, in order; a throw from `onEvent` ends the read. */
export async function readSse(res: ProviderBody, onEvent: (event: EventSourceMessage) => void): Promise<void> {
  const parser = createParser({ onEvent });
  await eachText(res, (text) => parser.feed(text));
  parser.reset({ consume: true });
}

/** Feeds each non-empty line of an NDJSON body to `onLine`. */
export async function readNdjson(res: ProviderBody, onLine: (line: string) => void): Promise<void> {
  let buffer = '';
  await eachText(res, (text) => {
    buffer += text;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) onLine(line);
    }
  });
  if (buffer.trim()) onLine(buffer.trim());
}

/** `JSON.parse` that reports which frame failed. */
export function parseJson(text: string, onError: (err: unknown) => never): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    return onError(err);
  }
}

/** A count as reported: a finite non-negative number, else null (never a made-up 0). */
export function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}

export function adapterDefaults(opts: AdapterOptions): { env: NodeJS.ProcessEnv; fetch: FetchLike | undefined; now: () => number; timeoutMs: number } {
  return {
    env: opts.env ?? process.env,
    fetch: opts.fetch,
    now: opts.now ?? Date.now,
    timeoutMs: Math.round(opts.config.timeout_s * 1000),
  };
}

/** A JSON object (not an array) as a record, else undefined. */
export function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** One provider call, resolved once: its call site (for coded errors), base URL, key and stream flag. */
export interface PreparedCall {
  site: CallSite;
  base: string;
  key: string | undefined;
  stream: boolean;
  /** POSTs `body` to `url` with the provider's timeout, the caller's signal, and the adapter's fetch and clock. */
  post<T>(url: string, headers: Record<string, string>, body: unknown, consume: PostOptions<T>['consume']): Promise<T>;
}

export function prepareCall(kind: Exclude<ProtocolKind, 'scripted'>, opts: AdapterOptions, model: string, request: ChatRequest): PreparedCall {
  const { env, fetch, now, timeoutMs } = adapterDefaults(opts);
  const site: CallSite = { provider: opts.name, kind, model, env };
  const base = resolveBaseUrl(kind, opts);
  return {
    site,
    base,
    key: resolveApiKey(opts, site),
    stream: request.stream === true,
    post: (url, headers, body, consume) => postJson({ site, url, headers, body, timeoutMs, signal: request.signal, fetch, now, consume }),
  };
}

