/** zod schemas of every request the HTTP API accepts (CONTRACT §4). */
import { z } from 'zod';
import { LANES } from '../../machines/domain.ts';
import { executorKind, modelRef } from '../config/schemas.ts';
import { JOB_STATUSES } from '../../machines/statuses.ts';

const noNul = (s: string) => !s.includes('\0');
/** Task text is bounded in bytes (UTF-8), not characters: 50k emoji are 200 kB. */
export const MAX_TASK_BYTES = 100_000;
/** The longest file name component Linux file systems take. */
const MAX_NAME_BYTES = 255;
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** The text of a task or instruction: no NUL (git and C strings end there), at most MAX_TASK_BYTES. */
const taskText = (what: string) =>
  z
    .string()
    .trim()
    .min(1, `required: a non-empty ${what}`)
    .refine(noNul, 'must not contain NUL (\\u0000)')
    .refine((s) => bytes(s) <= MAX_TASK_BYTES, `must be at most ${MAX_TASK_BYTES} bytes (UTF-8)`);

/**
 * A file of the repository, relative to its top level, that an editor can name: no NUL or other
 * control character, no whitespace (the editors' file headers cannot carry it), every component at
 * most 255 bytes. A path that leaves the worktree (`..`, absolute) is the fs guard's to refuse
 * (PAS_ERR_FS_PATH_ESCAPE), wherever the path comes from.
 */
export const relPath = z
  .string()
  .min(1)
  .max(1024)
  .refine(noNul, 'must not contain NUL')
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters')
  .refine((s) => !/\s/.test(s), 'must not contain whitespace (PAS editors cannot name such a file)')
  .refine((s) => s.split(/[\\/]/).every((part) => bytes(part) <= MAX_NAME_BYTES), `every path component must be at most ${MAX_NAME_BYTES} bytes`);
const repoPath = z
  .string()
  .min(1)
  .max(4096)
  .refine(noNul, 'must not contain NUL')
  .refine((s) => s.split(/[\\/]/).every((part) => bytes(part) <= MAX_NAME_BYTES), `every path component must be at most ${MAX_NAME_BYTES} bytes`);
/** A command as argv (no shell); it must match an entry of cmd_allowlist.yaml to run. */
const verifySchema = z.array(z.string().min(1).max(4096).refine(noNul, 'must not contain NUL')).min(1).max(64);
/** An id used to look something up. */
export const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_:.-]{0,127}$/, 'an id is letters, digits, _ : . -');
/**
 * An id that becomes part of a git branch name (`pas/<job>/<task>`): what `git check-ref-format`
 * accepts in one component, narrowed to letters, digits, `_ . -` (no `:`, no `..`, no trailing
 * `.` or `.lock`).
 */
export const refIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'an id is letters, digits, _ . - (it names a git branch; ":" and other characters git refuses in a ref are not allowed)')
  .refine((s) => !s.includes('..'), 'must not contain ".." (git refuses it in a branch name)')
  .refine((s) => !s.endsWith('.') && !s.toLowerCase().endsWith('.lock'), 'must not end with "." or ".lock" (git refuses it in a branch name)');

export const jobBodySchema = z.strictObject({
  task: taskText('task'),
  lane: z.enum(LANES as [string, ...string[]]).optional(),
  files: z.array(relPath).max(500).optional(),
  repo: repoPath.optional(),
  verify: verifySchema.optional(),
  /** This job's spending limit in USD (every LLM call of its subtasks counts). */
  max_job_spend_usd: z.number().min(0).max(1_000_000).optional(),
  /** Runs every subtask of the job (CONTRACT §8's executors), whatever its programmer's own executor. */
  executor: executorKind.optional(),
});

export const executeBodySchema = z.strictObject({
  task_id: refIdSchema.optional(),
  job_id: refIdSchema.optional(),
  instruction: taskText('instruction'),
  files: z.array(relPath).min(1).max(200),
  repo: repoPath.optional(),
  timeout_s: z.number().positive().max(86_400).optional(),
  verify: verifySchema.optional(),
});

/** Aider's own vocabulary: `message` is what `--message` gets. */
export const aiderEditBodySchema = z.strictObject({
  task_id: refIdSchema.optional(),
  message: taskText('message'),
  files: z.array(relPath).min(1).max(200),
  repo: repoPath.optional(),
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
