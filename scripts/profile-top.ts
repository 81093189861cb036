/**
 * The functions a V8 CPU profile (.cpuprofile: `--cpu-prof`, or PAS_BENCH_CPU_PROFILE's) spent
 * its samples in: self time (the function itself) and total time (with what it called), the top
 * of each, with the profile's idle and GC share. Files are named relative to this repository.
 *
 * `npx tsx scripts/profile-top.ts FILE [--top 40] [--match src/distribution] [--from MS] [--to MS] [--buckets MS]`
 *
 * --from/--to keep the samples between those ms after the profile's start (a whole-life profile
 * of a worker, cut to its measured batch); --buckets prints the busy ms of each slice of that many
 * ms first, to find such a window. Sampling profiles of short functions are rough (the profiler's
 * own cost lands on them): compare shares within one profile, not across runs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain } from './bench-support.ts';

export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  /** µs from the previous sample (the first: from the profile's start). */
  timeDeltas: number[];
}

export interface ProfileTop {
  /** µs of the samples kept. */
  sampledUs: number;
  /** µs by function (`name file:line`) as the sampled leaf. */
  self: Map<string, number>;
  /** µs by function anywhere on the sampled stack (counted once per sample). */
  total: Map<string, number>;
  /** µs not idle by slice (slice index → µs), over the whole profile; empty without bucketMs. */
  busy: Map<number, number>;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A sample lasts until the next one; samples whose start is outside [fromMs, toMs] are left out. */
export function profileTop(profile: CpuProfile, options: { fromMs?: number; toMs?: number; bucketMs?: number; root?: string } = {}): ProfileTop {
  const { fromMs = 0, toMs = Infinity, bucketMs, root = ROOT } = options;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const labels = new Map<number, string>();
  const label = (id: number) => {
    let l = labels.get(id);
    if (l === undefined) {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      // Files of this repository relative to it; node's own (node:…) and others as they are.
      const file = url.startsWith('file:') ? path.relative(root, fileURLToPath(url)) : url;
      const where = file ? `${file}:${lineNumber + 1}` : '';
      l = `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
      labels.set(id, l);
    }
    return l;
  };
  const top: ProfileTop = { sampledUs: 0, self: new Map(), total: new Map(), busy: new Map() };
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // V8 may record a sample before the one it follows (a negative delta): it lasts no time.
    at += Math.max(0, profile.timeDeltas[i] ?? 0);
    const us = Math.max(0, profile.timeDeltas[i + 1] ?? 0);
    const leaf = profile.samples[i]!;
    if (bucketMs && byId.get(leaf)?.callFrame.functionName !== '(idle)') {
      const b = Math.floor(at / 1000 / bucketMs);
      top.busy.set(b, (top.busy.get(b) ?? 0) + us);
    }
    if (at / 1000 < fromMs || at / 1000 > toMs) continue;
    top.sampledUs += us;
    top.self.set(label(leaf), (top.self.get(label(leaf)) ?? 0) + us);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const l = label(id);
      if (seen.has(l)) continue;
      seen.add(l);
      top.total.set(l, (top.total.get(l) ?? 0) + us);
    }
  }
  return top;
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const file = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  if (!file) {
    console.error('usage: profile-top.ts FILE [--top N] [--match TEXT] [--from MS] [--to MS] [--buckets MS]');
    process.exit(2);
  }
  const number = (name: string, fallback: number) => {
    const given = flag(name);
    const value = given === undefined ? fallback : Number(given);
    if (!Number.isFinite(value) && value !== Infinity) {
      console.error(`profile-top.ts: ${name} expects a number of ms, got ${JSON.stringify(given)}`);
      process.exit(2);
    }
    return value;
  };
  const count = number('--top', 40);
  const match = flag('--match');
  const bucketMs = flag('--buckets') === undefined ? undefined : number('--buckets', 0);
  const top = profileTop(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, { fromMs: number('--from', 0), toMs: number('--to', Infinity), ...(bucketMs ? { bucketMs } : {}) });
  const lines: string[] = [];
  if (bucketMs) {
    lines.push(`busy ms per ${bucketMs} ms (from the profile's start):`);
    for (const [b, us] of [...top.busy].sort((x, y) => x[0] - y[0])) lines.push(`${String(b * bucketMs).padStart(8)} ${(us / 1000).toFixed(1).padStart(7)}`);
  }
  const ms = (us: number) => (us / 1000).toFixed(1).padStart(8);
  const share = (us: number) => `${((100 * us) / (top.sampledUs || 1)).toFixed(1).padStart(5)} %`;
  lines.push(`${file}: ${(top.sampledUs / 1000).toFixed(0)} ms sampled; idle ${ms(top.self.get('(idle)') ?? 0)} ms, GC ${ms(top.self.get('(garbage collector)') ?? 0)} ms, program ${ms(top.self.get('(program)') ?? 0)} ms`);
  for (const [title, m] of [['self', top.self], ['total (with callees)', top.total]] as const) {
    lines.push('', title);
    for (const [l, us] of [...m].filter(([l]) => !match || l.includes(match)).sort((a, b) => b[1] - a[1]).slice(0, count)) lines.push(`${ms(us)} ms ${share(us)}  ${l}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
