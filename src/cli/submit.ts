/**
 * `pas submit "<task>" [--lane Code] [--files a b …] [--repo PATH] [--wait]`: POSTs a job to a
 * running tree's gateway and prints its id; `--wait` follows it with a progress line until it
 * ends and exits 0 only when it completed. `--files` takes every value up to the next flag (or
 * `--`), so the task goes first or after `--`.
 */
import path from 'node:path';
import { LANES, type Lane } from '../../machines/domain.ts';
import { PasError } from '../errors.ts';
import { apiClient, CLIENT_OPTIONS, gatewayUrl, reportApiError } from './api-client.ts';
import type { Command } from './commands.ts';
import { describeJob, isTerminal, progressLine, type JobViewJson } from './job-view.ts';
import { intOption } from './up.ts';

const bad = (message: string) => new PasError('PAS_ERR_BAD_REQUEST', message);

/** Builds the job body from parsed options, or throws a PAS_ERR_BAD_REQUEST naming the argument. */
export function jobBody(values: Record<string, unknown>, positionals: string[], cwd = process.cwd()): { task: string; lane?: Lane; files?: string[]; repo?: string } {
  if (positionals.length === 0) {
    const hint = values.files ? ' (--files takes every value up to the next flag: put the task before --files, or after --)' : '';
    throw bad(`the task is missing: pas submit "<task>" [--lane Code] [--files a b …] [--repo PATH] [--wait]${hint}`);
  }
  if (positionals.length > 1) {
    throw bad(`one task only, got ${positionals.length} arguments (${positionals.map((p) => JSON.stringify(p)).join(', ')}); quote the task, and put it before --files or after --`);
  }
  const task = positionals[0]!.trim();
  if (task.length === 0) throw bad('the task is empty');
  const body: { task: string; lane?: Lane; files?: string[]; repo?: string } = { task };
  if (values.lane !== undefined) {
    const lane = LANES.find((l) => l.toLowerCase() === String(values.lane).toLowerCase());
    if (!lane) throw bad(`--lane must be one of ${LANES.join(', ')}, got "${String(values.lane)}"`);
    body.lane = lane;
  }
  const files = (values.files as string[] | undefined) ?? [];
  if (files.some((f) => f.trim().length === 0)) throw bad('--files got an empty file name');
  if (files.length > 0) body.files = [...new Set(files)];
  if (typeof values.repo === 'string') {
    if (values.repo.trim().length === 0) throw bad('--repo got an empty path');
    // The tree runs elsewhere: send an absolute path.
    body.repo = path.resolve(cwd, values.repo);
  }
  return body;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const submitCommand: Command = {
  summary: 'submit a job to a running tree: "<task>" [--lane L] [--files a b …] [--repo PATH] [--wait]',
  options: {
    ...CLIENT_OPTIONS,
    lane: { type: 'string', short: 'l' },
    files: { type: 'string', multiple: true, short: 'f' },
    repo: { type: 'string', short: 'r' },
    wait: { type: 'boolean', short: 'w' },
    'poll-ms': { type: 'string' },
  },
  greedy: ['files'],
  async run(values, positionals) {
    const body = jobBody(values, positionals);
    const pollMs = Math.max(50, intOption(values, 'poll-ms', 500));
    const client = apiClient(gatewayUrl(values));
    const out = process.stdout;
    try {
      const accepted = await client.post<{ job_id: string; status: string }>('/api/jobs', body);
      if (!values.wait) {
        out.write(values.json ? `${JSON.stringify(accepted)}\n` : `job ${accepted.job_id} ${accepted.status}\nfollow it: pas status ${accepted.job_id}\n`);
        return 0;
      }
      if (!values.json) out.write(`job ${accepted.job_id} ${accepted.status}\n`);
      const tty = process.stdout.isTTY === true && !values.json;
      let last = '';
      let job: JobViewJson;
      for (;;) {
        job = await client.get<JobViewJson>(`/api/jobs/${encodeURIComponent(accepted.job_id)}`);
        const line = progressLine(job);
        if (!values.json && line !== last) {
          out.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
          last = line;
        }
        if (isTerminal(job.status)) break;
        await sleep(pollMs);
      }
      if (tty) out.write('\n');
      out.write(values.json ? `${JSON.stringify(job)}\n` : `\n${describeJob(job)}`);
      return job.status === 'completed' ? 0 : 1;
    } catch (err) {
      return reportApiError('submit', err);
    }
  },
};
