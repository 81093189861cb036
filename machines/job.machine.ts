/**
 * One job inside its Manager: plan → run subtasks on the pool in parallel → merge → finished.
 *
 * active.planning  invoke planJob (LLM decomposition; the runtime falls back to one subtask per file)
 * active.running   every subtask is submitted to the pool at once; `task.finished` results collect.
 *                  A task refused because the pool queue is full is resubmitted after a delay; a
 *                  task escalated by the supervisor is re-routed once to another programmer.
 * active.merging   invoke mergeJob (task branches → `pas/job-<id>`). A conflicting subtask is re-run
 *                  once on top of what is merged, as a resolver when the merge showed the conflicting
 *                  hunks; a second conflict is reported with its files.
 * active.verifying when the job has a `verify` command (its own or its lane's): invoke verifyJob on
 *                  the merged branch. A failure comes back with a fix-up subtask (while fix-up rounds
 *                  remain), which runs on the merged head and is merged and verified in turn;
 *                  otherwise the job ends partial with PAS_ERR_VERIFY_FAILED and the last output.
 * finished         final: tells the Manager `job.done` with the outcome.
 * The job timeout cancels what is still running and merges what is done (the job ends partial).
 */
import { and, assign, enqueueActions, not, sendParent, setup, stateIn, fromPromise, type AnyEventObject } from 'xstate';
import { asErrorData, type ErrorData, type JobOutcome, type JobResume, type JobSpec, type TaskResult, type TaskSpec, type TokenUsage } from './domain.ts';
import { codedError } from './error-codes.ts';

export interface Subtask {
  id: string;
  instruction: string;
  files: string[];
  requires?: string[];
  /** Neighbouring files shown read-only to the programmer. */
  context?: string[];
}

export interface JobPlan {
  subtasks: Subtask[];
  repo?: string;
  baseCommit?: string;
  /** Whether the plan came from the LLM or the one-subtask-per-file fallback. */
  planner: 'llm' | 'fallback';
  planError?: ErrorData;
  usage?: TokenUsage;
  costUsd?: number;
  /** The job's verify command when the job body named none (its lane's default). */
  verify?: string[];
}

export interface VerifyJobInput {
  job: JobSpec;
  managerId: string;
  plan: JobPlan;
  merge: MergeOutcome;
  /** Fix-up subtasks already run for this job. */
  fixups: number;
}

/** The job's verify command run on the merged branch. */
export interface VerifyJobOutcome {
  passed: boolean;
  /** The allowlist entry's name. */
  command: string;
  exitCode: number | null;
  /** Head and tail of what it printed. */
  output: string;
  /** The head it ran on. */
  head: string;
  /** On failure, while fix-up rounds remain: the subtask that fixes the merged branch. */
  fixup?: Subtask;
}

export interface MergeOutcome {
  mergedBranch: string;
  /** Commit of the job branch after the merge. */
  head?: string;
  merged: string[];
  /** `resolver`: the re-run's instruction showing both sides of each conflicting hunk (else it re-runs as planned). */
  conflicts: Array<{ taskId: string; files: string[]; resolver?: string }>;
}

export interface PlanJobInput {
  job: JobSpec;
  managerId: string;
  maxProgrammers: number;
}

export interface MergeJobInput {
  job: JobSpec;
  plan: JobPlan;
  /**
   * Completed results in plan order, a conflict re-run in place of its original. The merge is
   * idempotent: it answers every task now in the job branch in `merged`, including earlier ones.
   */
  results: TaskResult[];
}

export interface JobInput {
  job: JobSpec;
  managerId: string;
  maxProgrammers: number;
  timeoutMs: number;
  poolId?: string;
  requeueDelayMs?: number;
  /** A job picked up again after a restart: its plan and the results already journaled. */
  resume?: JobResume;
}

