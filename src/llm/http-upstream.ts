/**
 * One POST to a provider with node's own http client over kept-alive sockets: the cheapest path
 * on the main thread (no web streams), shared by the LLM gateway (which streams the answer on)
 * and the adapters of the in-process LLM client (which read it). The answer's body is not read
 * here.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo' });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo' });

/** Where a call goes, parsed once per URL (the gateway's budget is about a millisecond a call). */
export interface UpstreamTarget {
  https: boolean;
  hostname: string;
  port: string;
  /** Path and query. */
  path: string;
}

const targets = new Map<string, UpstreamTarget>();

/** `url` (a provider base URL + path) as request options; remembered, a gateway calls few of them. */
export function upstreamTarget(url: string): UpstreamTarget {
  let target = targets.get(url);
  if (!target) {
    const parsed = new URL(url);
    target = { https: parsed.protocol === 'https:', hostname: parsed.hostname.replace(/^\[|\]$/g, ''), port: parsed.port, path: `${parsed.pathname}${parsed.search}` };
    if (targets.size >= 256) targets.clear();
    targets.set(url, target);
  }
  return target;
}

/**
 * The caller hanging up, as what the call waits on hears it: the upstream request (one at a
 * time) is ended at once. Lighter than an AbortController on every call.
 */
export class Hangup {
  reason: Error | undefined;
  private stop: ((reason: Error) => void) | undefined;

  get happened(): boolean {
    return this.reason !== undefined;
  }

  fire(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    const stop = this.stop;
    this.stop = undefined;
    stop?.(reason);
  }

  /** Calls `stop` if the caller hangs up before the returned function is called. */
  watch(stop: (reason: Error) => void): () => void {
    this.stop = stop;
    return () => {
      if (this.stop === stop) this.stop = undefined;
    };
  }

  /** An AbortSignal of the hangup, for a wait that takes one (a provider slot). */
  signal(): AbortSignal {
    const controller = new AbortController();
    if (this.reason) controller.abort(this.reason);
    else this.watch((reason) => controller.abort(reason));
    return controller.signal;
  }
}

export interface UpstreamRequest {
  target: UpstreamTarget;
  /** Query parameters added to the target's path (`alt=sse`), already encoded, or ''. */
  query: string;
  headers: OutgoingHttpHeaders;
  body: Buffer;
  /** Until the answer's head arrives; none when the caller times the whole call itself. */
  headersTimeoutMs?: number;
  hangup: Hangup;
}

export class UpstreamTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/**
 * Resolves with the answer as soon as its status and headers arrive. A kept-alive socket the
 * provider closed just as it was reused (the keep-alive race) is retried once on a fresh one.
 */
export async function postUpstream(o: UpstreamRequest): Promise<IncomingMessage> {
  try {
    return await postOnce(o);
  } catch (err) {
    if ((err as { reusedSocket?: boolean }).reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET' && !o.hangup.happened) return postOnce(o);
    throw err;
  }
}

function postOnce(o: UpstreamRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (o.hangup.reason) return reject(o.hangup.reason);
    const { target } = o;
    o.headers['content-length'] = o.body.length;
    const req = (target.https ? https : http).request({
      method: 'POST',
      hostname: target.hostname,
      port: target.port,
      path: o.query ? `${target.path}${target.path.includes('?') ? '&' : '?'}${o.query}` : target.path,
      headers: o.headers,
      agent: target.https ? httpsAgent : httpAgent,
    });
    // The caller hanging up ends the request and its answer, until the request is done.
    req.once('close', o.hangup.watch((reason) => req.destroy(reason)));
    const ms = o.headersTimeoutMs;
    const timer = ms === undefined ? undefined : setTimeout(() => req.destroy(new UpstreamTimeout(ms)), ms);
    req.once('response', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(Object.assign(err, { reusedSocket: req.reusedSocket }));
    });
    req.end(o.body);
  });
}

/** Reads a (small, error) answer completely. */
export async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
