/**
 * A body refused before it was read (413, or any other error fastify answers while the body is
 * still arriving) is read to its end and thrown away before the answer goes out. Fastify answers
 * such errors with `connection: close`; closing a socket the client is still writing into makes
 * the kernel reset it, and the client then sees ECONNRESET/EPIPE instead of the answer. Draining
 * is bounded: past DRAIN_LIMIT_BYTES or DRAIN_LIMIT_MS the answer goes out anyway and the
 * connection is closed as before.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** How much of a refused body is read and discarded at most. */
export const DRAIN_LIMIT_BYTES = 4 * 1_048_576;
/** How long a refused body is waited for at most. */
export const DRAIN_LIMIT_MS = 5_000;

/** Resolves once `request`'s body has ended, or after `maxBytes` more bytes or `maxMs`, whichever comes first. */
export function drainBody(request: IncomingMessage, maxBytes = DRAIN_LIMIT_BYTES, maxMs = DRAIN_LIMIT_MS): Promise<void> {
  if (request.complete || request.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let read = 0;
    const done = () => {
      clearTimeout(timer);
      request.off('data', onData);
      request.off('end', done);
      request.off('close', done);
      request.off('error', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      read += chunk.length;
      if (read > maxBytes) {
        request.pause();
        done();
      }
    };
    const timer = setTimeout(done, maxMs);
    timer.unref();
    request.on('data', onData);
    request.once('end', done);
    request.once('close', done);
    request.once('error', done);
    request.resume();
  });
}

/** Drains what is left of a request's body before any answer that closes the connection. */
export function drainRefusedBodies(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    if (String(reply.getHeader('connection') ?? '').toLowerCase() === 'close' && !request.raw.complete) await drainBody(request.raw);
    return payload;
  });
}
