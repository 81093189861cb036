/**
 * Port offsets reserved across the test processes of a run (vitest runs files in parallel forks):
 * one file per offset, holding its owner's pid, kept until the owner exits. Without them, a test
 * that kills `pas up` and starts it again on the same ports left them free in between, and another
 * file's tree (or its free-port probe) could take one: the restart then failed with
 * PAS_ERR_PORT_IN_USE.
 *
 * A reservation whose owner is gone is taken over: that is the usual end of one, as vitest ends its
 * forks without running their exit hooks (the hook below serves plain node processes). Two
 * processes taking over the same dead reservation at once would both hold it, so a takeover holds a
 * lock file beside it (created exclusively; a process that finds the lock taken skips the offset).
 * The folder is per user (PAS_TEST_PORT_OFFSETS_DIR overrides it): another user's cannot be written.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Reservations this process holds: offset → its file (the folder as it was when reserved). */
const held = new Map<number, string>();

/** A file left by an owner killed between its exclusive create and its one write is this old. */
const STALE_MS = 10_000;

function reservationsDir(): string {
  return process.env.PAS_TEST_PORT_OFFSETS_DIR ?? path.join(os.tmpdir(), `pas-test-port-offsets-${os.userInfo().uid}`);
}

/** Reserves `offset` for this process; false when a live process holds it (or is taking it over). */
export function reservePortOffset(offset: number): boolean {
  const dir = reservationsDir();
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, String(offset));
  if (createOwned(file)) {
    held.set(offset, file);
    return true;
  }
  if (ownerAlive(file)) return false;
  const lock = `${file}.takeover`;
  if (!createOwned(lock)) {
    // Another process is taking it over (or died doing so: its lock goes once stale).
    if (ageMs(lock) > STALE_MS) rmSync(lock, { force: true });
    return false;
  }
  try {
    // Looked at again under the lock: another process may have taken it over meanwhile.
    if (ownerAlive(file)) return false;
    rmSync(file, { force: true });
    if (!createOwned(file)) return false;
    held.set(offset, file);
    return true;
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Gives `offset` back (a no-op unless this process holds it). */
export function releasePortOffset(offset: number): void {
  const file = held.get(offset);
  if (file === undefined) return;
  held.delete(offset);
  rmSync(file, { force: true });
}

/** Creates `file` holding this pid, only if it does not exist. */
function createOwned(file: string): boolean {
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function ownerAlive(file: string): boolean {
  let owner: number;
  try {
    owner = Number(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
  // Written with one write after an exclusive create: empty for that instant (taken), or for good
  // when its owner was killed in between.
  if (!Number.isInteger(owner) || owner <= 0) return ageMs(file) < STALE_MS;
  try {
    process.kill(owner, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

process.on('exit', () => {
  for (const offset of [...held.keys()]) releasePortOffset(offset);
});
