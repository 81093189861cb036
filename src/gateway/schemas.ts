/** zod schemas of every request the HTTP API accepts (CONTRACT §4). */
import { z } from 'zod';
import { LANES } from '../../machines/domain.ts';
import { modelRef } from '../config/schemas.ts';
import { JOB_STATUSES } from '../../machines/statuses.ts';

const noNul = (s: string) => !s.includes('\0');
const relPath = z.string().min(1).max(1024).refine(noNul, 'must not contain NUL');
/** A command as argv (no shell); it must match an entry of cmd_allowlist.yaml to run. */
const verifySchema = z.array(z.string().min(1).max(4096).refine(noNul, 'must not contain NUL')).min(1).max(64);
export const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_:.-]{0,127}$/, 'an id is letters, digits, _ : . -');

export const jobBodySchema = z.strictObject({
  task: z.string().trim().min(1, 'required: a non-empty task').max(100_000),
  lane: z.enum(LANES as [string, ...string[]]).optional(),
  files: z.array(relPath).max(500).optional(),
  repo: z.string().min(1).max(4096).refine(noNul, 'must not contain NUL').optional(),
  verify: verifySchema.optional(),
});

export const executeBodySchema = z.strictObject({
  task_id: idSchema.optional(),
  job_id: idSchema.optional(),
  instruction: z.string().trim().min(1).max(100_000),
  files: z.array(relPath).min(1).max(200),
  repo: z.string().min(1).max(4096).refine(noNul, 'must not contain NUL').optional(),
  timeout_s: z.number().positive().max(86_400).optional(),
  verify: verifySchema.optional(),
});

/** Aider's own vocabulary: `message` is what `--message` gets. */
export const aiderEditBodySchema = z.strictObject({
  task_id: idSchema.optional(),
  message: z.string().trim().min(1).max(100_000),
  files: z.array(relPath).min(1).max(200),
  repo: z.string().min(1).max(4096).refine(noNul, 'must not contain NUL').optional(),
  timeout_s: z.number().positive().max(86_400).optional(),
  verify: verifySchema.optional(),
});

export const agentChatBodySchema = z.strictObject({
  from: z.string().min(1).max(128),
  message: z.string().min(1).max(20_000),
  job_id: idSchema.optional(),
  task_id: idSchema.optional(),
  kind: z.enum(['info', 'question', 'answer', 'handoff']).default('info'),
});

export const llmSettingsBodySchema = z.strictObject({
  primary: modelRef,
  backup: modelRef.nullable().optional(),
});

export const listJobsQuerySchema = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export const idParamsSchema = z.strictObject({ id: idSchema });
export const jobIdParamsSchema = z.strictObject({ job_id: idSchema });
export const taskIdParamsSchema = z.strictObject({ task_id: idSchema });
