/**
 * Shared by the job tests: a scripted tree (real runtime, gateway, git and SQLite; the LLM is the
 * offline scripted provider), HTTP helpers, and the EXECUTING intervals of programmers taken from
 * the transition feed.
 */
import { createScriptedAdapter, type CassetteEntry, type ScriptedAdapter } from '../../../src/llm/providers/scripted-adapter.ts';
import { abortableSleep } from '../../../src/llm/sleep.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import type { TransitionRecord } from '../../../src/runtime/transition-record.ts';
import { afterEach } from 'vitest';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree, type TestTreeOptions } from '../../support/test-tree.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';

export interface ScriptedTree extends TestTree {
  scripted: ScriptedAdapter;
  /** Every transition since boot, in feed order. */
  records: TransitionRecord[];
}

export async function startScriptedTree(entries: CassetteEntry[], options: Omit<TestTreeOptions, 'services'> = {}, held?: HeldReplies): Promise<ScriptedTree> {
  const scripted = createScriptedAdapter(entries, { source: 'test cassette', ...(held ? { sleep: held.sleep } : {}) });
  const tree = await startTestTree({ ...options, services: createDefaultServices({ offline: true, scripted }) });
  const records: TransitionRecord[] = [];
  tree.runtime.onTransition((r) => records.push(r));
  return Object.assign(tree, { scripted, records });
}

/**
 * One scripted tree and one repository per test, closed after it: `start` boots the tree on
 * `entries` (on a temp copy of the configs changed by `configure`, when given) and makes the
 * repository of `files`.
 */
export function scriptedJobRig(): {
  start(entries: CassetteEntry[], files: Record<string, string>, configure?: (cfg: TempConfig) => void): Promise<{ tree: ScriptedTree; repo: TempRepo }>;
} {
  let tree: ScriptedTree | undefined;
  let repo: TempRepo | undefined;
  let cfg: TempConfig | undefined;
  afterEach(async () => {
    await tree?.close();
    await repo?.cleanup();
    cfg?.cleanup();
    tree = repo = cfg = undefined;
  });
  return {
    async start(entries, files, configure) {
      if (configure) {
        cfg = tempConfig();
        configure(cfg);
      }
      tree = await startScriptedTree(entries, cfg ? { configDir: cfg.dir } : {});
      repo = await createTempRepo(files);
      return { tree, repo };
    },
  };
}

/**
 * Cassette replies the test lets go: an entry whose `delay_ms` is at least HELD waits until the
 * test calls `release(thatDelay)` (no wall clock decides who finishes first); shorter delays sleep.
 */
export interface HeldReplies {
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  release: (ms: number) => void;
}
export const HELD = 1_000_000;

export function heldReplies(): HeldReplies {
  const gates = new Map<number, { promise: Promise<void>; resolve: () => void }>();
  const gate = (ms: number) => {
    let g = gates.get(ms);
    if (!g) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      g = { promise, resolve };
      gates.set(ms, g);
    }
    return g;
  };
  return {
    sleep: (ms, signal) => {
      if (ms < HELD) return abortableSleep(ms, signal);
      const aborted = new Promise<void>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
      aborted.catch(() => {});
      return Promise.race([gate(ms).promise, aborted]);
    },
    release: (ms) => gate(ms).resolve(),
  };
}

export async function postJson<T = JsonAnswer>(url: string, body: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

export async function getJson<T = JsonAnswer>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

const TERMINAL = ['completed', 'partial', 'failed', 'cancelled'];

/** Polls `GET {statusUrl}` until the job is terminal (the test's own timeout bounds it). */
export async function untilTerminal(statusUrl: string, everyMs = 100): Promise<JsonAnswer> {
  for (;;) {
    const { status, body } = await getJson(statusUrl);
    if (status === 200 && TERMINAL.includes(body.status)) return body;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls until `check` holds (the test's own timeout bounds it). */
export async function until(check: () => boolean | Promise<boolean>, everyMs = 25): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, everyMs));
}

export interface ExecutingInterval {
  programmerId: string;
  taskId?: string;
  jobId?: string;
  /** Feed sequence numbers of entering and leaving EXECUTING. */
  from: number;
  to: number;
}

/** Each stretch a programmer spent in EXECUTING, by feed sequence (an open one ends at +Infinity). */
export function executingIntervals(records: readonly TransitionRecord[]): ExecutingInterval[] {
  const open = new Map<string, ExecutingInterval>();
  const done: ExecutingInterval[] = [];
  for (const r of records) {
    if (r.role !== 'programmer') continue;
    if (r.to === 'EXECUTING') {
      const interval: ExecutingInterval = { programmerId: r.agentId, from: r.seq, to: Infinity };
      if (r.taskId) interval.taskId = r.taskId;
      if (r.jobId) interval.jobId = r.jobId;
      open.set(r.agentId, interval);
    } else if (r.from === 'EXECUTING') {
      const interval = open.get(r.agentId);
      if (interval) {
        interval.to = r.seq;
        done.push(interval);
        open.delete(r.agentId);
      }
    }
  }
  return [...done, ...open.values()];
}

/** The largest set of intervals that all overlap one moment, and that moment's programmers. */
export function largestOverlap(intervals: readonly ExecutingInterval[]): ExecutingInterval[] {
  let best: ExecutingInterval[] = [];
  for (const candidate of intervals) {
    // Intervals overlap iff some interval's start lies inside all of them.
    const at = candidate.from;
    const live = intervals.filter((i) => i.from <= at && at < i.to);
    if (live.length > best.length) best = live;
  }
  return best;
}
