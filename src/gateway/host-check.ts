/**
 * DNS-rebinding guard. A web page can point a hostname it controls at 127.0.0.1 and then talk to
 * PAS from the user's browser as "same origin"; the browser still sends that hostname in `Host`.
 * So unless PAS is deliberately bound to every interface, a request must name this machine
 * (localhost, a loopback address, or the configured host) in its Host header.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);
const ALL_INTERFACES = new Set(['0.0.0.0', '::', '']);

export function hostnameOf(hostHeader: string): string {
  try {
    return new URL(`http://${hostHeader}`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return '';
  }
}

/** Whether a request with this Host header may be served when PAS listens on `boundHost`. */
export function hostAllowed(hostHeader: string | undefined, boundHost: string): boolean {
  if (ALL_INTERFACES.has(boundHost)) return true;
  if (hostHeader === undefined) return true; // no browser sends a request without Host
  const name = hostnameOf(hostHeader);
  return LOOPBACK.has(name) || name.startsWith('127.') || name === boundHost.replace(/^\[|\]$/g, '').toLowerCase();
}

/** Refuses WebSocket upgrades (the feed, the inspector relay) whose Host names another machine. */
export function guardUpgrades(server: { prependListener(event: 'upgrade', fn: (req: IncomingMessage, socket: Duplex) => void): unknown }, boundHost: string): void {
  server.prependListener('upgrade', (request, socket) => {
    if (hostAllowed(request.headers.host, boundHost)) return;
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    socket.destroy();
  });
}
