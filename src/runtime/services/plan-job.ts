/**
 * The plan-job activity: the job's repository and base commit, and its subtasks from the
 * Manager's LLM (prompt and validation in planner.ts). A reply that is unusable or a call that
 * failed falls back to one subtask per file, with the reason kept in `planError`. The job caps the
 * plan at its Manager's max_programmers.
 */
import type { Logger } from 'pino';
import type { JobPlan } from '../../../machines/domain.ts';
import type { PlanJobInput } from '../../../machines/job.machine.ts';
import { toErrorData } from '../../errors.ts';
import { resolveBaseCommit } from '../../executors/index.ts';
import type { LlmClient } from '../../llm/types.ts';
import { fallbackSubtasks, parsePlan, planPrompt } from '../planner.ts';
import type { LlmSettings } from '../runtime-types.ts';
import type { Repositories } from './repositories.ts';

export interface PlanJobDeps {
  llm: LlmClient;
  llmSettings: LlmSettings;
  repositories: Repositories;
  logger: Logger;
}

export function createPlanJob({ llm, llmSettings, repositories, logger }: PlanJobDeps) {
  return async ({ job, managerId, maxProgrammers }: PlanJobInput, signal: AbortSignal): Promise<JobPlan> => {
    const repo = await repositories.forJob(job);
    const baseCommit = await resolveBaseCommit(repo);
    const llmChoice = llmSettings.get(managerId);
    const plan: JobPlan = { repo, baseCommit, planner: 'fallback', subtasks: fallbackSubtasks(job) };
    if (!llmChoice) return plan;
    try {
      const reply = await llm.call({
        agentId: managerId,
        primary: llmChoice.primary,
        ...(llmChoice.backup ? { backup: llmChoice.backup } : {}),
        request: { messages: planPrompt(job, maxProgrammers), signal, meta: { agentId: managerId, role: 'manager', jobId: job.id, purpose: 'plan' } },
      });
      plan.usage = reply.usage;
      plan.costUsd = reply.costUsd;
      const parsed = parsePlan(job, reply.text);
      if ('subtasks' in parsed) {
        plan.planner = 'llm';
        plan.subtasks = parsed.subtasks;
      } else {
        plan.planError = parsed.error;
        logger.warn({ agentId: managerId, jobId: job.id, error: parsed.error }, 'plan reply unusable; one subtask per file');
      }
    } catch (err) {
      plan.planError = toErrorData(err);
      logger.warn({ agentId: managerId, jobId: job.id, error: plan.planError }, 'plan call failed; one subtask per file');
    }
    return plan;
  };
}
