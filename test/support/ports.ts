/**
 * Tests that boot a tree with its real per-agent ports pick a random port offset whose ports
 * are all free, so parallel test files (and a `pas up` on the default ports) never collide.
 */
import net from 'node:net';
import { releasePortOffset, reservePortOffset } from './port-reservations.ts';

function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

const EPHEMERAL_FIRST = 32_768;

/**
 * An offset (multiple of 100) such that every `base + offset` port is free right now, and that no
 * other running test process holds (port-reservations.ts: the base ports span less than 100, as
 * every tree's do, so the ports of one offset are its own). With `belowEphemeral`, every port stays
 * below Linux's ephemeral range (32768..60999), so no outgoing connection's local port can take one
 * between the check and the bind: for trees that bind long after the check or bind the same ports again after
 * a restart (a cluster boots a broker and two workers first, ~20 s). The default spreads over the
 * whole range, which makes two test files picking the same offset at once rarer.
 */
export async function freePortOffset(basePorts: readonly number[], tries = 100, options: { belowEphemeral?: boolean } = {}): Promise<number> {
  if (Math.max(...basePorts) - Math.min(...basePorts) >= 100) throw new Error(`base ports ${Math.min(...basePorts)}..${Math.max(...basePorts)} span 100 or more: two offsets would share ports`);
  for (let i = 0; i < tries; i++) {
    const offset = options.belowEphemeral ? 100 * (40 + Math.floor(Math.random() * 280)) : 100 * (100 + Math.floor(Math.random() * 500)); // 4000..31900 or 10000..59900
    if (Math.max(...basePorts) + offset >= (options.belowEphemeral ? EPHEMERAL_FIRST : 65_000)) continue;
    if (handedOut.has(offset) || !reservePortOffset(offset)) continue;
    const checks = await Promise.all(basePorts.map((p) => portFree(p + offset)));
    if (checks.every(Boolean)) {
      handedOut.add(offset);
      return offset;
    }
    releasePortOffset(offset);
  }
  throw new Error('no free port offset found');
}

/**
 * Offsets this process was given: never given again. A test's HTTP clients (fetch's pool, node's
 * global agent) keep connections alive; a tree started right after another closed on the same
 * ports got, as the first request on its origin, a pooled socket whose close from the old tree
 * the client had not read yet ("other side closed", "socket hang up"). Measured: 25 of 25 such
 * restarts failed their first fetch; none after a 50 ms pause.
 */
const handedOut = new Set<number>();