export interface JobContext {
  job: JobSpec;
  managerId: string;
  poolId: string;
  maxProgrammers: number;
  timeoutMs: number;
  requeueDelayMs: number;
  plan: JobPlan | null;
  /** Tasks submitted to the pool and not finished yet. */
  pending: Record<string, TaskSpec>;
  results: Record<string, TaskResult>;
  /** Task ids re-routed once after a supervisor escalation. */
  rerouted: string[];
  /** Original task id → id of its re-run after a merge conflict. */
  reruns: Record<string, string>;
  merge: MergeOutcome | null;
  /** The last run of the job's verify command on the merged branch. */
  verification: VerifyJobOutcome | null;
  /** Ids of the fix-up subtasks planned after failed verifications. */
  fixups: string[];
  cancelled: boolean;
  error: ErrorData | null;
}

export type JobEvent =
  | { type: 'task.finished'; result: TaskResult }
  | { type: 'task.resubmit'; taskId: string }
  | { type: 'job.cancel' };

/** Caps a plan at `max` subtasks by folding the extra ones into the first `max`, round-robin. */
export function capPlan(subtasks: Subtask[], max: number): Subtask[] {
  if (subtasks.length <= max) return subtasks;
  const kept = subtasks.slice(0, max).map((s) => ({ ...s, files: [...s.files] }));
  subtasks.slice(max).forEach((extra, i) => {
    const target = kept[i % max]!;
    target.instruction = `${target.instruction}\n\nAlso: ${extra.instruction}`;
    target.files = [...new Set([...target.files, ...extra.files])];
  });
  return kept;
}

export function taskSpecFor(context: Pick<JobContext, 'job' | 'managerId' | 'plan'>, subtask: Subtask, baseCommit?: string): TaskSpec {
  const spec: TaskSpec = {
    id: subtask.id,
    jobId: context.job.id,
    managerId: context.managerId,
    replyTo: jobSystemId(context.job.id),
    instruction: subtask.instruction,
    files: subtask.files,
  };
  const repo = context.plan?.repo ?? context.job.repo;
  if (repo) spec.repo = repo;
  const base = baseCommit ?? context.plan?.baseCommit;
  if (base) spec.baseCommit = base;
  if (subtask.requires) spec.requires = subtask.requires;
  if (subtask.context) spec.context = subtask.context;
  const verify = jobVerify(context);
  if (verify) spec.verify = verify;
  return spec;
}

/** The job's verify command: its own, else its lane's default (carried by the plan). */
export function jobVerify(context: Pick<JobContext, 'job' | 'plan'>): string[] | undefined {
  const verify = context.job.verify ?? context.plan?.verify;
  return verify && verify.length > 0 ? verify : undefined;
}

export function verifyFailedError(verification: VerifyJobOutcome, fixups: number): ErrorData {
  const rounds = fixups === 0 ? 'with no fix-up round' : `after ${fixups} fix-up round${fixups === 1 ? '' : 's'}`;
  return {
    code: 'PAS_ERR_VERIFY_FAILED',
    retryable: false,
    message: `verify command ${verification.command} fails on the merged branch (exit ${verification.exitCode ?? 'by signal'}) ${rounds}:\n${verification.output}`,
    details: { command: verification.command, exitCode: verification.exitCode, head: verification.head, fixups, output: verification.output },
  };
}

export function jobSystemId(jobId: string): string {
  return `job:${jobId}`;
}

/** The subtasks' final results: a re-run's result stands in for the original it replaced. */
export function finalResults(context: Pick<JobContext, 'plan' | 'results' | 'reruns'>): TaskResult[] {
  const out: TaskResult[] = [];
  for (const subtask of context.plan?.subtasks ?? []) {
    const rerun = context.reruns[subtask.id];
    const result = (rerun && context.results[rerun]) || context.results[subtask.id];
    if (result) out.push(result);
  }
  return out;
}

