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

/** An offset (multiple of 100) such that every `base + offset` port is free right now. */
export async function freePortOffset(basePorts: readonly number[], tries = 50): Promise<number> {
  for (let i = 0; i < tries; i++) {
    const offset = 100 * (100 + Math.floor(Math.random() * 500)); // 10000..59900
    if (Math.max(...basePorts) + offset > 65_000) continue;
    const checks = await Promise.all(basePorts.map((p) => portFree(p + offset)));
    if (checks.every(Boolean)) return offset;
  }
  throw new Error('no free port offset found');
}
