/**
 * Joins the timeline files of a distributed run (PAS_DIST_TIMELINE=DIR, src/distribution/timeline.ts:
 * one file per process) into per-task segments: for each run (task ids `bench-…-rN-…`) and round,
 * the median / p90 / max of every segment from the central dispatch to the ack of the result, and
 * the gap from a programmer's first result applied to its next task's dispatch.
 *
 * `npx tsx scripts/dist-timeline.ts DIR`
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const STEPS = ['c.dispatch', 'c.recorded', 'c.published', 'w.received', 'w.current', 'w.base', 'w.llm0', 'w.llm1', 'w.exec', 'w.done', 'w.bundled', 'w.encoded', 'w.stored', 'c.result', 'c.checked', 'c.written', 'c.imported', 'c.applied', 'c.finished', 'c.acked'] as const;

const dir = process.argv[2];
if (!dir) throw new Error('usage: dist-timeline.ts DIR');
const tasks = new Map<string, { at: Record<string, number>; programmer?: string }>();
for (const f of readdirSync(dir)) {
  for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
    const [event, id, at, extra] = line.split(' ');
    if (!event || !id || !at) continue;
    const t = tasks.get(id) ?? { at: {} };
    // The first mark of an event counts (a redelivery marks again).
    t.at[event] ??= Number(at);
    if (event === 'c.dispatch' && extra) t.programmer = extra;
    tasks.set(id, t);
  }
}
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};
const runs = new Map<string, Array<[string, { at: Record<string, number>; programmer?: string }]>>();
for (const [id, t] of tasks) {
  const run = /^(.*-r\d+)-/.exec(id)?.[1] ?? /^(warm-[^-]+-[^-]+)-/.exec(id)?.[1] ?? 'other';
  runs.set(run, [...(runs.get(run) ?? []), [id, t]]);
}
for (const [run, list] of [...runs].sort()) {
  if (!run.includes('-r')) continue;
  const start = Math.min(...list.map(([, t]) => t.at['c.dispatch'] ?? Infinity));
  const end = Math.max(...list.map(([, t]) => t.at['c.applied'] ?? 0));
  console.log(`\n${run}: ${list.length} tasks, first dispatch → last applied ${(end - start).toFixed(0)} ms`);
  // Round: the first task a programmer got is round 1, the next round 2.
  const byProgrammer = new Map<string, Array<{ at: Record<string, number> }>>();
  for (const [, t] of list) byProgrammer.set(t.programmer ?? '?', [...(byProgrammer.get(t.programmer ?? '?') ?? []), t]);
  const rounds: Array<Array<Record<string, number>>> = [[], []];
  const gaps: number[] = [];
  for (const ts of byProgrammer.values()) {
    ts.sort((a, b) => (a.at['c.dispatch'] ?? 0) - (b.at['c.dispatch'] ?? 0));
    ts.forEach((t, i) => rounds[Math.min(i, 1)]!.push(t.at));
    if (ts.length > 1) gaps.push(ts[1]!.at['c.dispatch']! - ts[0]!.at['c.applied']!);
  }
  console.log(`  programmer's result applied → its next dispatch: median ${q(gaps, 0.5).toFixed(1)}, p90 ${q(gaps, 0.9).toFixed(1)}, max ${q(gaps, 1).toFixed(1)} ms`);
  rounds.forEach((r, i) => {
    const r0 = Math.min(...r.map((a) => a['c.dispatch'] ?? Infinity));
    console.log(`  round ${i + 1} (${r.length} tasks; ms from the round's first dispatch to each step: median / max; then the segment: median / p90 / max)`);
    for (let s = 0; s < STEPS.length; s++) {
      const step = STEPS[s]!;
      const abs = r.map((a) => a[step]).filter((x): x is number => x !== undefined).map((x) => x - r0);
      const prev = STEPS[s - 1];
      const seg = prev ? r.filter((a) => a[step] !== undefined && a[prev] !== undefined).map((a) => a[step]! - a[prev]!) : [];
      console.log(`    ${step.padEnd(12)} at ${q(abs, 0.5).toFixed(0).padStart(5)} / ${q(abs, 1).toFixed(0).padStart(5)}   ${prev ? `${prev} → ${step}`.padEnd(26) : ''.padEnd(26)} ${seg.length ? `${q(seg, 0.5).toFixed(1).padStart(7)} / ${q(seg, 0.9).toFixed(1).padStart(7)} / ${q(seg, 1).toFixed(1).padStart(7)}` : ''}`);
    }
  });
}
