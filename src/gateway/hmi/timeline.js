/**
 * A job's timeline: one row per programmer that worked on it (plus the Manager's row for the
 * plan and the merge), one bar per subtask run, placed by its start and end, so parallel work,
 * re-runs (earlier attempts, hatched) and the merge read at a glance — a small Gantt chart. The
 * merge queue has a row of its own: one bar per branch from the start of its merge to its end
 * (through the verify of the job branch after it), coloured by how it ended.
 *
 * Runs come from two places: the journal's task records (the last attempt of each subtask, with
 * its start and end) and the live feed (every attempt this page saw: a programmer entering and
 * leaving EXECUTING with the task's id), so a re-run on another programmer shows both bars.
 */
import { fmtDuration, h } from './dom.js';

/** taskId → [{ programmerId, start, end, outcome }] seen on the feed. */
const feedRuns = new Map();

/** Feed a transition record in; programmer runs with a task id are remembered. */
export function recordRun(record) {
  if (record.role !== 'programmer' || !record.taskId) return;
  const ts = Date.parse(record.ts);
  if (!Number.isFinite(ts)) return;
  const runs = feedRuns.get(record.taskId) ?? [];
  if (record.to === 'EXECUTING') {
    if (!runs.some((r) => r.programmerId === record.agentId && r.end === null)) runs.push({ programmerId: record.agentId, start: ts, end: null, outcome: 'running' });
  } else if (record.from === 'EXECUTING') {
    const open = runs.find((r) => r.programmerId === record.agentId && r.end === null);
    if (open) {
      open.end = ts;
      open.outcome = record.to === 'FAILED' ? 'failed' : 'done';
    }
  }
  feedRuns.set(record.taskId, runs);
  // Bounded: a page left open for days keeps the latest few thousand subtasks.
  if (feedRuns.size > 5000) feedRuns.delete(feedRuns.keys().next().value);
}

const shortTask = (taskId, jobId) => (jobId && taskId.startsWith(`${jobId}-`) ? taskId.slice(jobId.length + 1) : taskId);

/** Every bar of a job: journal runs (authoritative for the last attempt) plus earlier feed runs. */
export function jobRuns(job, now = Date.now()) {
  const bars = [];
  for (const t of job.tasks ?? []) {
    const start = Date.parse(t.started_at ?? '');
    const journalRun = Number.isFinite(start) && t.programmer_id
      ? { taskId: t.task_id, programmerId: t.programmer_id, start, end: Date.parse(t.finished_at ?? '') || (t.status === 'running' ? now : start), status: t.status, attempt: t.attempt, error: t.error, files: t.files, rerun: false }
      : null;
    const seen = feedRuns.get(t.task_id) ?? [];
    for (const r of seen) {
      // The journal's run is the same run as the feed's last one on that programmer.
      if (journalRun && r.programmerId === journalRun.programmerId && Math.abs(r.start - journalRun.start) < 2000) continue;
      bars.push({ taskId: t.task_id, programmerId: r.programmerId, start: r.start, end: r.end ?? now, status: r.outcome === 'failed' ? 'failed' : r.end === null ? 'running' : 'rerun', attempt: null, error: null, files: t.files, rerun: true });
    }
    if (journalRun) bars.push(journalRun);
  }
  return bars;
}

