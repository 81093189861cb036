/** `pas cancel JOB_ID`: asks a running tree to cancel a job (CONTRACT §10). */
import { PasError } from '../errors.ts';
import { apiClient, CLIENT_OPTIONS, gatewayUrl, reportApiError } from './api-client.ts';
import type { Command } from './commands.ts';
import { followJob } from './job-progress.ts';
import type { JobViewJson } from './job-view.ts';

export const cancelCommand: Command = {
  summary: 'cancel a job of a running tree (its running subtasks are stopped, nothing is merged)',
  usage: 'JOB_ID [options]',
  options: {
    wait: { type: 'boolean', short: 'w', help: 'wait until the job has ended and print its final state' },
    ...CLIENT_OPTIONS,
  },
  examples: ['pas cancel 01J9Z3…', 'pas cancel 01J9Z3… --wait'],
  async run(values, positionals) {
    if (positionals.length !== 1) throw new PasError('PAS_ERR_BAD_REQUEST', `pas cancel takes one job id, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
    const id = positionals[0]!;
    const client = apiClient(gatewayUrl(values));
    const out = process.stdout;
    try {
      const answer = await client.post<{ job_id: string; cancelling: boolean }>(`/api/jobs/${encodeURIComponent(id)}/cancel`, {});
      if (!answer.cancelling) {
        const job = await client.get<JobViewJson>(`/api/jobs/${encodeURIComponent(id)}`);
        out.write(values.json ? `${JSON.stringify({ ...answer, status: job.status })}\n` : `job ${id} had already ended: ${job.status}\n`);
        return 0;
      }
      if (!values.wait) {
        out.write(values.json ? `${JSON.stringify(answer)}\n` : `job ${id}: cancelling\nfollow it: pas status ${id}\n`);
        return 0;
      }
      const job = await followJob(client, id, { pollMs: 200, quiet: true });
      out.write(values.json ? `${JSON.stringify(job)}\n` : `job ${id} ${job.status}\n`);
      return 0;
    } catch (err) {
      return reportApiError('cancel', err);
    }
  },
};
