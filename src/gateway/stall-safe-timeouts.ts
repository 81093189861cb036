/**
 * A socket's timeout (keep-alive after an answer, `idle_timeout_s` without traffic) closes it only
 * after it stayed silent for a further grace period during which the process really ran.
 *
 * Node's own handling destroys the socket from the timers phase. After the process stalled for
 * longer than the timeout (load, GC, a long synchronous step), that phase runs before the poll
 * phase reads what the client sent meanwhile, so a kept-alive socket whose next request is already
 * on its way is closed under it: the client, which used the socket well within the advertised
 * `Keep-Alive: timeout`, sees ECONNRESET (the request sat unread in the kernel) or `other side
 * closed` (it wrote right after the close), and a non-idempotent request cannot be retried.
 * Here the first timeout only arms the grace period: any request already sent is read first
 * (the poll phase comes before the next timer), and one sent right after has the grace period of
 * running time to arrive. A grace period cut short by another stall is granted again, a few times
 * at most, so an idle socket is still closed on a loaded machine.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How long a timed-out socket must stay silent, with the process running, before it is closed. */
export const TIMEOUT_GRACE_MS = 1000;
/** Grace periods granted again at most when the process stalled through them. */
const MAX_GRACE_ROUNDS = 5;

interface Pending {
  /** When the grace period was armed (performance.now()). */
  at: number;
  /** bytesRead + bytesWritten then: any traffic since means the socket is not idle. */
  traffic: number;
  /** The timeout the socket had before the grace period, restored when traffic resumes. */
  timeout: number;
  rounds: number;
}

function trafficOf(socket: Socket): number {
  return socket.bytesRead + socket.bytesWritten;
}

/** Takes over the closing of timed-out sockets of `server` (its 'timeout' event). */
export function closeTimedOutSocketsSafely(server: Server, graceMs = TIMEOUT_GRACE_MS): void {
  const pending = new WeakMap<Socket, Pending>();
  // A request that arrives in the grace period starts its timeouts afresh, as Node starts them
  // for any request (it does so itself only after a keep-alive wait).
  server.on('request', (request: { socket: Socket }) => {
    if (pending.delete(request.socket)) request.socket.setTimeout(server.timeout || 0);
  });
  server.on('timeout', (socket: Socket) => {
    const now = performance.now();
    let last = pending.get(socket);
    if (last && trafficOf(socket) !== last.traffic) {
      pending.delete(socket);
      // It spoke during the grace period, so it is not idle: the timeout it had counts again from here.
      if (socket.timeout === graceMs) {
        socket.setTimeout(last.timeout);
        return;
      }
      // Node armed another timeout meanwhile (a response ended: its keep-alive) and that one ran
      // out: a first timeout again, with a grace period of its own.
      last = undefined;
    }
    const stalledThrough = last !== undefined && now - last.at > graceMs * 1.5;
    if (last && (!stalledThrough || last.rounds >= MAX_GRACE_ROUNDS)) {
      pending.delete(socket);
      socket.destroy();
      return;
    }
    pending.set(socket, { at: now, traffic: trafficOf(socket), timeout: last?.timeout ?? socket.timeout ?? 0, rounds: (last?.rounds ?? 0) + 1 });
    socket.setTimeout(graceMs);
  });
}