export function jobOutcome(context: JobContext): JobOutcome {
  const tasks = finalResults(context);
  const all = Object.values(context.results);
  const sum = (pick: (t: TokenUsage) => number | null | undefined) => all.reduce((n, r) => n + (r.tokens ? pick(r.tokens) ?? 0 : 0), 0);
  const planUsage = context.plan?.usage;
  const conflicts = (context.merge?.conflicts ?? []).filter((c) => !context.reruns[c.taskId] || !context.merge?.merged.includes(context.reruns[c.taskId]!));
  const conflictFiles = [...new Set(conflicts.flatMap((c) => c.files))];
  const planned = context.plan?.subtasks.length ?? 0;
  const merged = tasks.filter((t) => t.status === 'completed' && (context.merge?.merged.includes(t.taskId) ?? false)).length;
  let status: JobOutcome['status'];
  const verifyFailed = context.verification !== null && !context.verification.passed;
  if (context.cancelled) status = 'cancelled';
  else if (planned > 0 && merged === planned && conflictFiles.length === 0 && !verifyFailed) status = 'completed';
  else if (merged > 0) status = 'partial';
  else status = 'failed';
  const outcome: JobOutcome = {
    jobId: context.job.id,
    managerId: context.managerId,
    status,
    tasks,
    tokens: { input: sum((t) => t.input) + (planUsage?.input ?? 0), output: sum((t) => t.output) + (planUsage?.output ?? 0) },
    costUsd: Math.round((all.reduce((n, r) => n + (r.costUsd ?? 0), 0) + (context.plan?.costUsd ?? 0)) * 1e6) / 1e6,
  };
  if (context.merge) outcome.mergedBranch = context.merge.mergedBranch;
  if (conflictFiles.length > 0) outcome.conflicts = conflictFiles;
  if (context.verification) {
    const v = context.verification;
    outcome.verification = { command: v.command, passed: v.passed, exitCode: v.exitCode, head: v.head, fixups: context.fixups.length };
  }
  const error = context.error ?? (status === 'failed' ? tasks.find((t) => t.error)?.error : undefined);
  if (error) outcome.error = error;
  return outcome;
}

const submitted = (task: TaskSpec): AnyEventObject => ({ type: 'task.submitted', task });

const TIMEOUT: ErrorData = codedError('PAS_ERR_TASK_TIMEOUT', 'the job ran past its timeout');

