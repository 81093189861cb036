/**
 * The plan-job activity: the job's repository and base commit, then its subtasks from the
 * Manager's LLM over a map of the repository (planning/plan-job.ts; a reply that stays unusable
 * or a call that fails falls back to one subtask per file, with the reason kept in `planError`).
 * The job caps the plan at its Manager's max_programmers. A job without a verify command of its
 * own gets its lane's default (pas.yaml `verify.lanes`) in the plan.
 */
import type { Logger } from 'pino';
import type { JobPlan } from '../../../machines/domain.ts';
import type { PlanJobInput } from '../../../machines/job.machine.ts';
import { resolveBaseCommit } from '../../executors/index.ts';
import type { Journal } from '../../journal/journal.ts';
import type { LlmClient } from '../../llm/types.ts';
import { planJobFromRepo } from '../../planning/plan-job.ts';
import { addJobNote, fallbackPlanNote, OFFLINE_JOB_NOTE } from '../job-notes.ts';
import type { LlmSettings } from '../runtime-types.ts';
import type { Repositories } from './repositories.ts';
import { laneVerifyCommand } from './verify-job.ts';
import type { PasConfig } from '../../config/load-config.ts';

export interface PlanJobDeps {
  /** The lanes' default verify commands (pas.yaml `verify.lanes`). */
  config: PasConfig;
  llm: LlmClient;
  llmSettings: LlmSettings;
  repositories: Repositories;
  /** Where the job's notes for the user go (a fallback plan, synthetic offline edits). */
  journal: Journal;
  logger: Logger;
  /** Note on every job that its edits come from the offline model. */
  offlineNote?: boolean;
}

export function createPlanJob({ config, llm, llmSettings, repositories, journal, logger, offlineNote }: PlanJobDeps) {
  return async ({ job, managerId, maxProgrammers }: PlanJobInput, signal: AbortSignal): Promise<JobPlan> => {
    const repo = await repositories.forJob(job);
    const baseCommit = await resolveBaseCommit(repo);
    const llmChoice = llmSettings.get(managerId);
    if (offlineNote) addJobNote(journal, job.id, OFFLINE_JOB_NOTE);
    const plan = await planJobFromRepo({ job, managerId, maxProgrammers, repo, baseCommit, llm, logger, signal, ...(llmChoice ? { llmChoice } : {}) });
    if (plan.planner === 'fallback' && plan.planError && !signal.aborted) addJobNote(journal, job.id, fallbackPlanNote(plan.planError));
    // A job that names no verify command gets its lane's (run after each edit and on the merged branch).
    const laneVerify = laneVerifyCommand(config, managerId);
    return !job.verify && laneVerify ? { ...plan, verify: laneVerify } : plan;
  };
}
