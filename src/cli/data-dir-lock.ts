/**
 * One `pas up` (or `pas demo`) per data dir. Two central processes on one journal would each
 * resume the other's unfinished jobs at start-up and run them twice; the second start is refused
 * before anything is opened, naming the process that holds the dir.
 *
 * The hold is SQLite's exclusive lock on `<dataDir>/pas.lock` (an empty database file): an OS
 * record lock, so it ends with the process however it ends (kill -9 too) and is never stale.
 * `pas.lock.json` beside it says who holds it, for the refusal's message; it is only a label.
 * Never open `pas.lock` elsewhere in this process: closing any descriptor of a file drops the
 * process's record locks on it (POSIX).
 */
import { accessSync, constants, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PasError } from '../errors.ts';

export const LOCK_FILE = 'pas.lock';
export const LOCK_OWNER_FILE = 'pas.lock.json';

export interface DataDirOwner {
  pid: number;
  command: string;
  host: string;
  started_at: string;
}

export interface DataDirHold {
  readonly dir: string;
  /** Lets the dir go (idempotent); the process's exit does the same. */
  release(): void;
}

/**
 * The connections holding a data dir, kept from the garbage collector: better-sqlite3 closes a
 * connection it collects, and with it the lock, while the process (its runtime, its sockets) runs on.
 */
const holding = new Set<Database.Database>();

/** Holds `dir` for this process as `command` (`pas up`, `pas demo`), or throws PAS_ERR_DATA_DIR_IN_USE. */
export function holdDataDir(dir: string, command: string): DataDirHold {
  const lockPath = path.join(dir, LOCK_FILE);
  const ownerPath = path.join(dir, LOCK_OWNER_FILE);
  let db: Database.Database;
  try {
    // SQLite opens a file it cannot write read-only without a word, and its exclusive lock then holds nothing.
    if (existsSync(lockPath)) accessSync(lockPath, constants.R_OK | constants.W_OK);
    db = new Database(lockPath, { timeout: 0 });
  } catch (err) {
    throw new PasError('PAS_ERR_JOURNAL', `cannot open the data dir's lock ${lockPath} for writing: ${(err as Error).message}; give this user write access to it (or, if no pas up or pas demo uses ${dir}, delete it)`, { details: { data_dir: dir, path: lockPath }, cause: err });
  }
  try {
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    const code = (err as { code?: string }).code;
    if (code !== 'SQLITE_BUSY') {
      const hint = code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' ? `: ${lockPath} is not PAS's lock file; if no pas up or pas demo uses ${dir}, delete it and start again` : '';
      throw new PasError('PAS_ERR_JOURNAL', `cannot lock the data dir ${dir} (${lockPath}): ${(err as Error).message}${hint}`, { details: { data_dir: dir, path: lockPath }, cause: err });
    }
    const owner = readOwner(ownerPath);
    const who = owner ? `${owner.command} (pid ${owner.pid} on ${owner.host}, since ${owner.started_at})` : 'another PAS process';
    throw new PasError('PAS_ERR_DATA_DIR_IN_USE', `the data dir ${dir} is in use by ${who}: one process per data dir, or it would run that process's jobs a second time. Stop it, or give this one another --data-dir (and --port-offset)`, {
      details: { data_dir: dir, ...(owner ? { owner } : {}) },
    });
  }
  const owner: DataDirOwner = { pid: process.pid, command, host: os.hostname(), started_at: new Date().toISOString() };
  const temp = `${ownerPath}.${process.pid}`;
  try {
    writeFileSync(temp, `${JSON.stringify(owner)}\n`);
    renameSync(temp, ownerPath);
  } catch (err) {
    db.close();
    throw new PasError('PAS_ERR_JOURNAL', `cannot write ${ownerPath}, the label of the data dir's lock: ${(err as Error).message}`, { details: { data_dir: dir, path: ownerPath }, cause: err });
  }
  holding.add(db);
  let held = true;
  return {
    dir,
    release() {
      if (!held) return;
      held = false;
      // The label first: once the lock is gone a new holder may already be writing its own.
      try {
        if (readOwner(ownerPath)?.pid === process.pid) rmSync(ownerPath, { force: true });
      } finally {
        holding.delete(db);
        db.close();
      }
    },
  };
}

function readOwner(file: string): DataDirOwner | undefined {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<DataDirOwner>;
    if (typeof value.pid !== 'number' || typeof value.command !== 'string') return undefined;
    return { pid: value.pid, command: value.command, host: String(value.host ?? '?'), started_at: String(value.started_at ?? '?') };
  } catch {
    return undefined;
  }
}
