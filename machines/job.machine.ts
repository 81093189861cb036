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
 * The job timeout cancels what is still running and merges what is done (the job ends partial);
 * a timeout that fires while merging lets the merge finish and starts no conflict re-run.
 *
 * Facts it states for the journal (named actions, see facts.ts): job running, plan made, conflict
 * re-run created, branches merged, fix-up created, job finished.
 */
import { and, assign, enqueueActions, not, sendParent, setup, stateIn, fromPromise } from 'xstate';
import { asErrorData, type ErrorData, type JobOutcome, type JobPlan, type JobResume, type JobSpec, type MergeOutcome, type Rerun, type Subtask, type TaskResult, type TaskSpec, type TokenUsage } from './domain.ts';
import { codedError } from './error-codes.ts';
import { fact } from './facts.ts';
import type { ToJob, ToPoolTask } from './messages.ts';

export type { JobPlan, MergeOutcome, Subtask };
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
  /** Re-run id → the job branch commit it starts from. */
  rerunBase: Record<string, string>;
  /** Re-run id → the resolver's instruction and files (a re-run shown the conflicting hunks). */
  rerunAs: Record<string, { instruction: string; files: string[] }>;
  merge: MergeOutcome | null;
  /** The last run of the job's verify command on the merged branch. */
  verification: VerifyJobOutcome | null;
  /** Ids of the fix-up subtasks planned after failed verifications. */
  fixups: string[];
  cancelled: boolean;
  /** The job timeout fired while a merge was under way: no conflict re-run starts after it. */
  timedOut: boolean;
  error: ErrorData | null;
}

export type JobEvent = ToJob | { type: 'task.resubmit'; taskId: string };

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
  // The job's executor runs each of its subtasks, re-runs and fix-ups included.
  if (context.job.executor) spec.executor = context.job.executor;
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

const submitted = (task: TaskSpec): ToPoolTask => ({ type: 'task.submitted', task });
const cancelTask = (taskId: string): ToPoolTask => ({ type: 'task.cancel', taskId });

/** The re-runs a hand-back or a journal resume carries, as the job holds them. */
export function rerunsOf(context: Pick<JobContext, 'reruns' | 'rerunBase' | 'rerunAs'>): Record<string, Rerun> {
  const out: Record<string, Rerun> = {};
  for (const [taskId, id] of Object.entries(context.reruns)) {
    const base = context.rerunBase[id];
    out[taskId] = { id, ...(base ? { baseCommit: base } : {}), ...(context.rerunAs[id] ?? {}) };
  }
  return out;
}

/** The subtask a re-run runs: the original under the re-run's id, or the resolver it became. */
export function rerunSubtask(subtask: Subtask, rerun: Pick<Rerun, 'id' | 'instruction' | 'files'>): Subtask {
  return { ...subtask, id: rerun.id, ...(rerun.instruction ? { instruction: rerun.instruction } : {}), ...(rerun.files ? { files: rerun.files } : {}) };
}

