/**
 * What the runtime does with each fact the statecharts state (machines/facts.ts): journal it,
 * count its usage, re-check the budget, settle waiters. Every write of one event-loop iteration
 * commits together (one fsync, see Journal.deferCommit). A fact that cannot be recorded is logged;
 * it never stops the statechart that stated it.
 */
import type { Logger } from 'pino';
import type { FactName, FactRecorder, Facts } from '../../machines/facts.ts';
import type { Journal } from '../journal/journal.ts';
import type { MoneyPolicy } from '../llm/money-policy.ts';
import type { BudgetGate } from './budget-gate.ts';
import { forgetJobProgress, savePlan, saveRerun } from './job-progress.ts';
import type { JobWaiters } from './job-waiters.ts';

export interface JournalFactsOptions {
  journal: Journal;
  /** A Manager's plan calls count in its usage today here; a programmer's attempts with their receipts (book-receipt.ts). */
  money: MoneyPolicy;
  /** Re-checked after each finished task (it tells the pool once the system has started). */
  budget: BudgetGate;
  waiters: JobWaiters;
  logger: Logger;
}

export function createJournalFacts({ journal, money, budget, waiters, logger }: JournalFactsOptions): FactRecorder {
  const record: { [K in FactName]: (fact: Facts[K]) => void } = {
    recordJobAtManager({ jobId, managerId, lane }) {
      // The Manager has it (maybe queued behind max_concurrent_tasks): who, not yet running.
      const current = journal.getJob(jobId);
      if (current) journal.setJobStatus(jobId, current.status, { managerId, ...(lane ? { lane } : {}) });
    },
    recordJobRunning({ jobId, managerId }) {
      if (journal.getJob(jobId)) journal.setJobStatus(jobId, 'running', { managerId });
    },
    recordPlanMade({ jobId, managerId, plan }) {
      // Journaled as the job runs it, so a resume replays the same subtasks.
      if (journal.getJob(jobId)) savePlan(journal, jobId, plan);
      // A Manager's usage today is what its plan calls cost.
      if (plan.usage || plan.costUsd !== undefined) money.record(managerId, jobId, undefined, plan.usage, plan.costUsd ?? 0);
    },
    recordTaskQueued({ task }) {
      journal.queueTask(task);
    },
    recordTaskStarted({ task, programmerId, attempt }) {
      // An attempt is every start of the task id: the pool numbers its own re-dispatches, and a task
      // its job sends again (re-routed after an escalation, a job handed back by a failed Manager,
      // a restart) continues the count, so each start gets its own receipt.
      journal.startTask(task, programmerId, attempt);
    },
    recordAttemptEnded({ result }) {
      // Its end is journaled with this: a restart does not take its booked result again (its usage
      // was booked with its receipt, book-receipt.ts).
      journal.attemptEnded(result.taskId);
    },
    recordTaskFinished({ result }) {
      journal.finishTask(result);
      budget.sync();
    },
    recordRerunCreated({ jobId, taskId, rerun, task }) {
      saveRerun(journal, jobId, taskId, rerun);
      journal.queueTask(task);
    },
    recordFixupCreated({ jobId, plan, rerun, task }) {
      if (journal.getJob(jobId)) savePlan(journal, jobId, plan);
      saveRerun(journal, jobId, rerun.id, rerun);
      journal.queueTask(task);
    },
    recordBranchesMerged({ merge }) {
      for (const taskId of merge.merged) if (journal.getTask(taskId)) journal.markMerged(taskId);
    },
    recordMergeStep() {
      // The feed's and the job view's (merge-board.ts); the journal has each merge from recordBranchesMerged.
    },
    recordJobFinished({ outcome }) {
      journal.finishJob(outcome);
      forgetJobProgress(journal, outcome.jobId);
      waiters.settle(outcome.jobId);
    },
  };
  const guarded = {} as FactRecorder;
  for (const name of Object.keys(record) as FactName[]) {
    const write = record[name] as (fact: Facts[FactName]) => void;
    (guarded as Record<FactName, (fact: Facts[FactName]) => void>)[name] = (fact) => {
      try {
        journal.deferCommit();
        write(fact);
      } catch (err) {
        logger.error({ err, fact: name }, 'journal fact not recorded');
      }
    };
  }
  return guarded;
}
