/** A job as `GET /api/jobs/{id}` answers it (src/gateway/views.ts jobView), and how the CLI prints it. */
import type { TaskProgress } from '../executors/executor.ts';
import { isTerminalJobStatus, type JobStatus } from '../../machines/statuses.ts';
import { formatDuration, table } from './api-client.ts';

export interface TaskViewJson {
  task_id: string;
  status: string;
  attempt: number;
  programmer_id: string | null;
  /** The executor that runs it (the job's, else its programmer's); null before a programmer has it. */
  executor?: string | null;
  files: string[];
  merged: boolean;
  result: { durationMs?: number; kpi?: { files_changed: number; lines_added: number; lines_removed: number } } | null;
  error: { code: string; message: string } | null;
  /** The newest things the programmer's agent did (agent-CLI executors), oldest first. */
  activity?: ActivityJson[];
}

/** One progress entry of a task (the feed's `progress` message without its ids). */
export type ActivityJson = TaskProgress & { ts: string };

/** One line for a progress entry: `file src/a.ts (Write)`, `command npm test → exit 0`, `retry #1 (HTTP 429)`. */
export function activityLine(a: ActivityJson): string {
  switch (a.kind) {
    case 'file':
      return `file ${a.path ?? '?'}${a.change ? ` ${a.change}` : ''}${a.tool ? ` (${a.tool})` : ''}`;
    case 'command':
      return `command ${a.command ?? '?'}${a.exitCode === undefined || a.exitCode === null ? '' : ` → exit ${a.exitCode}`}`;
    case 'retry':
      return `retry${a.attempt ? ` #${a.attempt}` : ''}${a.status ? ` (HTTP ${a.status})` : ''}${a.text ? `: ${a.text}` : ''}`;
    case 'tool':
      return `tool ${a.tool ?? '?'}`;
    default:
      return `message ${(a.text ?? '').replace(/\s+/g, ' ')}`;
  }
}

export interface JobViewJson {
  job_id: string;
  status: JobStatus;
  task: string;
  lane: string | null;
  files: string[];
  repo: string | null;
  /** The executor the job asked for (null: each programmer's own). */
  executor?: string | null;
  manager_id: string | null;
  accepted_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  progress: { total: number; done: number };
  merged_branch: string | null;
  conflicts: string[];
  tokens: { input: number; output: number } | null;
  cost_usd: number | null;
  error: { code: string; message: string } | null;
  /** The newest receipts file of the job (null: none written and none to come). */
  receipts: string | null;
  receipt_files?: string[];
  /** What the user should know about how the job ran: offline model, fallback plan, breaker causes. */
  notes?: string[];
  tasks?: TaskViewJson[];
  /** The merge queue as this process ran it: each branch's latest state, in queue order. */
  merges?: MergeViewJson[];
}

export interface MergeViewJson {
  task_id: string;
  state: string;
  queued_at: string;
  merging_at: string | null;
  merged_at: string | null;
  head: string | null;
  files: string[];
  verify_exit_code?: number | null;
  ts: string;
}

const MERGE_STATE_WORDS: Record<string, string> = { failed: 'merge failed', verifying: 'merged, verifying', verified: 'merged, verify passed', verify_failed: 'merged, verify failed' };

/** One line of the merge queue: `t2  conflict  src/version.js  09:14:03`. */
export function mergeLine(m: MergeViewJson): string {
  const what = MERGE_STATE_WORDS[m.state] ?? m.state;
  const exit = m.verify_exit_code === undefined ? '' : ` (exit ${m.verify_exit_code ?? 'by signal'})`;
  const files = m.files.length > 0 ? `  ${m.files.join(' ')}` : '';
  const head = m.head ? `  head ${m.head.slice(0, 10)}` : '';
  return `${m.task_id}  ${what}${exit}${files}${head}  ${m.ts.slice(11, 19)}`;
}

export const isTerminal = isTerminalJobStatus;

/** One line: `job 1a2b… running on Mgr-Code-01 — 3/6 subtasks done`. */
export function progressLine(job: JobViewJson): string {
  const where = job.manager_id ? ` on ${job.manager_id}` : '';
  const total = job.progress.total;
  return `job ${job.job_id} ${job.status}${where}: ${job.progress.done}/${total > 0 ? total : '?'} subtasks done`;
}

/** The job, its outcome and a table of its subtasks. */
export function describeJob(job: JobViewJson): string {
  const lines = [
    `job       ${job.job_id}`,
    `status    ${job.status}`,
    `task      ${job.task}`,
    `lane      ${job.lane ?? '-'}   manager ${job.manager_id ?? '-'}`,
  ];
  if (job.repo) lines.push(`repo      ${job.repo}`);
  if (job.files.length > 0) lines.push(`files     ${job.files.join(' ')}`);
  if (job.executor) lines.push(`executor  ${job.executor}`);
  lines.push(`accepted  ${job.accepted_at}${job.finished_at ? `   finished ${job.finished_at}` : ''}   duration ${formatDuration(job.duration_ms)}`);
  if (job.merged_branch) lines.push(`branch    ${job.merged_branch}`);
  if (job.conflicts.length > 0) lines.push(`conflicts ${job.conflicts.join(' ')}`);
  if (job.tokens) lines.push(`tokens    ${job.tokens.input} in / ${job.tokens.output} out   cost $${(job.cost_usd ?? 0).toFixed(6)}`);
  if (job.error) lines.push(`error     ${job.error.code}: ${job.error.message}`);
  for (const note of job.notes ?? []) lines.push(`note      ${note}`);
  if (job.receipts) lines.push(`receipts  ${(job.receipt_files && job.receipt_files.length > 1 ? job.receipt_files : [job.receipts]).join(' ')}`);
  const tasks = job.tasks ?? [];
  let text = `${lines.join('\n')}\n`;
  if (tasks.length > 0) {
    text += `\n${table(
      ['SUBTASK', 'STATUS', 'PROGRAMMER', 'EXECUTOR', 'TRY', 'MERGED', 'TIME', 'FILES', 'ERROR'],
      tasks.map((t) => [
        t.task_id,
        t.status,
        t.programmer_id ?? '-',
        t.executor ?? '-',
        String(t.attempt),
        t.merged ? 'yes' : 'no',
        formatDuration(t.result?.durationMs),
        t.files.join(' ') || '-',
        t.error ? `${t.error.code}: ${t.error.message}` : '',
      ]),
    )}`;
  }
  const merges = job.merges ?? [];
  if (merges.length > 0) {
    text += '\nMERGE QUEUE (in the order branches finished)\n';
    for (const m of merges) text += `  ${mergeLine(m)}\n`;
  }
  const active = tasks.filter((t) => (t.activity ?? []).length > 0);
  if (active.length > 0) {
    text += '\nACTIVITY (newest last)\n';
    for (const t of active) {
      for (const a of t.activity!) text += `  ${t.task_id}  ${t.programmer_id ?? '-'}  ${a.ts.slice(11, 19)}  ${activityLine(a)}\n`;
    }
  }
  return text;
}
