/**
 * Tests that boot a tree with its real per-agent ports pick a random port offset whose ports
 * are all free, so parallel test files (and a `pas up` on the default ports) never collide.
 */
import net from 'node:net';

function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

const EPHEMERAL_FIRST = 32_768;

/** An offset (multiple of 100) such that every `base + offset` port is free right now. */
export async function freePortOffset(basePorts: readonly number[], tries = 100): Promise<number> {
  for (let i = 0; i < tries; i++) {
    // Below Linux's ephemeral range (32768..60999): a port checked free here cannot be taken
    // by some outgoing connection's local port before the tree binds it (a cluster test boots
    // a broker and two workers, ~20 s, between the check and the bind).
    const offset = 100 * (40 + Math.floor(Math.random() * 280)); // 4000..31900
    if (Math.max(...basePorts) + offset >= EPHEMERAL_FIRST) continue;
    const checks = await Promise.all(basePorts.map((p) => portFree(p + offset)));
    if (checks.every(Boolean)) return offset;
  }
  throw new Error('no free port offset found');
}
