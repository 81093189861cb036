/**
 * A Manager's plan for a job: the repository map at the base commit goes into the plan prompt,
 * the reply is checked against the files that really exist, an unusable plan is asked for once
 * more with the reason, and each subtask gets the neighbouring files it may read. A plan that
 * still cannot be used, or a call that fails, falls back to one subtask per file and says why.
 */
import type { Logger } from 'pino';
import type { JobSpec, TokenUsage } from '../../machines/domain.ts';
import type { JobPlan, Subtask } from '../../machines/job.machine.ts';
import { toErrorData } from '../errors.ts';
import { roundUsd } from '../llm/prices.ts';
import type { LlmCallResult, LlmClient } from '../llm/types.ts';
import { fallbackSubtasks, parsePlan, planPrompt, replanMessages } from '../runtime/planner.ts';
import { buildRepoMap, neighbours, type RepoMap } from './repo-map.ts';

export interface PlanJobRequest {
  job: JobSpec;
  managerId: string;
  maxProgrammers: number;
  repo: string;
  baseCommit: string;
  /** The Manager's models; none means the fallback plan. */
  llmChoice?: { primary: string; backup?: string };
  llm: LlmClient;
  logger: Logger;
  signal: AbortSignal;
  /** About how many tokens the repository map may take. */
  repoMapTokens?: number;
  /** Read-only neighbours per subtask. */
  contextFiles?: number;
}

function addCount(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null && b == null ? null : (a ?? 0) + (b ?? 0);
}

function addUsage(a: TokenUsage | undefined, b: TokenUsage | undefined): TokenUsage | undefined {
  if (!a) return b;
  if (!b) return a;
  return { input: addCount(a.input, b.input), output: addCount(a.output, b.output) };
}

function withContext(subtasks: Subtask[], map: RepoMap | undefined, limit: number): Subtask[] {
  if (!map || limit <= 0) return subtasks;
  return subtasks.map((s) => {
    const context = neighbours(map, s.files, limit);
    return context.length > 0 ? { ...s, context } : s;
  });
}

export async function planJobFromRepo(request: PlanJobRequest): Promise<JobPlan> {
  const { job, managerId, repo, baseCommit, llm, logger, signal } = request;
  const plan: JobPlan = { repo, baseCommit, planner: 'fallback', subtasks: fallbackSubtasks(job) };
  const choice = request.llmChoice;
  if (!choice) return plan;

  let map: RepoMap | undefined;
  try {
    map = await buildRepoMap(repo, baseCommit, { task: job.task, ...(job.files ? { focusFiles: job.files } : {}), ...(request.repoMapTokens ? { tokenBudget: request.repoMapTokens } : {}) });
  } catch (err) {
    // A plan without a map is still a plan: say so and go on.
    logger.warn({ agentId: managerId, jobId: job.id, error: toErrorData(err) }, 'repository map failed; planning from the job text alone');
  }
  const existing = map ? new Set(map.files) : undefined;
  const call = (messages: ReturnType<typeof planPrompt>): Promise<LlmCallResult> =>
    llm.call({
      agentId: managerId,
      primary: choice.primary,
      ...(choice.backup ? { backup: choice.backup } : {}),
      request: { messages, signal, meta: { agentId: managerId, role: 'manager', jobId: job.id, purpose: 'plan' } },
    });

  try {
    let messages = planPrompt(job, request.maxProgrammers, map?.text);
    for (let round = 1; round <= 2; round++) {
      const reply = await call(messages);
      const usage = addUsage(plan.usage, reply.usage);
      if (usage) plan.usage = usage;
      plan.costUsd = roundUsd((plan.costUsd ?? 0) + reply.costUsd);
      const parsed = parsePlan(job, reply.text, existing);
      if ('subtasks' in parsed) {
        plan.planner = 'llm';
        plan.subtasks = withContext(parsed.subtasks, map, request.contextFiles ?? 3);
        delete plan.planError;
        return plan;
      }
      plan.planError = parsed.error;
      logger.warn({ agentId: managerId, jobId: job.id, round, error: parsed.error }, round === 1 ? 'plan reply unusable; asking once more' : 'plan reply unusable again; one subtask per file');
      messages = replanMessages(messages, reply.text, parsed.error);
    }
  } catch (err) {
    plan.planError = toErrorData(err);
    logger.warn({ agentId: managerId, jobId: job.id, error: plan.planError }, 'plan call failed; one subtask per file');
  }
  return plan;
}
