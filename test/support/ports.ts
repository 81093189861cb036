/**
 * Tests that boot a tree with its real per-agent ports pick a random port offset whose ports
 * are all free, so parallel test files (and a `pas up` on the default ports) never collide.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

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
 * other running test process holds. With `belowEphemeral`, every port stays below Linux's
 * ephemeral range (32768..60999), so no outgoing connection's local port can take one between the
 * check and the bind: for trees that bind long after the check or bind the same ports again after
 * a restart (a cluster boots a broker and two workers first, ~20 s). The default spreads over the
 * whole range, which makes two test files picking the same offset at once rarer.
 */
export async function freePortOffset(basePorts: readonly number[], tries = 100, options: { belowEphemeral?: boolean } = {}): Promise<number> {
  for (let i = 0; i < tries; i++) {
    const offset = options.belowEphemeral ? 100 * (40 + Math.floor(Math.random() * 280)) : 100 * (100 + Math.floor(Math.random() * 500)); // 4000..31900 or 10000..59900
    if (Math.max(...basePorts) + offset >= (options.belowEphemeral ? EPHEMERAL_FIRST : 65_000)) continue;
    if (handedOut.has(offset) || !reserve(offset)) continue;
    const checks = await Promise.all(basePorts.map((p) => portFree(p + offset)));
    if (checks.every(Boolean)) {
      handedOut.add(offset);
      return offset;
    }
    release(offset);
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

/**
 * Offsets are also reserved across the test processes (vitest runs files in parallel forks), one
 * file per offset holding the owner's pid, until the owner exits. Without it, a test that kills
 * `pas up` and starts it again on the same ports left them free in between, and another file's
 * tree (or its `portFree` probe) could take one: the restart then failed with PAS_ERR_PORT_IN_USE.
 * A reservation whose owner is gone is taken over: that is the usual end of one, as vitest ends
 * its forks without running their exit hooks (the hook below serves plain node processes).
 */
function reservationsDir(): string {
  return process.env.PAS_TEST_PORT_OFFSETS_DIR ?? path.join(os.tmpdir(), 'pas-test-port-offsets');
}

function reserve(offset: number): boolean {
  mkdirSync(reservationsDir(), { recursive: true });
  const file = path.join(reservationsDir(), String(offset));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      reserved.add(offset);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (ownerAlive(file)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

function ownerAlive(file: string): boolean {
  let owner: number;
  try {
    owner = Number(readFileSync(file, 'utf8'));
    // Written with one write after an exclusive create: empty for that instant (taken), or for
    // good if its owner was killed in between.
    if (!Number.isInteger(owner) || owner <= 0) return Date.now() - statSync(file).mtimeMs < 10_000;
  } catch {
    return false;
  }
  try {
    process.kill(owner, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function release(offset: number): void {
  if (!reserved.delete(offset)) return;
  rmSync(path.join(reservationsDir(), String(offset)), { force: true });
}

const reserved = new Set<number>();
process.on('exit', () => {
  for (const offset of [...reserved]) release(offset);
});
