/**
 * One job inside its Manager: plan → run subtasks on the pool in parallel, merging each finished
 * branch as it finishes (a merge queue) → finished.
 *
 * active.planning        invoke planJob (LLM decomposition; the runtime falls back to one subtask per file)
 * active.running         every subtask is submitted to the pool at once; `task.finished` results collect
 *                        in every sub-state. A task refused because the pool queue is full is resubmitted
 *                        after a delay; a task escalated by the supervisor is re-routed once to another
 *                        programmer. A completed task's branch joins the merge queue (completion order).
 *   running.idle         waits for the queue; ends the job once nothing runs and nothing is queued.
 *   running.merging      invoke mergeJob for the queue's head onto `pas/job-<id>` (idempotent; one merge
 *                        at a time; without a verify command everything queued goes in that one merge). A conflict starts the subtask's re-run at once, on the merged head,
 *                        as a resolver when the merge showed the hunks, while other subtasks still run; a
 *                        second conflict is reported with its files.
 *   running.verifying    when the job has a `verify` command (its own or its lane's) and the merge moved
 *                        the job branch: invoke verifyJob on the new head, so a failure surfaces while
 *                        other subtasks run. The fix-up path starts when the failing verification is the
 *                        latest and nothing else runs or waits to merge (the rest might have fixed it):
 *                        the fix-up subtask runs on the merged head and is merged and verified in turn;
 *                        without fix-up rounds left the job ends partial with PAS_ERR_VERIFY_FAILED.
 * finished               final: tells the Manager `job.done` with the outcome.
 * The job timeout cancels what is still running; what finished is still merged (the job ends partial);
 * a merge or verify under way finishes, and no conflict re-run, verify or fix-up starts after it.
 *
 * Facts it states for the journal (named actions, see facts.ts): job running, plan made, conflict
 * re-run created, branches merged (after every merge), merge-queue steps, fix-up created, job finished.
 */
