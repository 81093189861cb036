/** `pas status [JOB_ID]`: the tree's jobs as a table, or one job with its subtasks. */
import { PasError } from '../errors.ts';
import { apiClient, CLIENT_OPTIONS, formatDuration, gatewayUrl, reportApiError, table } from './api-client.ts';
import type { Command } from './commands.ts';
import { describeJob, type JobViewJson } from './job-view.ts';
import { intOption } from './int-option.ts';

export function jobsTable(jobs: readonly JobViewJson[]): string {
  return table(
    ['JOB', 'STATUS', 'LANE', 'MANAGER', 'SUBTASKS', 'DURATION', 'ACCEPTED', 'TASK'],
    jobs.map((j) => [
      j.job_id,
      j.status,
      j.lane ?? '-',
      j.manager_id ?? '-',
      `${j.progress.done}/${j.progress.total}`,
      formatDuration(j.duration_ms),
      j.accepted_at,
      j.task,
    ]),
  );
}

export const statusCommand: Command = {
  summary: 'the jobs of a running tree as a table, or one job with its subtasks, programmers, merges and errors',
  usage: '[JOB_ID] [options]',
  options: { ...CLIENT_OPTIONS, limit: { type: 'string', arg: 'N', help: 'list at most N jobs, newest first (1…1000, default 50)' } },
  examples: ['pas status', 'pas status 01J9Z3…', 'pas status --json | jq ".jobs[].status"'],
  async run(values, positionals) {
    if (positionals.length > 1) throw new PasError('PAS_ERR_BAD_REQUEST', `one job id at most, got ${positionals.join(' ')}`);
    const limit = intOption(values, 'limit', 50);
    if (limit < 1 || limit > 1000) throw new PasError('PAS_ERR_BAD_REQUEST', `--limit takes 1…1000, got ${limit}`);
    const client = apiClient(gatewayUrl(values));
    const out = process.stdout;
    try {
      const id = positionals[0];
      if (id !== undefined) {
        const job = await client.get<JobViewJson>(`/api/jobs/${encodeURIComponent(id)}`);
        out.write(values.json ? `${JSON.stringify(job)}\n` : describeJob(job));
        return 0;
      }
      const list = await client.get<{ total: number; jobs: JobViewJson[] }>(`/api/jobs?limit=${limit}`);
      if (values.json) out.write(`${JSON.stringify(list)}\n`);
      else if (list.jobs.length === 0) out.write(`no jobs yet at ${client.baseUrl}\n`);
      else out.write(`${jobsTable(list.jobs)}${list.total > list.jobs.length ? `(${list.jobs.length} of ${list.total} jobs, newest first)\n` : ''}`);
      return 0;
    } catch (err) {
      return reportApiError('status', err);
    }
  },
};
