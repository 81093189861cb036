/**
 * A validated job body (POST /api/jobs, an agent's POST /submit) as the runtime takes it: the
 * same fields from either route, the repository as intake checked it.
 */
import type { z } from 'zod';
import type { Lane } from '../../machines/domain.ts';
import type { JobSubmission } from '../runtime/runtime-types.ts';
import type { jobBodySchema } from './schemas.ts';

export function jobSubmission(body: z.infer<typeof jobBodySchema>, repo: string | undefined): JobSubmission {
  return {
    task: body.task,
    ...(body.lane ? { lane: body.lane as Lane } : {}),
    ...(body.files ? { files: body.files } : {}),
    ...(repo ? { repo } : {}),
    ...(body.verify ? { verify: body.verify } : {}),
    ...(body.max_job_spend_usd !== undefined ? { maxJobSpendUsd: body.max_job_spend_usd } : {}),
    ...(body.executor ? { executor: body.executor } : {}),
  };
}
