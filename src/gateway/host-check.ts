/**
 * DNS-rebinding guard. A web page can point a hostname it controls at 127.0.0.1 and then talk to
 * PAS from the user's browser as "same origin"; the browser still sends that hostname in `Host`.
 * So unless PAS is deliberately bound to every interface, a request must name this machine in its
 * Host header: `localhost`, a literal loopback address (127.0.0.0/8, ::1), the configured host,
 * or a name listed in `gateway.allowed_hosts`. A name that merely starts with `127.`
 * (`127.0.0.1.nip.io`) is a DNS name like any other and is refused.
 */
import { isIPv4 } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { errorBody } from './http-errors.ts';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '::ffff:7f00:1']);
const ALL_INTERFACES = new Set(['0.0.0.0', '::', '']);

/** Host headers seen lately (every request has one; a machine is called by few names). */
const hostnames = new Map<string, string>();

export function hostnameOf(hostHeader: string): string {
  let name = hostnames.get(hostHeader);
  if (name === undefined) {
    try {
      name = new URL(`http://${hostHeader}`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    } catch {
      name = '';
    }
    if (hostnames.size >= 64) hostnames.clear();
    hostnames.set(hostHeader, name);
  }
  return name;
}

/** A literal IPv4 loopback address (127.0.0.0/8), written in the usual dotted form. */
function isLoopbackIPv4(name: string): boolean {
  return isIPv4(name) && name.startsWith('127.');
}

/** Whether a request with this Host header may be served when PAS listens on `boundHost`. */
export function hostAllowed(hostHeader: string | undefined, boundHost: string, allowedHosts: readonly string[] = []): boolean {
  if (ALL_INTERFACES.has(boundHost)) return true;
  if (hostHeader === undefined) return true; // no browser sends a request without Host
  const name = hostnameOf(hostHeader);
  if (name === '') return false;
  if (LOOPBACK.has(name) || isLoopbackIPv4(name)) return true;
  const bare = (host: string) => host.replace(/^\[|\]$/g, '').toLowerCase();
  return name === bare(boundHost) || allowedHosts.some((allowed) => name === bare(hostnameOf(allowed) || allowed));
}

/** Refuses WebSocket upgrades (the feed, the inspector relay) whose Host names another machine. */
export function guardUpgrades(server: { prependListener(event: 'upgrade', fn: (req: IncomingMessage, socket: Duplex) => void): unknown }, boundHost: string, allowedHosts: readonly string[] = []): void {
  server.prependListener('upgrade', (request, socket) => {
    if (hostAllowed(request.headers.host, boundHost, allowedHosts)) return;
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    socket.destroy();
  });
}

/** Answers 403 PAS_ERR_HOST_NOT_ALLOWED (with `refusal`'s words) to every request whose Host names another machine. */
export function refuseOtherHosts(app: FastifyInstance, boundHost: string, refusal: (hostHeader: string | undefined) => string, allowedHosts: readonly string[] = []): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!hostAllowed(request.headers.host, boundHost, allowedHosts)) return reply.status(403).send(errorBody('PAS_ERR_HOST_NOT_ALLOWED', refusal(request.headers.host)));
  });
}
