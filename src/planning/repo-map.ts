/**
 * A compact map of a repository at one commit for a Manager's plan prompt, in the spirit of
 * aider's repo map: every file with its top-level definitions, ranked by how much the rest of
 * the repository refers to it (PageRank over "uses a name defined in"), personalised towards the
 * files and names the job mentions, and cut to a token budget. Files are read from the commit's
 * objects (one `git ls-tree`, one `git cat-file --batch`), never from a checkout; what a blob
 * says is cached by its object id, so the next job on the same repository parses only what changed.
 */
import { PasError } from '../errors.ts';
import { gitEnv } from '../executors/git-command.ts';
import { isFullObjectId } from '../executors/object-id.ts';
import { spawnChild, spawnFailure } from '../executors/spawn-child.ts';
import { extensionOf, identifiersOf, symbolsOf, type FileSymbols } from './symbols.ts';

export interface RepoMapOptions {
  /** About how many tokens the rendered map may take (4 characters a token). */
  tokenBudget?: number;
  /** Files the job names: ranked first. */
  focusFiles?: readonly string[];
  /** The job's text: files and names it mentions are ranked up. */
  task?: string;
}

export interface RepoMap {
  commit: string;
  /** Every path at the commit (blobs, not symlinks or submodules). */
  files: string[];
  /** Paths in rank order. */
  ranked: string[];
  /** The rendered map, within the budget. */
  text: string;
  /** Edge weights between files: `from` uses names `to` defines. */
  edges: Map<string, Map<string, number>>;
}

interface TreeEntry {
  mode: string;
  oid: string;
  size: number;
  path: string;
}

export const DEFAULT_REPO_MAP_TOKENS = 1024;
const CHARS_PER_TOKEN = 4;
/** Files larger than this are listed but not parsed. */
const MAX_PARSED_BYTES = 96 * 1024;
const MAX_PARSED_FILES = 20_000;
const DAMPING = 0.85;
const ITERATIONS = 25;

// ── reading the commit ──────────────────────────────────────────────────────

async function gitOut(repo: string, args: string[], input?: string): Promise<Buffer> {
  const result = await spawnChild({
    file: 'git',
    args: ['-c', 'core.quotepath=off', ...args],
    cwd: repo,
    env: gitEnv(),
    maxBufferBytes: 512 * 1024 * 1024,
    ...(input !== undefined ? { input } : {}),
  }).done;
  // No file descriptors or memory left to start git: coded and retryable, never an unhandled error.
  if (result.spawnError) throw spawnFailure('git', result.spawnError, { args, cwd: repo });
  if (result.exitCode !== 0) {
    throw new PasError('PAS_ERR_GIT', `git ${args[0]} failed (exit ${result.exitCode ?? -1}): ${result.stderr.trim()}`, { details: { args, cwd: repo } });
  }
  return result.stdoutBytes;
}

async function listTree(repo: string, commit: string): Promise<TreeEntry[]> {
  const out = (await gitOut(repo, ['ls-tree', '-r', '-z', '--long', commit])).toString('utf8');
  const entries: TreeEntry[] = [];
  for (const record of out.split('\0')) {
    const tab = record.indexOf('\t');
    if (tab < 0) continue;
    const [mode, type, oid, size] = record.slice(0, tab).split(/\s+/);
    // Symlinks (120000) and submodules (commit) are not files a programmer edits.
    if (type !== 'blob' || mode === '120000' || !oid) continue;
    entries.push({ mode: mode!, oid, size: Number(size), path: record.slice(tab + 1) });
  }
  return entries;
}

/** Contents of many blobs through one `git cat-file --batch`. */
async function readBlobs(repo: string, oids: readonly string[]): Promise<Map<string, Buffer>> {
  const blobs = new Map<string, Buffer>();
  if (oids.length === 0) return blobs;
  const out = await gitOut(repo, ['cat-file', '--batch'], `${oids.join('\n')}\n`);
  let at = 0;
  while (at < out.length) {
    const newline = out.indexOf(10, at);
    if (newline < 0) break;
    const header = out.subarray(at, newline).toString('utf8').split(' ');
    at = newline + 1;
    if (header[1] === 'missing' || header.length < 3) continue;
    const size = Number(header[2]);
    blobs.set(header[0]!, out.subarray(at, at + size));
    at += size + 1;
  }
  return blobs;
}

// ── what each blob says, cached by object id ────────────────────────────────