/** What still has to run when a job picks up its plan again: a created re-run, never a new one. */
function pendingOnResume(context: JobContext): Record<string, TaskSpec> {
  const pending: Record<string, TaskSpec> = {};
  for (const s of context.plan!.subtasks) {
    const rerunId = context.reruns[s.id];
    if (rerunId) {
      if (!context.results[rerunId]) pending[rerunId] = taskSpecFor(context, rerunSubtask(s, { id: rerunId, ...(context.rerunAs[rerunId] ?? {}) }), context.rerunBase[rerunId]);
    } else if (!context.results[s.id]) pending[s.id] = taskSpecFor(context, s);
  }
  return pending;
}

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
    timedOut: ({ context }) => context.timedOut,
  },
  delays: {
    jobTimeout: ({ context }) => context.timeoutMs,
    requeueDelay: ({ context }) => context.requeueDelayMs,
  },
  actions: {
    recordJobRunning: fact('recordJobRunning'),
    recordPlanMade: fact('recordPlanMade'),
    recordRerunCreated: fact('recordRerunCreated'),
    recordFixupCreated: fact('recordFixupCreated'),
    recordBranchesMerged: fact('recordBranchesMerged'),
    recordJobFinished: fact('recordJobFinished'),
    submitPending: enqueueActions(({ context, enqueue, system }) => {
      const pool = system.get(context.poolId);
      if (!pool) return;
      for (const task of Object.values(context.pending)) enqueue.sendTo(pool, submitted(task));
    }),
    cancelPending: enqueueActions(({ context, enqueue, system }) => {
      const pool = system.get(context.poolId);
      if (!pool) return;
      for (const taskId of Object.keys(context.pending)) enqueue.sendTo(pool, cancelTask(taskId));
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
    reruns: Object.fromEntries(Object.entries(input.resume?.reruns ?? {}).map(([taskId, r]) => [taskId, r.id])),
    rerunBase: Object.fromEntries(Object.values(input.resume?.reruns ?? {}).flatMap((r) => (r.baseCommit ? [[r.id, r.baseCommit]] : []))),
    rerunAs: Object.fromEntries(Object.values(input.resume?.reruns ?? {}).flatMap((r) => (r.instruction && r.files ? [[r.id, { instruction: r.instruction, files: r.files }]] : []))),
    merge: null,
    verification: null,
    // A fix-up is journaled as a re-run of itself (a subtask of its own on the merged head).
    fixups: Object.entries(input.resume?.reruns ?? {}).flatMap(([taskId, r]) => (r.id === taskId ? [taskId] : [])),
    cancelled: false,
    timedOut: false,
    error: null,
  }),
  entry: { type: 'recordJobRunning', params: ({ context }) => ({ jobId: context.job.id, managerId: context.managerId }) },
  initial: 'active',
  states: {
    active: {
      initial: 'planning',
      after: {
        // What finished in time is still merged (the job ends partial); a merge or verify already under way is
        // left to finish, and no conflict re-run starts after it; a verify under way ends the job (no fix-up).
        jobTimeout: [
          {
            guard: and([not(stateIn({ active: 'merging' })), not(stateIn({ active: 'verifying' }))]),
            target: '.merging',
            actions: ['cancelPending', 'failPending', assign({ error: () => TIMEOUT })],
          },
          { actions: assign({ timedOut: () => true }) },
        ],
      },
      on: {
        'job.cancel': { target: 'finished', actions: ['cancelPending', assign({ pending: () => ({}), cancelled: () => true })] },
        'job.handBack': { target: 'handedBack', actions: ['cancelPending', assign({ pending: () => ({}) })] },
      },
      states: {
        planning: {
          always: {
            guard: 'resuming',
            target: 'running',
            // Finished work is not redone: only subtasks without a journaled result go out again.
            actions: assign(({ context }) => ({ pending: pendingOnResume(context) })),
          },
          invoke: {
            id: 'planJob',
            src: 'planJob',
            input: ({ context }) => ({ job: context.job, managerId: context.managerId, maxProgrammers: context.maxProgrammers }),
            onDone: {
              target: 'running',
              actions: [
                assign(({ context, event }) => {
                  const plan: JobPlan = { ...event.output, subtasks: capPlan(event.output.subtasks, context.maxProgrammers) };
                  return { plan, pending: Object.fromEntries(plan.subtasks.map((s) => [s.id, taskSpecFor({ ...context, plan }, s)])) };
                }),
                { type: 'recordPlanMade', params: ({ context }) => ({ jobId: context.job.id, managerId: context.managerId, plan: context.plan! }) },
              ],
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
                guard: and(['hasRerunnableConflicts', not('timedOut')]),
                target: 'running',
                actions: enqueueActions(({ context, event, enqueue }) => {
                  enqueue({ type: 'recordBranchesMerged', params: { jobId: context.job.id, merge: event.output } });
                  const reruns = { ...context.reruns };
                  const rerunBase = { ...context.rerunBase };
                  const rerunAs = { ...context.rerunAs };
                  const pending: Record<string, TaskSpec> = {};
                  for (const conflict of event.output.conflicts) {
                    if (reruns[conflict.taskId] || Object.values(reruns).includes(conflict.taskId)) continue;
                    const subtask = context.plan!.subtasks.find((s) => s.id === conflict.taskId);
                    if (!subtask) continue;
                    const rerun: Rerun = event.output.head ? { id: `${subtask.id}-r1`, baseCommit: event.output.head } : { id: `${subtask.id}-r1` };
                    // A resolver may edit every file that collided, whether its subtask named it or not.
                    if (conflict.resolver) {
                      rerun.instruction = conflict.resolver;
                      rerun.files = [...new Set([...subtask.files, ...conflict.files])];
                      rerunAs[rerun.id] = { instruction: rerun.instruction, files: rerun.files };
                    }
                    reruns[subtask.id] = rerun.id;
                    if (rerun.baseCommit) rerunBase[rerun.id] = rerun.baseCommit;
                    pending[rerun.id] = taskSpecFor(context, rerunSubtask(subtask, rerun), rerun.baseCommit);
                    enqueue({ type: 'recordRerunCreated', params: { jobId: context.job.id, taskId: subtask.id, rerun, task: pending[rerun.id]! } });
                  }
                  enqueue.assign({ merge: event.output, reruns, rerunBase, rerunAs, pending });
                }),
              },
              {
                // The job timed out during this merge: what conflicts stays as it is.
                guard: 'hasRerunnableConflicts',
                target: '#job.finished',
                actions: [
                  assign({ merge: ({ event }) => event.output, error: () => TIMEOUT }),
                  { type: 'recordBranchesMerged', params: ({ context, event }) => ({ jobId: context.job.id, merge: event.output }) },
                ],
              },
              {
                guard: 'mergedNeedsVerify',
                target: 'verifying',
                actions: [
                  assign({ merge: ({ event }) => event.output }),
                  { type: 'recordBranchesMerged', params: ({ context, event }) => ({ jobId: context.job.id, merge: event.output }) },
                ],
              },
              {
                target: '#job.finished',
                actions: [
                  assign({ merge: ({ event }) => event.output }),
                  { type: 'recordBranchesMerged', params: ({ context, event }) => ({ jobId: context.job.id, merge: event.output }) },
                ],
              },
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
                // It is stated like a conflict re-run (of itself), so a resume runs it on the same head.
                guard: and(['hasFixup', not('timedOut')]),
                target: 'running',
                actions: enqueueActions(({ context, event, enqueue }) => {
                  const fixup = event.output.fixup!;
                  const plan: JobPlan = { ...context.plan!, subtasks: [...context.plan!.subtasks, fixup] };
                  const rerun: Rerun = { id: fixup.id, baseCommit: event.output.head };
                  const task = taskSpecFor({ ...context, plan }, fixup, event.output.head);
                  enqueue.assign({
                    plan,
                    verification: event.output,
                    fixups: [...context.fixups, fixup.id],
                    reruns: { ...context.reruns, [fixup.id]: fixup.id },
                    rerunBase: { ...context.rerunBase, [fixup.id]: event.output.head },
                    pending: { [fixup.id]: task },
                  });
                  enqueue({ type: 'recordFixupCreated', params: { jobId: context.job.id, plan, rerun, task } });
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
    /** Stopped for another Manager to resume: not an end of the job, so no outcome and no fact. */
    handedBack: { type: 'final' },
    finished: {
      type: 'final',
      entry: [
        { type: 'recordJobFinished', params: ({ context }) => ({ outcome: jobOutcome(context) }) },
        sendParent(({ context }) => ({ type: 'job.done', outcome: jobOutcome(context) })),
      ],
    },
  },
  output: ({ context }) => jobOutcome(context),
});
