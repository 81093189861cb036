/**
 * What changed in a reused checkout while a task held it, known without walking its tree: every
 * folder of the checkout's base tree is watched with inotify (Node's non-recursive `fs.watch`;
 * libuv keeps one inotify descriptor per loop and hands events over without a debounce), and every
 * event names a changed path: `<folder>/<name>`. Only the base's folders need a watch: a new folder
 * is itself a changed path (its content goes with it), a base folder removed, renamed or recreated
 * is a changed path of its parent (its watches are made again after the restore, see `rewatch`:
 * a watch follows the inode, whose events would be named after the old place). The checkout's
 * `.git` folder is watched too, for the flush cookie and to know whether git ran there.
 *
 * What is not known exactly answers null (the caller does the full reset, then tracks again):
 * - a watch that could not be made (ENOSPC at fs.inotify.max_user_watches, EMFILE): that checkout
 *   only, said once in the log with the limit named;
 * - events possibly dropped: the kernel queue holds fs.inotify.max_queued_events, and libuv drops
 *   the IN_Q_OVERFLOW event silently (deps/uv/src/unix/linux.c, uv__inotify_read: its wd is -1,
 *   find_watcher finds no watcher, `continue`). libuv reads the descriptor until EAGAIN and calls
 *   back for every event within one poll phase, so an overflow means one such burst of at least the
 *   queue's size: a burst of half of it makes every tracked checkout unknown;
 * - the checkout folder or its `.git` replaced, a name that is not UTF-8, a watcher error.
 *
 * `changedPaths` first touches a cookie file in `.git` and waits for its event: inotify keeps one
 * queue in order, so every event of a write made before the call has been heard by then.
 */