export const jobMachine = setup({
  types: {
    context: {} as JobContext,
    input: {} as JobInput,
    events: {} as JobEvent,
    output: {} as JobOutcome,
  },
  actors: {
    planJob: fromPromise<JobPlan, PlanJobInput>(async () => {
      throw new Error('planJob is provided by the runtime');
    }),
    mergeJob: fromPromise<MergeOutcome, MergeJobInput>(async () => {
      throw new Error('mergeJob is provided by the runtime');
    }),
    verifyJob: fromPromise<VerifyJobOutcome, VerifyJobInput>(async () => {
      throw new Error('verifyJob is provided by the runtime');
    }),
  },
  guards: {
    resuming: ({ context }) => context.plan !== null,
    allSettled: ({ context }) => Object.keys(context.pending).length === 0,
    nothingToMerge: ({ context }) => finalResults(context).every((r) => r.status !== 'completed'),
    /** A merged branch to check: the job has a verify command and the merge produced a head. */
    mergedNeedsVerify: ({ context, event }) => {
      const merge = (event as unknown as { output: MergeOutcome }).output;
      return jobVerify(context) !== undefined && merge.head !== undefined && merge.merged.length > 0 && !context.error;
    },
    verified: ({ event }) => (event as unknown as { output: VerifyJobOutcome }).output.passed,
    hasFixup: ({ event }) => (event as unknown as { output: VerifyJobOutcome }).output.fixup !== undefined,
    hasRerunnableConflicts: ({ context, event }) => {
      const merge = (event as unknown as { output: MergeOutcome }).output;
      return merge.conflicts.some((c) => !context.reruns[c.taskId] && !Object.values(context.reruns).includes(c.taskId));
    },
  },
  delays: {
    jobTimeout: ({ context }) => context.timeoutMs,
    requeueDelay: ({ context }) => context.requeueDelayMs,
  },
  actions: {
    submitPending: enqueueActions(({ context, enqueue, system }) => {
      const pool = system.get(context.poolId);
      if (!pool) return;
      for (const task of Object.values(context.pending)) enqueue.sendTo(pool, submitted(task));
    }),
    cancelPending: enqueueActions(({ context, enqueue, system }) => {
      const pool = system.get(context.poolId);
      if (!pool) return;
      for (const taskId of Object.keys(context.pending)) enqueue.sendTo(pool, { type: 'task.cancel', taskId } as AnyEventObject);
    }),
    failPending: assign(({ context }) => {
      const results = { ...context.results };
      for (const task of Object.values(context.pending)) {
        results[task.id] = { taskId: task.id, jobId: task.jobId, programmerId: '', status: 'failed', error: TIMEOUT };
      }
      return { pending: {}, results };
    }),
    recordResult: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'task.finished') return;
      const { result } = event;
      const task = context.pending[result.taskId];
      if (!task) return; // not ours, or already settled: a task ends exactly once
      const code = result.error?.code;
      // A cancel this job did not ask for (it leaves `running` when it cancels) came from an earlier
      // run of the same job, stopped when its Manager failed: the subtask still has to be done.
      if (result.status === 'cancelled' || (result.status === 'failed' && code === 'PAS_ERR_POOL_QUEUE_FULL')) {
        enqueue.raise({ type: 'task.resubmit', taskId: task.id }, { delay: 'requeueDelay' });
        return;
      }
      if (result.status === 'failed' && code === 'PAS_ERR_SUPERVISOR_ESCALATED' && !context.rerouted.includes(task.id)) {
        const programmerId = result.programmerId || String(result.error?.details?.programmerId ?? '');
        const rerouted: TaskSpec = { ...task, exclude: [...new Set([...(task.exclude ?? []), programmerId].filter(Boolean))] };
        enqueue.assign({ rerouted: [...context.rerouted, task.id], pending: { ...context.pending, [task.id]: rerouted } });
        const pool = system.get(context.poolId);
        if (pool) enqueue.sendTo(pool, submitted(rerouted));
        return;
      }
      const pending = { ...context.pending };
      delete pending[result.taskId];
      enqueue.assign({ pending, results: { ...context.results, [result.taskId]: result } });
    }),
    resubmit: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'task.resubmit') return;
      const task = context.pending[event.taskId];
      const pool = system.get(context.poolId);
      if (task && pool) enqueue.sendTo(pool, submitted(task));
    }),
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => ({
    job: input.job,
    managerId: input.managerId,
    poolId: input.poolId ?? 'pool',
    maxProgrammers: input.maxProgrammers,
    timeoutMs: input.timeoutMs,
    requeueDelayMs: input.requeueDelayMs ?? 250,
    plan: input.resume?.plan ?? null,
    pending: {},
    results: Object.fromEntries((input.resume?.results ?? []).map((r) => [r.taskId, r])),
    rerouted: [],
    reruns: {},
    merge: null,
    verification: null,
    fixups: [],
    cancelled: false,
    error: null,
  }),
  initial: 'active',
  states: {
    active: {
      initial: 'planning',
      after: {
        // What finished in time is still merged (the job ends partial); a merge already under way is left to finish.
        jobTimeout: {
          guard: and([not(stateIn({ active: 'merging' })), not(stateIn({ active: 'verifying' }))]),
          target: '.merging',
          actions: ['cancelPending', 'failPending', assign({ error: () => TIMEOUT })],
        },
      },
      on: {
        'job.cancel': { target: 'finished', actions: ['cancelPending', assign({ pending: () => ({}), cancelled: () => true })] },
      },
      states: {
        planning: {
          always: {
            guard: 'resuming',
            target: 'running',
            actions: assign(({ context }) => ({
              // Finished work is not redone: only subtasks without a journaled result go out again.
              pending: Object.fromEntries(
                context.plan!.subtasks
                  .filter((s) => !context.results[s.id])
                  .map((s) => [s.id, taskSpecFor(context, s)]),
              ),
            })),
          },
          invoke: {
            id: 'planJob',
            src: 'planJob',
            input: ({ context }) => ({ job: context.job, managerId: context.managerId, maxProgrammers: context.maxProgrammers }),
            onDone: {
              target: 'running',
              actions: assign(({ context, event }) => {
                const plan: JobPlan = { ...event.output, subtasks: capPlan(event.output.subtasks, context.maxProgrammers) };
                return { plan, pending: Object.fromEntries(plan.subtasks.map((s) => [s.id, taskSpecFor({ ...context, plan }, s)])) };
              }),
            },
            onError: {
              target: '#job.finished',
              actions: assign({
                error: ({ event }) => asErrorData(event.error, 'PAS_ERR_PLAN_INVALID'),
              }),
            },
          },
        },
        running: {
          entry: 'submitPending',
          always: { guard: 'allSettled', target: 'merging' },
          on: {
            'task.finished': { actions: 'recordResult' },
            'task.resubmit': { actions: 'resubmit' },
          },
        },
        merging: {
          always: { guard: 'nothingToMerge', target: '#job.finished' },
          invoke: {
            id: 'mergeJob',
            src: 'mergeJob',
            input: ({ context }) => ({
              job: context.job,
              plan: context.plan!,
              results: finalResults(context).filter((r) => r.status === 'completed'),
            }),
            onDone: [
              {
                guard: 'hasRerunnableConflicts',
                target: 'running',
                actions: assign(({ context, event }) => {
                  const reruns = { ...context.reruns };
                  const pending: Record<string, TaskSpec> = {};
                  for (const conflict of event.output.conflicts) {
                    if (reruns[conflict.taskId] || Object.values(reruns).includes(conflict.taskId)) continue;
                    const subtask = context.plan!.subtasks.find((s) => s.id === conflict.taskId);
                    if (!subtask) continue;
                    const rerunId = `${subtask.id}-r1`;
                    reruns[subtask.id] = rerunId;
                    // A resolver may edit every file that collided, whether its subtask named it or not.
                    const rerun: Subtask = conflict.resolver
                      ? { ...subtask, id: rerunId, instruction: conflict.resolver, files: [...new Set([...subtask.files, ...conflict.files])] }
                      : { ...subtask, id: rerunId };
                    pending[rerunId] = taskSpecFor(context, rerun, event.output.head);
                  }
                  return { merge: event.output, reruns, pending };
                }),
              },
              { guard: 'mergedNeedsVerify', target: 'verifying', actions: assign({ merge: ({ event }) => event.output }) },
              { target: '#job.finished', actions: assign({ merge: ({ event }) => event.output }) },
            ],
            onError: {
              target: '#job.finished',
              actions: assign({
                error: ({ event }) => asErrorData(event.error, 'PAS_ERR_GIT'),
              }),
            },
          },
        },
        verifying: {
          invoke: {
            id: 'verifyJob',
            src: 'verifyJob',
            input: ({ context }) => ({ job: context.job, managerId: context.managerId, plan: context.plan!, merge: context.merge!, fixups: context.fixups.length }),
            onDone: [
              { guard: 'verified', target: '#job.finished', actions: assign({ verification: ({ event }) => event.output }) },
              {
                // The fix-up works on the merged head; it is merged (a fast-forward) and verified in turn.
                guard: 'hasFixup',
                target: 'running',
                actions: assign(({ context, event }) => {
                  const fixup = event.output.fixup!;
                  const plan: JobPlan = { ...context.plan!, subtasks: [...context.plan!.subtasks, fixup] };
                  return {
                    plan,
                    verification: event.output,
                    fixups: [...context.fixups, fixup.id],
                    pending: { [fixup.id]: taskSpecFor({ ...context, plan }, fixup, event.output.head) },
                  };
                }),
              },
              {
                target: '#job.finished',
                actions: assign(({ context, event }) => ({ verification: event.output, error: verifyFailedError(event.output, context.fixups.length) })),
              },
            ],
            onError: {
              target: '#job.finished',
              actions: assign({
                error: ({ event }) => asErrorData(event.error, 'PAS_ERR_CMD_FAILED'),
              }),
            },
          },
        },
      },
    },
    finished: {
      type: 'final',
      entry: sendParent(({ context }) => ({ type: 'job.done', outcome: jobOutcome(context) })),
    },
  },
  output: ({ context }) => jobOutcome(context),
});
