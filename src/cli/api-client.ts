/**
 * What `pas submit`, `pas status` and `pas agents` share: finding a running tree's gateway
 * (`--url`, else the configured gateway host and port plus `--port-offset`), calling its HTTP API
 * with `PAS_API_TOKEN` as a bearer token when set, and printing plain-text tables.
 */
import { defaultConfigDir, loadConfig } from '../config/load-config.ts';
import { PasError } from '../errors.ts';
import type { OptionSpec } from './help.ts';
import { intOption } from './int-option.ts';

/** Options every client command takes. */
export const CLIENT_OPTIONS = {
  url: { type: 'string', arg: 'URL', help: 'the gateway of the running tree (default http://127.0.0.1:6101 from configs/pas.yaml)' },
  'port-offset': { type: 'string', arg: 'N', help: 'the tree was started with `pas up --port-offset N` (default 0)' },
  json: { type: 'boolean', help: 'print the API answer as JSON instead of a table' },
} as const satisfies Record<string, OptionSpec>;

/** The gateway base URL, without a trailing slash. */
export function gatewayUrl(values: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): string {
  if (typeof values.url === 'string') {
    let url: URL;
    try {
      url = new URL(values.url);
    } catch {
      throw new PasError('PAS_ERR_BAD_REQUEST', `--url takes an http(s) URL such as http://127.0.0.1:6101, got "${values.url}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PasError('PAS_ERR_BAD_REQUEST', `--url takes an http(s) URL such as http://127.0.0.1:6101, got "${values.url}"`);
    }
    return url.toString().replace(/\/+$/, '');
  }
  const offset = intOption(values, 'port-offset', 0);
  const { host, port } = loadConfig(defaultConfigDir(env)).pas.gateway;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port + offset}`;
}

/** A failed call: `unreachable` when no server answered, else the HTTP status and error body. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly url: string,
    readonly status: number | null,
    readonly code: string | null,
  ) {
    super(message);
  }
  get unreachable(): boolean {
    return this.status === null;
  }
}

export interface ApiClient {
  readonly baseUrl: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
}

export function apiClient(baseUrl: string, env: NodeJS.ProcessEnv = process.env, fetchImpl: typeof fetch = fetch): ApiClient {
  const token = env.PAS_API_TOKEN || undefined;
  const call = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const url = `${baseUrl}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    let response: Response;
    try {
      response = await fetchImpl(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(15_000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new ApiError(`cannot reach the PAS tree at ${baseUrl} (${why}); is \`pas up\` running there?`, url, null, null);
    }
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
      throw new ApiError(`${method} ${url} answered ${response.status}: ${error?.message ?? text.slice(0, 200)}`, url, response.status, error?.code ?? null);
    }
    return parsed as T;
  };
  return { baseUrl, get: (path) => call('GET', path), post: (path, body) => call('POST', path, body) };
}

/** Prints an ApiError the way every client command does and returns its exit code. */
export function reportApiError(command: string, err: unknown, out: NodeJS.WritableStream = process.stderr): number {
  if (!(err instanceof ApiError)) throw err;
  out.write(`pas ${command}: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
  return err.status === 400 ? 2 : 1;
}

/** Left-aligned columns separated by two spaces; cells longer than `max` are cut with "…". */
export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string>>, max = 60): string {
  const cut = (cell: string) => {
    const one = cell.replace(/\s+/g, ' ');
    return one.length > max ? `${one.slice(0, max - 1)}…` : one;
  };
  const cells = [headers.map(cut), ...rows.map((r) => r.map(cut))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return `${cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n')}\n`;
}

/** 1.2s, 3m04s, 1h02m. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
