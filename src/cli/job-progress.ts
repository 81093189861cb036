/**
 * `pas submit --wait`: follows a job through the HTTP API until it ends. On a terminal a
 * progress bar like the demo's (subtasks done, programmers working, elapsed); otherwise one line
 * per change of the job and one per finished subtask, so a log or CI output reads top to bottom.
 */
import cliProgress from 'cli-progress';
import { isFinishedTaskStatus } from '../../machines/statuses.ts';
import type { ApiClient } from './api-client.ts';
import { isTerminal, progressLine, type JobViewJson } from './job-view.ts';

export interface FollowOptions {
  pollMs: number;
  /** Print nothing (`--json`). */
  quiet?: boolean;
  out?: NodeJS.WriteStream;
  /** Defaults to whether `out` is a terminal. */
  tty?: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A finished subtask as one line: `  completed J-t1 on Prog-003 (1.5s)` or its error. */
export function subtaskLine(task: NonNullable<JobViewJson['tasks']>[number]): string {
  const time = task.result?.durationMs !== undefined ? ` (${(task.result.durationMs / 1000).toFixed(1)}s)` : '';
  const why = task.error ? ` ${task.error.code}: ${task.error.message}` : '';
  return `  ${task.status.padEnd(9)} ${task.task_id} on ${task.programmer_id ?? '-'}${time}${why}`;
}

export async function followJob(client: ApiClient, jobId: string, options: FollowOptions): Promise<JobViewJson> {
  const out = options.out ?? process.stdout;
  const tty = !options.quiet && (options.tty ?? out.isTTY === true);
  const started = Date.now();
  const reported = new Set<string>();
  const shownNotes = new Set<string>();
  let bar: cliProgress.SingleBar | null = null;
  let last = '';
  const payload = (job: JobViewJson) => ({
    status: job.status,
    where: job.manager_id ?? '-',
    running: (job.tasks ?? []).filter((t) => t.status === 'running').length,
    elapsed: ((Date.now() - started) / 1000).toFixed(1),
  });
  try {
    for (;;) {
      const job = await client.get<JobViewJson>(`/api/jobs/${encodeURIComponent(jobId)}`);
      if (!options.quiet) {
        for (const note of job.notes ?? []) {
          if (shownNotes.has(note)) continue;
          shownNotes.add(note);
          if (bar) bar.stop();
          out.write(`note: ${note}\n`);
          bar = null;
        }
        const total = job.progress.total;
        if (tty && total > 0) {
          if (!bar) {
            bar = new cliProgress.SingleBar(
              { format: ' subtasks {bar} {value}/{total} | {status} on {where} | programmers working: {running} | {elapsed}s', hideCursor: true, clearOnComplete: false, stream: out },
              cliProgress.Presets.shades_classic,
            );
            bar.start(total, job.progress.done, payload(job));
          }
          bar.setTotal(total);
          bar.update(job.progress.done, payload(job));
        } else if (!tty) {
          const line = progressLine(job);
          if (line !== last) out.write(`${line}\n`);
          last = line;
          for (const task of job.tasks ?? []) {
            if (!isFinishedTaskStatus(task.status) || reported.has(`${task.task_id}:${task.attempt}`)) continue;
            reported.add(`${task.task_id}:${task.attempt}`);
            out.write(`${subtaskLine(task)}\n`);
          }
        }
      }
      if (isTerminal(job.status)) return job;
      await sleep(options.pollMs);
    }
  } finally {
    (bar as cliProgress.SingleBar | null)?.stop();
  }
}
