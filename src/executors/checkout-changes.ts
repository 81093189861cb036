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
 * Every watch is taken from the process's budget (checkout-watch-budget.ts): a checkout whose
 * folders do not all fit is not watched at all, and a lost checkout's watches are given back at once.
 *
 * What is not known exactly answers null (the caller does the full reset, then tracks again):
 * - a checkout that does not fit in the watch budget: said once in the log (PAS_CHECKOUT_WATCH_BUDGET);
 * - a watch that could not be made (ENOSPC at fs.inotify.max_user_watches, EMFILE): that checkout
 *   only, said once in the log with the limit named (PAS_CHECKOUT_WATCH);
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
import { giveBackWatches, setWatchBudget, takeWatch, watchBudget, watchesFit, watchesInUse } from './checkout-watch-budget.ts';
import { outermost } from './outermost-paths.ts';

const COOKIE = 'pas-flush-';
/** A cookie that has not come back by then means the watch is gone: unknown. */
const FLUSH_TIMEOUT_MS = 5_000;
let flushTimeoutMs = FLUSH_TIMEOUT_MS;
let afterTimerSet: (() => void) | null = null;

/** Tests: the flush timeout (null: back to 5 s), and what runs once its timer is set. */
export function setFlushTimeout(ms: number | null, afterTimer: (() => void) | null = null): void {
  flushTimeoutMs = ms ?? FLUSH_TIMEOUT_MS;
  afterTimerSet = afterTimer;
}

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

/** The codes of the warnings about checkouts that cannot be watched: a watch the kernel refused, the budget spent. */
export type WatchWarningCode = 'PAS_CHECKOUT_WATCH' | 'PAS_CHECKOUT_WATCH_BUDGET';

let warnWatchFailure: (message: string, code: WatchWarningCode) => void = (message, code) => process.emitWarning(message, { code });
/** The codes already said (each once, until the watches are all closed: the runtime stops). */
const warned = new Set<WatchWarningCode>();

/**
 * The runtime's settings: the watch budget (`programmer_pool.yaml` `checkouts.max_watches`;
 * undefined: the default share) and where the one warning of each code about checkouts that
 * cannot be watched goes (the runtime's log).
 */
export function configureCheckoutWatches(maxWatches: number | undefined, sink: (message: string, code: WatchWarningCode) => void): void {
  setWatchBudget(maxWatches ?? null);
  onWatchFailure(sink);
}

/** Where the one warning of each code about checkouts that cannot be watched goes. */
export function onWatchFailure(sink: (message: string, code: WatchWarningCode) => void): void {
  warnWatchFailure = sink;
}

function warnOnce(code: WatchWarningCode, message: string): void {
  if (warned.has(code)) return;
  warned.add(code);
  warnWatchFailure(message, code);
}

function budgetSpent(dir: string, need: number): string {
  return `reused checkouts fall back to a full reset: ${dir} needs ${need} inotify watches and ${watchesInUse()} of the ${watchBudget()} PAS may hold are taken (programmer_pool.yaml checkouts.max_watches; by default a quarter of /proc/sys/fs/inotify/max_user_watches)`;
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
    if (!takeWatch()) {
      warnOnce('PAS_CHECKOUT_WATCH_BUDGET', budgetSpent(this.dir, this.watches.size + 1));
      return this.lose(`the budget of ${watchBudget()} inotify watches is spent`);
    }
    try {
      const watcher = watchFactory(abs, (event, name) => this.heard(rel, event, name));
      watcher.on('error', () => this.lose(`the watch of ${rel || '.'} failed`));
      this.watches.set(rel, watcher);
    } catch (err) {
      giveBackWatches(1);
      const code = (err as NodeJS.ErrnoException).code;
      // A folder gone already is a change of its parent, heard there.
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      const limit = code === 'ENOSPC' ? ' (the limit fs.inotify.max_user_watches, /proc/sys/fs/inotify/max_user_watches, is reached)' : code === 'EMFILE' ? ' (too many open files, or fs.inotify.max_user_instances)' : '';
      this.lose(`could not watch ${abs}: ${(err as Error).message}${limit}`);
      warnOnce('PAS_CHECKOUT_WATCH', `reused checkouts fall back to a full reset: could not watch ${abs}: ${code ?? (err as Error).message}${limit}`);
    }
  }

  unwatchUnder(rel: string): void {
    for (const [key, watcher] of this.watches) {
      if (key === rel || key.startsWith(`${rel}/`)) {
        watcher.close();
        this.watches.delete(key);
        giveBackWatches(1);
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

  /** Nothing is known any more (until the checkout is reset and tracked anew): its watches are given back now. */
  lose(why: string): void {
    this.unknown ??= why;
    for (const waiting of this.cookies.values()) for (const resolve of waiting.splice(0)) resolve();
    for (const watcher of this.watches.values()) watcher.close();
    giveBackWatches(this.watches.size);
    this.watches.clear();
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
    let settled = false;
    const heard = new Promise<void>((resolve) => {
      this.cookies.get(name)!.push(() => {
        settled = true;
        if (!this.unknown) onHeard();
        resolve();
      });
    });
    try {
      // Synchronous: a few microseconds, less than a round trip through libuv's thread pool.
      utimesSync(path.join(this.dir, '.git', name), turn, turn);
      // Counted from the touch. The timers phase comes before the poll that would deliver the
      // cookie: once more after that poll before the watch counts as gone.
      timer = setTimeout(() => setImmediate(() => settled || this.lose('the flush cookie never came back')), flushTimeoutMs);
      afterTimerSet?.();
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
  const all = [...folders];
  // Its folders, the root and `.git`: a checkout that does not fit whole is not watched at all.
  if (!watchesFit(all.length + 2)) return warnOnce('PAS_CHECKOUT_WATCH_BUDGET', budgetSpent(dir, all.length + 2));
  let tracker: Tracker;
  try {
    tracker = new Tracker(dir, base);
  } catch {
    return;
  }
  trackers.set(dir, tracker);
  tracker.watchFolder('.git');
  tracker.watchFolder('');
  for (const rel of all) tracker.watchFolder(rel);
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

/** Closes every watch, given back to the budget (the runtime stops; tests); the next runtime's log hears the warnings again. */
export function closeCheckoutWatches(): void {
  for (const tracker of trackers.values()) tracker.close();
  trackers.clear();
  warned.clear();
}