/** The chart for one job, or null when nothing has started yet. */
export function renderTimeline(job, now = Date.now()) {
  const bars = jobRuns(job, now);
  const accepted = Date.parse(job.started_at ?? job.accepted_at);
  const finished = Date.parse(job.finished_at ?? '');
  if (bars.length === 0 && !Number.isFinite(finished)) return null;
  const merges = mergeBars(job, now);
  const t0 = Math.min(accepted, ...bars.map((b) => b.start));
  const t1 = Math.max(Number.isFinite(finished) ? finished : now, ...bars.map((b) => b.end), ...merges.map((m) => m.end), t0 + 1);
  const span = t1 - t0;
  const pos = (t) => `${(((t - t0) / span) * 100).toFixed(2)}%`;
  const width = (a, b) => `${Math.max(0.6, ((b - a) / span) * 100).toFixed(2)}%`;

  const rows = new Map();
  for (const b of bars) {
    if (!rows.has(b.programmerId)) rows.set(b.programmerId, []);
    rows.get(b.programmerId).push(b);
  }
  const lastTaskEnd = bars.length > 0 ? Math.max(...bars.map((b) => b.end)) : t0;
  const firstTaskStart = bars.length > 0 ? Math.min(...bars.map((b) => b.start)) : t1;
  const managerBars = [];
  if (firstTaskStart > t0) managerBars.push({ kind: 'plan', start: t0, end: firstTaskStart, label: 'plan', title: `plan: ${fmtDuration(firstTaskStart - t0)}` });
  if (merges.length === 0 && Number.isFinite(finished) && finished > lastTaskEnd && bars.length > 0) {
    const merged = (job.tasks ?? []).filter((t) => t.merged).length;
    managerBars.push({ kind: 'merge', start: lastTaskEnd, end: finished, label: 'merge', title: `merge: ${merged} task branch${merged === 1 ? '' : 'es'} into ${job.merged_branch ?? 'the job branch'}${job.conflicts?.length ? `; conflicts: ${job.conflicts.join(', ')}` : ''} (${fmtDuration(finished - lastTaskEnd)})` });
  }

  const row = (label, title, children, kind) =>
    h('div', { class: `tl-row tl-row-${kind}`, role: 'listitem' }, h('span', { class: 'tl-label', title, text: label }), h('div', { class: 'tl-lane' }, children));
  const barEl = (b) => {
    const title = [
      `${b.taskId}${b.rerun ? ' (earlier run)' : b.attempt > 1 ? ` (attempt ${b.attempt})` : ''} on ${b.programmerId}`,
      (b.files ?? []).join(', '),
      `${b.status} · ${fmtDuration(b.end - b.start)}`,
      b.error ? `${b.error.code}: ${b.error.message}` : '',
    ].filter(Boolean).join('\n');
    return h('span', { class: 'tl-bar', title, tabindex: '0', 'aria-label': title.replace(/\n/g, '; '), dataset: { status: b.status, rerun: b.rerun, taskId: b.taskId }, style: `left:${pos(b.start)};width:${width(b.start, b.end)}` }, h('span', { class: 'tl-text', text: shortTask(b.taskId, job.job_id) }));
  };

  const list = h(
    'div',
    { class: 'tl-rows', role: 'list', 'aria-label': `Timeline of job ${job.job_id}: subtasks on programmers over time` },
    managerBars.length > 0 ? row(job.manager_id ?? 'Manager', 'the Manager: plan and merge', managerBars.map((m) => h('span', { class: 'tl-bar tl-mgr', title: m.title, tabindex: '0', 'aria-label': m.title, dataset: { kind: m.kind }, style: `left:${pos(m.start)};width:${width(m.start, m.end)}` }, h('span', { class: 'tl-text', text: m.label }))), 'manager') : null,
    [...rows.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([programmer, list]) => row(programmer, programmer, list.map(barEl), 'programmer')),
    merges.length > 0
      ? row('merge queue', `the merge queue of ${job.merged_branch ?? 'the job branch'}: each branch merged as its subtask finished`, merges.map((m) => h('span', { class: 'tl-bar tl-merge', title: m.title, tabindex: '0', 'aria-label': m.title.replace(/\n/g, '; '), dataset: { state: m.state, taskId: m.taskId }, style: `left:${pos(m.start)};width:${width(m.start, m.end)}` }, h('span', { class: 'tl-text', text: shortTask(m.taskId, job.job_id) }))), 'merge')
      : null,
  );
  const peak = peakParallel(bars);
  return h(
    'figure',
    { class: 'timeline', dataset: { jobId: job.job_id, peak } },
    list,
    h('figcaption', { class: 'tl-axis' }, h('span', { text: '0 s' }), h('span', { class: 'muted', text: `${rows.size} programmer${rows.size === 1 ? '' : 's'} · up to ${peak} at once` }), h('span', { text: fmtDuration(span) })),
  );
}

const MERGE_WORDS = {
  queued: 'queued',
  merging: 'merging',
  merged: 'merged',
  conflict: 'conflict',
  failed: 'merge failed',
  verifying: 'merged; verifying',
  verified: 'merged; verify passed',
  verify_failed: 'merged; verify failed',
};

/** The merge queue's bars (`job.merges`, the latest state per branch): from its merge's start to its end. */
export function mergeBars(job, now = Date.now()) {
  const out = [];
  for (const m of job.merges ?? []) {
    const start = Date.parse(m.merging_at ?? '');
    if (!Number.isFinite(start)) continue;
    const settled = m.state === 'verified' || m.state === 'verify_failed' ? Date.parse(m.ts ?? m.merged_at ?? '') : Date.parse(m.merged_at ?? '');
    const end = m.state === 'merging' || m.state === 'verifying' || !Number.isFinite(settled) ? now : settled;
    const title = [
      `merge ${m.task_id} into ${job.merged_branch ?? 'the job branch'}: ${MERGE_WORDS[m.state] ?? m.state}`,
      m.files?.length ? `conflicting files: ${m.files.join(', ')}` : '',
      m.head ? `head ${m.head.slice(0, 10)}` : '',
      `queued ${m.queued_at?.slice(11, 19) ?? '?'} · ${fmtDuration(end - start)}`,
    ].filter(Boolean).join('\n');
    out.push({ taskId: m.task_id, state: m.state, start, end: Math.max(end, start), title });
  }
  return out;
}

/** The most runs overlapping at one moment. */
export function peakParallel(bars) {
  const edges = bars.flatMap((b) => [[b.start, 1], [b.end, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of edges) {
    now += d;
    peak = Math.max(peak, now);
  }
  return peak;
}