import { assign, enqueueActions, sendParent, setup, stateIn, fromPromise } from 'xstate';
import { asErrorData, type ErrorData, type JobOutcome, type JobPlan, type JobResume, type JobSpec, type MergeOutcome, type Rerun, type Subtask, type TaskResult, type TaskSpec, type TokenUsage } from './domain.ts';
import { codedError } from './error-codes.ts';
import { unfinishedReason } from './job-unfinished-reason.ts';
import { fact, type FactAction, type FactName, type MergeStepFact } from './facts.ts';
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
   * The results the job branch already holds (plan order), then the one to merge now (the merge
   * queue's head). The merge is idempotent: it answers every task now in the job branch in
   * `merged`, including earlier ones, and never merges a branch twice.
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
  /** What the job branch holds: every merged task, and the conflicts no re-run has merged over yet. */
  merge: MergeOutcome | null;
  /** Completed tasks waiting to be merged, in completion order (the head is merging). */
  mergeQueue: string[];
  /** The branches of the merge under way: the queue's head (each merge verified), or all it held. */
  mergeBatch: string[];
  /** The last task of the merge being verified. */
  lastMerged: string | null;
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

type MergeStep = Omit<MergeStepFact, 'jobId' | 'managerId'>;
const mergeStep = (context: Pick<JobContext, 'job' | 'managerId'>, step: MergeStep): FactAction<'recordMergeStep'> => ({ type: 'recordMergeStep', params: { jobId: context.job.id, managerId: context.managerId, ...step } });

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
  // Every job that does not complete names a reason, even when nothing stopped it as a whole.
  const error = context.error ?? (status === 'failed' || status === 'partial' ? unfinishedReason({ tasks, planned, merged: context.merge?.merged ?? [], conflictFiles }) : undefined);
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

/**
 * The results the job branch is to hold: per subtask its re-run's (or fix-up's) result when it has
 * one, never the original it replaced, else its own; completed ones only, in plan order.
 */
export function mergeableResults(context: Pick<JobContext, 'plan' | 'results' | 'reruns'>): TaskResult[] {
  const out: TaskResult[] = [];
  for (const subtask of context.plan?.subtasks ?? []) {
    const rerun = context.reruns[subtask.id];
    const result = rerun ? context.results[rerun] : context.results[subtask.id];
    if (result?.status === 'completed') out.push(result);
  }
  return out;
}

/**
 * The merge queue of a resumed job: its mergeable results in the order they finished (the order
 * of `resume.results`, which `context.results` keeps), as the uninterrupted job would have queued
 * them. In plan order, a re-run that finished after a later subtask would merge first, and that
 * subtask would then conflict with (or be re-run on) a head the job never had.
 */
export function resumedMergeQueue(context: Pick<JobContext, 'plan' | 'results' | 'reruns'>): string[] {
  const finished = Object.keys(context.results);
  return mergeableResults(context)
    .map((r) => r.taskId)
    .sort((a, b) => finished.indexOf(a) - finished.indexOf(b));
}

/**
 * What the next merge takes from the queue: its head when the job has a verify command (so each
 * merge is verified on its own), else everything queued (one merge, in completion order).
 */
export function nextMergeBatch(context: Pick<JobContext, 'job' | 'plan' | 'mergeQueue'>): string[] {
  return jobVerify(context) ? context.mergeQueue.slice(0, 1) : [...context.mergeQueue];
}

/** The merge of the batch: on top of what the job branch holds. */
export function mergeInputFor(context: JobContext): MergeJobInput {
  const batch = new Set(context.mergeBatch);
  const held = new Set(context.merge?.merged ?? []);
  const results = mergeableResults(context).filter((r) => held.has(r.taskId) && !batch.has(r.taskId));
  return { job: context.job, plan: context.plan!, results: [...results, ...context.mergeBatch.map((id) => context.results[id]!)] };
}

/** What a merge leaves the job holding: every merged task, and conflicts not merged over since. */
function accumulateMerge(previous: MergeOutcome | null, output: MergeOutcome): MergeOutcome {
  const merged = [...new Set([...(previous?.merged ?? []), ...output.merged])];
  const fresh = new Set(output.conflicts.map((c) => c.taskId));
  const conflicts = [...(previous?.conflicts ?? []).filter((c) => !fresh.has(c.taskId) && !merged.includes(c.taskId)), ...output.conflicts];
  const head = output.head ?? previous?.head;
  return { mergedBranch: output.mergedBranch, ...(head ? { head } : {}), merged, conflicts };
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

/**
 * A fact stated from one of this machine's own `setup` actions: the action is named (so `src/`
 * provides it), but `setup` cannot type its own action names yet.
 */
const stated = <K extends FactName>(action: FactAction<K>) => action as never;

const mergeOutput = (event: unknown) => (event as { output: MergeOutcome }).output;
const verifyOutput = (event: unknown) => (event as { output: VerifyJobOutcome }).output;

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
    allSettled: ({ context }) => Object.keys(context.pending).length === 0 && context.mergeQueue.length === 0,
    queued: ({ context }) => context.mergeQueue.length > 0,
    /** The merge moved the job branch and the job has a verify command (none after a timeout). */
    mergedNeedsVerify: ({ context, event }) => {
      const merge = mergeOutput(event);
      return jobVerify(context) !== undefined && merge.head !== undefined && merge.head !== context.merge?.head && merge.merged.length > 0 && !context.error;
    },
    /**
     * The latest verification failed with a fix-up planned, and nothing else runs or waits to merge
     * (their merges might have fixed it): the fix-up path starts.
     */
    fixupDue: ({ context }) => {
      const v = context.verification;
      return (
        v !== null && !v.passed && v.fixup !== undefined && !context.fixups.includes(v.fixup.id) && v.head === context.merge?.head &&
        !context.timedOut && !context.error && Object.keys(context.pending).length === 0 && context.mergeQueue.length === 0
      );
    },
    inPlanning: stateIn({ active: 'planning' }),
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
    recordMergeStep: fact('recordMergeStep'),
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
      // A completed branch joins the merge queue at once, in completion order.
      const mergeQueue = result.status === 'completed' ? [...context.mergeQueue, result.taskId] : context.mergeQueue;
      enqueue.assign({ pending, results: { ...context.results, [result.taskId]: result }, mergeQueue });
      if (result.status === 'completed') enqueue(stated(mergeStep(context, { taskId: result.taskId, state: 'queued', queue: mergeQueue })));
    }),
    resubmit: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'task.resubmit') return;
      const task = context.pending[event.taskId];
      const pool = system.get(context.poolId);
      if (task && pool) enqueue.sendTo(pool, submitted(task));
    }),
    /**
     * A merge of the batch is done: the job branch holds what it says (journaled), the batch leaves
     * the queue, and a first conflict starts its re-run at once (unless the job timed out).
     */
    takeMerge: enqueueActions(({ context, event, enqueue, system }) => {
      const output = mergeOutput(event);
      const batch = context.mergeBatch;
      const mergeQueue = context.mergeQueue.slice(batch.length);
      const merge = accumulateMerge(context.merge, output);
      enqueue(stated({ type: 'recordBranchesMerged', params: { jobId: context.job.id, merge: output } }));
      for (const taskId of batch) {
        const conflict = output.conflicts.find((c) => c.taskId === taskId);
        const state = output.merged.includes(taskId) ? 'merged' : conflict ? 'conflict' : 'failed';
        enqueue(stated(mergeStep(context, { taskId, state, queue: mergeQueue, ...(merge.head ? { head: merge.head } : {}), ...(conflict ? { files: conflict.files } : {}) })));
      }
      const reruns = { ...context.reruns };
      const rerunBase = { ...context.rerunBase };
      const rerunAs = { ...context.rerunAs };
      const pending = { ...context.pending };
      const pool = system.get(context.poolId);
      for (const c of context.timedOut || context.error ? [] : output.conflicts) {
        // Once: a re-run (or fix-up) that conflicts again is reported, never re-run.
        if (reruns[c.taskId] || Object.values(reruns).includes(c.taskId)) continue;
        const subtask = context.plan!.subtasks.find((s) => s.id === c.taskId);
        if (!subtask) continue;
        const rerun: Rerun = output.head ? { id: `${subtask.id}-r1`, baseCommit: output.head } : { id: `${subtask.id}-r1` };
        // A resolver may edit every file that collided, whether its subtask named it or not.
        if (c.resolver) {
          rerun.instruction = c.resolver;
          rerun.files = [...new Set([...subtask.files, ...c.files])];
          rerunAs[rerun.id] = { instruction: rerun.instruction, files: rerun.files };
        }
        reruns[subtask.id] = rerun.id;
        if (rerun.baseCommit) rerunBase[rerun.id] = rerun.baseCommit;
        const task = taskSpecFor(context, rerunSubtask(subtask, rerun), rerun.baseCommit);
        pending[rerun.id] = task;
        enqueue(stated({ type: 'recordRerunCreated', params: { jobId: context.job.id, taskId: subtask.id, rerun, task } }));
        if (pool) enqueue.sendTo(pool, submitted(task));
      }
      enqueue.assign({ merge, mergeQueue, mergeBatch: [], lastMerged: batch.at(-1) ?? null, reruns, rerunBase, rerunAs, pending });
    }),
    /** The latest failed verification's fix-up runs on the merged head; it is merged and verified in turn. */
    startFixup: enqueueActions(({ context, enqueue, system }) => {
      const verification = context.verification!;
      const fixup = verification.fixup!;
      const plan: JobPlan = { ...context.plan!, subtasks: [...context.plan!.subtasks, fixup] };
      // Stated like a conflict re-run (of itself), so a resume runs it on the same head.
      const rerun: Rerun = { id: fixup.id, baseCommit: verification.head };
      const task = taskSpecFor({ ...context, plan }, fixup, verification.head);
      enqueue.assign({
        plan,
        fixups: [...context.fixups, fixup.id],
        reruns: { ...context.reruns, [fixup.id]: fixup.id },
        rerunBase: { ...context.rerunBase, [fixup.id]: verification.head },
        pending: { ...context.pending, [fixup.id]: task },
      });
      enqueue(stated({ type: 'recordFixupCreated', params: { jobId: context.job.id, plan, rerun, task } }));
      const pool = system.get(context.poolId);
      if (pool) enqueue.sendTo(pool, submitted(task));
    }),
    /** The job ends with its latest verification: a failing one is the job's error. */
    verdict: assign(({ context }) =>
      !context.error && context.verification && !context.verification.passed ? { error: verifyFailedError(context.verification, context.fixups.length) } : {},
    ),
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
    mergeQueue: [],
    mergeBatch: [],
    lastMerged: null,
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
        // What finished in time is still merged (the job ends partial); a merge or verify under way
        // finishes, and no conflict re-run, verify or fix-up starts after it.
        jobTimeout: [
          { guard: 'inPlanning', target: '#job.finished', actions: assign({ error: () => TIMEOUT, timedOut: () => true }) },
          { actions: ['cancelPending', 'failPending', assign({ error: () => TIMEOUT, timedOut: () => true })] },
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
            // Finished work is not redone: only subtasks without a journaled result go out again, and
            // what completed is queued for merging again (the merge knows what the branch holds).
            actions: enqueueActions(({ context, enqueue }) => {
              const mergeQueue = resumedMergeQueue(context);
              enqueue.assign({ pending: pendingOnResume(context), mergeQueue });
              mergeQueue.forEach((taskId, i) => enqueue(mergeStep(context, { taskId, state: 'queued', queue: mergeQueue.slice(0, i + 1) })));
            }),
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
          on: {
            'task.finished': { actions: 'recordResult' },
            'task.resubmit': { actions: 'resubmit' },
          },
          initial: 'idle',
          states: {
            idle: {
              always: [
                { guard: 'queued', target: 'merging' },
                { guard: 'fixupDue', actions: 'startFixup' },
                { guard: 'allSettled', target: '#job.finished', actions: 'verdict' },
              ],
            },
            merging: {
              entry: enqueueActions(({ context, enqueue }) => {
                const batch = nextMergeBatch(context);
                enqueue.assign({ mergeBatch: batch });
                for (const taskId of batch) enqueue(mergeStep(context, { taskId, state: 'merging', queue: context.mergeQueue.slice(batch.length) }));
              }),
              invoke: {
                id: 'mergeJob',
                src: 'mergeJob',
                input: ({ context }) => mergeInputFor(context),
                onDone: [
                  { guard: 'mergedNeedsVerify', target: 'verifying', actions: 'takeMerge' },
                  { target: 'idle', actions: 'takeMerge' },
                ],
                onError: {
                  target: '#job.finished',
                  actions: ['cancelPending', assign({ pending: () => ({}), error: ({ event }) => asErrorData(event.error, 'PAS_ERR_GIT') })],
                },
              },
            },
            verifying: {
              entry: enqueueActions(({ context, enqueue }) =>
                enqueue(mergeStep(context, { taskId: context.lastMerged!, state: 'verifying', queue: context.mergeQueue, ...(context.merge?.head ? { head: context.merge.head } : {}) })),
              ),
              invoke: {
                id: 'verifyJob',
                src: 'verifyJob',
                input: ({ context }) => ({ job: context.job, managerId: context.managerId, plan: context.plan!, merge: context.merge!, fixups: context.fixups.length }),
                onDone: {
                  target: 'idle',
                  actions: enqueueActions(({ context, event, enqueue }) => {
                    const v = verifyOutput(event);
                    enqueue.assign({ verification: v });
                    enqueue(mergeStep(context, { taskId: context.lastMerged!, state: v.passed ? 'verified' : 'verify_failed', queue: context.mergeQueue, head: v.head, exitCode: v.exitCode }));
                  }),
                },
                onError: {
                  target: '#job.finished',
                  actions: ['cancelPending', assign({ pending: () => ({}), error: ({ event }) => asErrorData(event.error, 'PAS_ERR_CMD_FAILED') })],
                },
              },
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
