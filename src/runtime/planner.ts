/**
 * How a Manager breaks a job into subtasks with its LLM: a prompt that asks for a JSON plan, a
 * zod schema that validates the reply, and the fallback (one subtask per file) for a reply that
 * is unusable or a call that failed. Also the Architect's lane question.
 */
import { z } from 'zod';
import type { ErrorData, JobSpec } from '../../machines/domain.ts';
import type { JobPlan, Subtask } from '../../machines/job.machine.ts';
import type { ChatMessage } from '../llm/types.ts';

export const planReplySchema = z.object({
  subtasks: z
    .array(
      z.object({
        instruction: z.string().trim().min(1),
        files: z.array(z.string().min(1)).default([]),
        /** Files of `files` the subtask creates (they need not exist at the base commit). */
        creates: z.array(z.string().min(1)).optional(),
        requires: z.array(z.string().min(1)).optional(),
      }),
    )
    .min(1),
});

/**
 * The plan request. With a repository map (the files at the base commit and what they define),
 * a job that names no files can be planned over real files.
 */
export function planPrompt(job: JobSpec, maxProgrammers: number, repoMap?: string): ChatMessage[] {
  const files = job.files && job.files.length > 0 ? job.files.map((f) => `- ${f}`).join('\n') : '(none named: choose the files from the repository map)';
  return [
    {
      role: 'system',
      content:
        'You are a PAS Manager. Split a coding job into independent subtasks that different programmers can do at the same time. ' +
        'Give each subtask its own files so no two subtasks edit the same file. ' +
        'Use paths that exist in the repository; a subtask that must create a new file lists it in "creates" as well. ' +
        'Answer with JSON only: {"subtasks":[{"instruction":"…","files":["path"],"creates":["new/path"]}]}.',
    },
    {
      role: 'user',
      content: `PLAN JOB ${job.id}\nJob: ${job.task}\nFiles:\n${files}\nAt most ${maxProgrammers} subtasks.${repoMap ? `\n\n${repoMap}` : ''}`,
    },
  ];
}

/** The follow-up after an unusable plan: what was wrong, and the same request once more. */
export function replanMessages(previous: ChatMessage[], reply: string, error: ErrorData): ChatMessage[] {
  return [
    ...previous,
    { role: 'assistant', content: reply },
    { role: 'user', content: `REPLAN: that plan cannot be used: ${error.message}. Answer again with the whole plan as JSON only.` },
  ];
}

/** The JSON object in a reply that may wrap it in prose or a ``` fence. */
export function extractJson(text: string): unknown {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  const candidate = fenced ? fenced[1]! : text;
  const start = candidate.indexOf('{');
  const end = candidate.lastIndexOf('}');
  if (start < 0 || end <= start) throw new Error('no JSON object in the reply');
  return JSON.parse(candidate.slice(start, end + 1));
}

export function subtaskIds(jobId: string, subtasks: Array<Omit<Subtask, 'id'>>): Subtask[] {
  return subtasks.map((s, i) => ({ ...s, id: `${jobId}-t${i + 1}` }));
}

/** One subtask per file (or one subtask for the whole job when it names no files). */
export function fallbackSubtasks(job: JobSpec): Subtask[] {
  const files = job.files ?? [];
  if (files.length === 0) return subtaskIds(job.id, [{ instruction: job.task, files: [] }]);
  return subtaskIds(
    job.id,
    files.map((file) => ({ instruction: `${job.task}\n\nThis subtask covers only ${file}.`, files: [file] })),
  );
}

/**
 * Validates an LLM plan reply. Files the job named are the only ones a plan may use; a plan that
 * leaves a named file out or gives one file to two subtasks is unusable. With `existing` (the
 * files at the base commit), a file the job did not name must exist unless its subtask says it
 * creates it.
 */
export function parsePlan(job: JobSpec, text: string, existing?: ReadonlySet<string>): { subtasks: Subtask[] } | { error: ErrorData } {
  let raw: unknown;
  try {
    raw = extractJson(text);
  } catch (err) {
    return { error: { code: 'PAS_ERR_PLAN_INVALID', retryable: false, message: (err as Error).message } };
  }
  const parsed = planReplySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { error: { code: 'PAS_ERR_PLAN_INVALID', retryable: false, message: `${issue.path.join('.') || 'plan'}: ${issue.message}` } };
  }
  const named = job.files ?? [];
  const seen = new Set<string>();
  for (const s of parsed.data.subtasks) {
    for (const f of s.files) {
      if (named.length > 0 && !named.includes(f)) return { error: { code: 'PAS_ERR_PLAN_INVALID', retryable: false, message: `the plan uses ${f}, which the job does not name` } };
      if (existing && !named.includes(f) && !existing.has(f) && !s.creates?.includes(f)) {
        return { error: { code: 'PAS_ERR_PLAN_INVALID', retryable: false, message: `the plan uses ${f}, which is not in the repository (list it under "creates" to make it)` } };
      }
      if (seen.has(f)) return { error: { code: 'PAS_ERR_PLAN_INVALID', retryable: false, message: `the plan gives ${f} to two subtasks` } };
      seen.add(f);
    }
  }
  const missing = named.filter((f) => !seen.has(f));
  if (missing.length > 0) return { error: { code: 'PAS_ERR_PLAN_INVALID', retryable: false, message: `the plan leaves out ${missing.join(', ')}` } };
  return { subtasks: subtaskIds(job.id, parsed.data.subtasks.map(({ creates: _creates, ...s }) => (s.requires ? s : { instruction: s.instruction, files: s.files }))) };
}

export function lanePrompt(job: JobSpec, lanes: string[]): ChatMessage[] {
  return [
    { role: 'system', content: `You are the PAS Architect. Answer with exactly one lane name from: ${lanes.join(', ')}.` },
    { role: 'user', content: `ROUTE JOB ${job.id}\n${job.task}` },
  ];
}

export function parseLane(text: string, lanes: string[]): string | null {
  const words = text.match(/[A-Za-z]+/g) ?? [];
  for (const word of words) {
    const lane = lanes.find((l) => l.toLowerCase() === word.toLowerCase());
    if (lane) return lane;
  }
  return null;
}

export type { JobPlan };