const CACHE_LIMIT = 50_000;
const symbolCache = new Map<string, FileSymbols>();

function remember(key: string, symbols: FileSymbols): void {
  if (symbolCache.size >= CACHE_LIMIT) symbolCache.delete(symbolCache.keys().next().value!);
  symbolCache.set(key, symbols);
}

const EMPTY: FileSymbols = { defs: [], lines: [], refs: new Set() };

async function symbolsAt(repo: string, entries: readonly TreeEntry[]): Promise<Map<string, FileSymbols>> {
  const byPath = new Map<string, FileSymbols>();
  const wanted: TreeEntry[] = [];
  for (const entry of entries.slice(0, MAX_PARSED_FILES)) {
    const cached = symbolCache.get(`${entry.oid}${extensionOf(entry.path)}`);
    if (cached) byPath.set(entry.path, cached);
    else if (entry.size <= MAX_PARSED_BYTES) wanted.push(entry);
  }
  const blobs = await readBlobs(repo, [...new Set(wanted.map((e) => e.oid))]);
  for (const entry of wanted) {
    const blob = blobs.get(entry.oid);
    // Binary files (a NUL near the start) have nothing to map.
    const text = blob && !blob.subarray(0, 8000).includes(0) ? blob.toString('utf8') : '';
    const symbols = text ? symbolsOf(entry.path, text) : EMPTY;
    remember(`${entry.oid}${extensionOf(entry.path)}`, symbols);
    byPath.set(entry.path, symbols);
  }
  return byPath;
}

// ── ranking ─────────────────────────────────────────────────────────────────

function referenceGraph(symbols: Map<string, FileSymbols>): Map<string, Map<string, number>> {
  const definers = new Map<string, string[]>();
  for (const [file, s] of symbols) {
    for (const name of s.defs) {
      const list = definers.get(name) ?? [];
      list.push(file);
      definers.set(name, list);
    }
  }
  const edges = new Map<string, Map<string, number>>();
  for (const [file, s] of symbols) {
    const out = new Map<string, number>();
    for (const ref of s.refs) {
      const targets = definers.get(ref);
      // A name defined in many files says little about which one is meant.
      if (!targets || targets.length > 5) continue;
      for (const target of targets) if (target !== file) out.set(target, (out.get(target) ?? 0) + 1 / targets.length);
    }
    if (out.size > 0) edges.set(file, out);
  }
  return edges;
}

function mentions(task: string, files: readonly string[], symbols: Map<string, FileSymbols>): Set<string> {
  const lower = task.toLowerCase();
  const words = identifiersOf(task);
  const hit = new Set<string>();
  for (const file of files) {
    const base = file.slice(file.lastIndexOf('/') + 1).toLowerCase();
    const stem = base.replace(/\.[^.]+$/, '');
    if (lower.includes(file.toLowerCase()) || lower.includes(base) || (stem.length > 3 && words.has(stem))) hit.add(file);
    else if (symbols.get(file)?.defs.some((d) => words.has(d))) hit.add(file);
  }
  return hit;
}

/** PageRank with a personalisation vector; dangling files give their rank back through it. */
function pageRank(files: readonly string[], edges: Map<string, Map<string, number>>, personal: Map<string, number>): Map<string, number> {
  const n = files.length;
  const index = new Map(files.map((f, i) => [f, i]));
  const p = new Float64Array(n);
  let totalPersonal = 0;
  files.forEach((f, i) => {
    p[i] = personal.get(f) ?? 0;
    totalPersonal += p[i]!;
  });
  for (let i = 0; i < n; i++) p[i]! /= totalPersonal;
  // Edges as flat arrays (from, to, share of the source's weight) for the inner loop.
  const from: number[] = [];
  const to: number[] = [];
  const share: number[] = [];
  const hasOut = new Uint8Array(n);
  for (const [file, out] of edges) {
    const i = index.get(file)!;
    let total = 0;
    for (const w of out.values()) total += w;
    for (const [target, w] of out) {
      from.push(i);
      to.push(index.get(target)!);
      share.push(w / total);
    }
    hasOut[i] = 1;
  }
  let rank = new Float64Array(n).fill(1 / n);
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const next = new Float64Array(n);
    let dangling = 0;
    for (let i = 0; i < n; i++) if (!hasOut[i]) dangling += rank[i]!;
    for (let e = 0; e < from.length; e++) next[to[e]!]! += DAMPING * rank[from[e]!]! * share[e]!;
    const teleport = 1 - DAMPING + DAMPING * dangling;
    for (let i = 0; i < n; i++) next[i]! += teleport * p[i]!;
    rank = next;
  }
  return new Map(files.map((f, i) => [f, rank[i]!]));
}

