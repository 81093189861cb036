/**
 * Every WebSocket upgrade gets an answer. Node leaves an upgrade request to the server's
 * 'upgrade' listeners; one for a path nobody serves would stay open for ever, unanswered (any
 * web page can open such a socket), and hold up shutdown. This listener, added after the feed's
 * and the inspector relay's, answers those with 404 and closes them.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

export function answerStrayUpgrades(server: Server, servedPaths: () => readonly string[]): void {
  server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
    if (socket.destroyed) return;
    let pathname: string;
    try {
      pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    } catch {
      pathname = '';
    }
    if (servedPaths().includes(pathname)) return;
    const body = JSON.stringify({ error: { code: 'PAS_ERR_NOT_FOUND', message: `no WebSocket at ${pathname.slice(0, 200) || '?'}`, details: {} } });
    socket.end(`HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, () => socket.destroy());
  });
}
