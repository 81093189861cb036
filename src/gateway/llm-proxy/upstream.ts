/**
 * Header forwarding of the LLM gateway's calls to providers; the POST itself (node's own http
 * client over kept-alive sockets) is src/llm/http-upstream.ts, shared with the in-process adapters.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';

export { Hangup, postUpstream, readAll, upstreamTarget, UpstreamTimeout, type UpstreamRequest, type UpstreamTarget } from '../../llm/http-upstream.ts';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);

/** Request headers the provider gets: the caller's own, minus hop-by-hop, auth and encoding. */
export function forwardedRequestHeaders(incoming: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'authorization' || name === 'x-api-key' || name === 'x-goog-api-key' || name === 'accept-encoding' || name === 'cookie') continue;
    out[name] = value;
  }
  // The answer is read on the side for its usage: ask for it uncompressed.
  out['accept-encoding'] = 'identity';
  return out;
}

/** Answer headers the caller gets: the provider's own, minus hop-by-hop. */
export function forwardedResponseHeaders(res: IncomingMessage): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || (HOP_BY_HOP.has(name) && name !== 'content-length')) continue;
    out[name] = value;
  }
  return out;
}