import { lstatSync, readFileSync, utimesSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { outermost } from './outermost-paths.ts';

const COOKIE = 'pas-flush-';
/** A cookie that has not come back by then means the watch is gone: unknown. */
const FLUSH_TIMEOUT_MS = 5_000;

function queueLimit(): number {
  try {
    const n = Number.parseInt(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'), 10);
    return Number.isInteger(n) && n > 0 ? n : 16_384;
  } catch {
    return 16_384;
  }
}

/** Events in one burst from which some may have been dropped (a fraction of the kernel's queue). */
let burstLimit = Math.floor(queueLimit() / 2);
let burst = 0;
let burstOpen = false;

/** Tests: the burst size from which events count as possibly dropped (null: back to half the kernel's queue). */
export function setBurstLimit(n: number | null): void {
  burstLimit = n ?? Math.floor(queueLimit() / 2);
}

type WatchFactory = (file: string, listener: (event: string, name: Buffer | null) => void) => FSWatcher;
/** Unref'd watches (they never keep the process alive), names as bytes (a name that is not UTF-8 is seen as such). */
const fsWatch: WatchFactory = (file, listener) => watch(file, { persistent: false, encoding: 'buffer' }, listener);
let watchFactory = fsWatch;

/** Tests: makes watches through `factory` (to make one fail); null restores fs.watch. */
export function setWatchFactory(factory: WatchFactory | null): void {
  watchFactory = factory ?? fsWatch;
}

let warnWatchFailure: (message: string) => void = (message) => process.emitWarning(message, { code: 'PAS_CHECKOUT_WATCH' });
let warned = false;

/** Where the one warning about a watch that could not be made goes (the runtime's log). */
export function onWatchFailure(sink: (message: string) => void): void {
  warnWatchFailure = sink;
}

class Tracker {
  readonly watches = new Map<string, FSWatcher>();
  changed = new Set<string>();
  /** Why nothing is known, or null. */
  unknown: string | null = null;
  /** Something other than the cookie changed in `.git` (git ran: index, HEAD, locks). */
  gitTouched = false;
  /** By cookie file name: what waits for its next event, oldest first. */
  private readonly cookies = new Map<string, Array<() => void>>();
  private readonly cookieNames: readonly [string, string];
  private cookieCount = 0;
  private readonly rootIno: bigint;

  constructor(
    readonly dir: string,
    /** The commit the checkout was last made exactly. */
    public base: string,
  ) {
    this.rootIno = lstatSync(dir, { bigint: true }).ino;
    // Made before `.git` is watched (no event of their making is ever heard), then only touched:
    // a time set on a file is an IN_ATTRIB event, far cheaper than creating and removing one.
    this.cookieNames = [`${COOKIE}${process.pid}-a`, `${COOKIE}${process.pid}-b`];
    for (const name of this.cookieNames) {
      writeFileSync(path.join(dir, '.git', name), '');
      this.cookies.set(name, []);
    }
  }

  watchFolder(rel: string): void {
    if (this.unknown || this.watches.has(rel)) return;
    const abs = rel === '' ? this.dir : path.join(this.dir, rel);
    try {
      const watcher = watchFactory(abs, (event, name) => this.heard(rel, event, name));
      watcher.on('error', () => this.lose(`the watch of ${rel || '.'} failed`));
      this.watches.set(rel, watcher);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A folder gone already is a change of its parent, heard there.
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      const limit = code === 'ENOSPC' ? ' (the limit fs.inotify.max_user_watches, /proc/sys/fs/inotify/max_user_watches, is reached)' : code === 'EMFILE' ? ' (too many open files, or fs.inotify.max_user_instances)' : '';
      this.lose(`could not watch ${abs}: ${(err as Error).message}${limit}`);
      if (!warned) {
        warned = true;
        warnWatchFailure(`reused checkouts fall back to a full reset: could not watch ${abs}: ${code ?? (err as Error).message}${limit}`);
      }
    }
  }

  unwatchUnder(rel: string): void {
    for (const [key, watcher] of this.watches) {
      if (key === rel || key.startsWith(`${rel}/`)) {
        watcher.close();
        this.watches.delete(key);
      }
    }
  }

  private heard(rel: string, event: string, name: Buffer | null): void {
    if (++burst >= burstLimit) loseAll(`${burst} events in one burst: some may have been dropped (fs.inotify.max_queued_events)`);
    if (!burstOpen) {
      burstOpen = true;
      setImmediate(endBurst);
    }
    if (this.unknown) return;
    if (!name) return this.lose(`an event without a name in ${rel || '.'}`);
    const text = name.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(name)) return this.lose(`a name that is not UTF-8 in ${rel || '.'}`);
    if (rel === '.git') {
      // A cookie's event answers the oldest wait on it (a cookie is only touched: 'change').
      if (event === 'change') this.cookies.get(text)?.shift()?.();
      if (!text.startsWith(COOKIE)) this.gitTouched = true;
      return;
    }
    if (rel === '' && text === '.git') return this.lose('.git itself changed');
    this.changed.add(rel === '' ? text : `${rel}/${text}`);
  }

  lose(why: string): void {
    this.unknown ??= why;
    for (const waiting of this.cookies.values()) for (const resolve of waiting.splice(0)) resolve();
  }

  /** Resolves once every event queued before the call has been heard. */
  async flush(): Promise<void> {
    await this.cookie(() => undefined);
  }

  /**
   * Touches a cookie now (synchronously: every event of a write made before the call is queued
   * ahead of it) and resolves once its event is heard; `onHeard` runs at that very event, before
   * any later one is heard (or not at all when the tracker is lost meanwhile). The two cookie files
   * take turns: inotify merges an event into the last one queued when they are the same, never
   * two events apart.
   */
  cookie(onHeard: () => void): Promise<void> {
    if (this.unknown) return Promise.resolve();
    const turn = this.cookieCount++;
    const name = this.cookieNames[turn % 2]!;
    let timer: NodeJS.Timeout | undefined;
    const heard = new Promise<void>((resolve) => {
      this.cookies.get(name)!.push(() => {
        if (!this.unknown) onHeard();
        resolve();
      });
      timer = setTimeout(() => this.lose('the flush cookie never came back'), FLUSH_TIMEOUT_MS);
    });
    try {
      // Synchronous: a few microseconds, less than a round trip through libuv's thread pool.
      utimesSync(path.join(this.dir, '.git', name), turn, turn);
    } catch (err) {
      this.lose(`could not touch the flush cookie: ${(err as Error).message}`);
    }
    return heard.then(() => {
      clearTimeout(timer);
      try {
        if (lstatSync(this.dir, { bigint: true }).ino !== this.rootIno) this.lose('the checkout folder was replaced');
      } catch {
        this.lose('the checkout folder is gone');
      }
    });
  }

  close(): void {
    this.lose('closed');
    for (const watcher of this.watches.values()) watcher.close();
    this.watches.clear();
  }
}

function endBurst(): void {
  burst = 0;
  burstOpen = false;
}

const trackers = new Map<string, Tracker>();

function loseAll(why: string): void {
  for (const tracker of trackers.values()) tracker.lose(why);
}

/**
 * Starts tracking the checkout `dir`, which is exactly the commit `base` now, whose folders
 * (posix, relative) are `folders`. Whatever was tracked of it before is dropped.
 */
export function trackCheckout(dir: string, base: string, folders: Iterable<string>): void {
  forgetChanges(dir);
  let tracker: Tracker;
  try {
    tracker = new Tracker(dir, base);
  } catch {
    return;
  }
  trackers.set(dir, tracker);
  tracker.watchFolder('.git');
  tracker.watchFolder('');
  for (const rel of folders) tracker.watchFolder(rel);
}

/**
 * The outermost changed paths (posix, relative) of `dir` since it was last exactly its base,
 * every event queued before the call included; null when that is not known.
 */
export async function changedPaths(dir: string): Promise<string[] | null> {
  const tracker = trackers.get(dir);
  if (!tracker) return null;
  await tracker.flush();
  return tracker.unknown ? null : outermost([...tracker.changed]);
}

/** The commit a tracked checkout was last made exactly (null: untracked or unknown). */
export function trackedBase(dir: string): string | null {
  const tracker = trackers.get(dir);
  return !tracker || tracker.unknown ? null : tracker.base;
}

/** Whether git (or anything) wrote in the checkout's `.git` since it was last exactly its base (null: not known). */
export function gitTouched(dir: string): boolean | null {
  const tracker = trackers.get(dir);
  return !tracker || tracker.unknown ? null : tracker.gitTouched;
}

/**
 * After the caller made the disk equal to the commit `base` at `paths`: their watches are made
 * again (`folders`: the base's folders at or under them) and the tracker starts clean at `base`
 * from a cookie written now. The restore's own events, all queued before that cookie, are told
 * apart from the next task's (queued after it) when the cookie is heard, and the restore waits for
 * it: whatever changed outside `paths` meanwhile, or `stillWritten` answering false then (a process
 * of the last task wrote where the restore wrote), makes the checkout unknown before the next task
 * starts (the caller then does the full reset). Answers false when the checkout is unknown.
 */
export async function rewatch(dir: string, base: string, paths: readonly string[], folders: Iterable<string>, stillWritten: () => boolean = () => true): Promise<boolean> {
  const tracker = trackers.get(dir);
  if (!tracker || tracker.unknown) return false;
  for (const rel of paths) tracker.unwatchUnder(rel);
  for (const folder of folders) tracker.watchFolder(folder);
  tracker.base = base;
  const settle = () => {
    const foreign = [...tracker.changed].some((p) => !paths.some((rel) => p === rel || p.startsWith(`${rel}/`)));
    tracker.changed = new Set();
    tracker.gitTouched = false;
    if (foreign) tracker.lose('something else wrote in the checkout while it was restored');
    else if (!stillWritten()) tracker.lose('something else wrote where the restore wrote');
  };
  // Nothing written in the tree: no event of the restore's own to wait for (git's, in `.git`, at most mark it touched).
  if (paths.length === 0) settle();
  else await tracker.cookie(settle);
  return !tracker.unknown;
}

/** Stops tracking a checkout (it is reset or remade: tracked again afterwards). */
export function forgetChanges(dir: string): void {
  trackers.get(dir)?.close();
  trackers.delete(dir);
}

/** Closes every watch (the runtime stops; tests). */
export function closeCheckoutWatches(): void {
  for (const tracker of trackers.values()) tracker.close();
  trackers.clear();
}