// ── rendering ───────────────────────────────────────────────────────────────

function render(commit: string, total: number, ranked: readonly string[], symbols: Map<string, FileSymbols>, budgetChars: number): string {
  const header = `Repository map at ${commit.slice(0, 12)} (${total} files; most relevant first):`;
  const parts: string[] = [header];
  let used = header.length + 1;
  let shown = 0;
  for (const file of ranked) {
    const lines = symbols.get(file)?.lines ?? [];
    const block = [file + (lines.length > 0 ? ':' : ''), ...lines.map((l) => `  ${l}`)].join('\n');
    if (used + block.length + 1 <= budgetChars) {
      parts.push(block);
      used += block.length + 1;
      shown++;
    } else if (used + file.length + 1 <= budgetChars) {
      parts.push(file);
      used += file.length + 1;
      shown++;
    } else break;
  }
  if (shown < ranked.length) parts.push(`… and ${ranked.length - shown} more files`);
  return parts.join('\n');
}

interface CommitGraph {
  files: string[];
  symbols: Map<string, FileSymbols>;
  edges: Map<string, Map<string, number>>;
}

/** The parsed files and reference graph of the last few commits mapped (jobs often share a base). */
const graphs = new Map<string, Promise<CommitGraph>>();
const GRAPH_CACHE = 8;

function commitGraph(repo: string, commit: string): Promise<CommitGraph> {
  const key = `${repo}\0${commit}`;
  let graph = graphs.get(key);
  if (!graph) {
    graph = (async () => {
      const entries = await listTree(repo, commit);
      const symbols = await symbolsAt(repo, entries);
      return { files: entries.map((e) => e.path), symbols, edges: referenceGraph(symbols) };
    })();
    graph.catch(() => graphs.delete(key));
    if (graphs.size >= GRAPH_CACHE) graphs.delete(graphs.keys().next().value!);
    graphs.set(key, graph);
  }
  return graph;
}

/** The map of `repo` at `commit` (a full object id, so the cache never confuses two commits). */
export async function buildRepoMap(repo: string, commitish: string, options: RepoMapOptions = {}): Promise<RepoMap> {
  const commit = isFullObjectId(commitish) ? commitish : (await gitOut(repo, ['rev-parse', '--verify', '--end-of-options', `${commitish}^{commit}`])).toString('utf8').trim();
  const { files, symbols, edges } = await commitGraph(repo, commit);
  const focus = new Set((options.focusFiles ?? []).filter((f) => files.includes(f)));
  const mentioned = options.task ? mentions(options.task, files, symbols) : new Set<string>();
  const personal = new Map(files.map((f) => [f, focus.has(f) ? 100 : mentioned.has(f) ? 20 : 1]));
  const rank = files.length > 0 ? pageRank(files, edges, personal) : new Map<string, number>();
  const score = (f: string) => (focus.has(f) ? 2 : 0) + (mentioned.has(f) ? 1 : 0) + rank.get(f)!;
  const ranked = [...files].sort((a, b) => score(b) - score(a) || a.localeCompare(b));
  const budgetChars = (options.tokenBudget ?? DEFAULT_REPO_MAP_TOKENS) * CHARS_PER_TOKEN;
  return { commit, files, ranked, text: render(commit, files.length, ranked, symbols, budgetChars), edges };
}

/**
 * Files most tied to `files` by the reference graph (either direction), best first, for read-only
 * context: what the subtask's files use, and what uses them.
 */
export function neighbours(map: RepoMap, files: readonly string[], limit = 3): string[] {
  const own = new Set(files);
  const weight = new Map<string, number>();
  const add = (file: string, w: number) => {
    if (!own.has(file)) weight.set(file, (weight.get(file) ?? 0) + w);
  };
  for (const file of files) for (const [to, w] of map.edges.get(file) ?? []) add(to, w);
  for (const [from, out] of map.edges) {
    for (const file of files) {
      const w = out.get(file);
      if (w) add(from, w / 2);
    }
  }
  return [...weight].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, limit).map(([f]) => f);
}
