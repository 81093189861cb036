/**
 * The whole programmer pipeline for one task: executor → allowlist check of what changed →
 * commit → KPIs → task branch → one receipt line (also on failure, timeout and cancel) → TaskResult.
 *
 * An executor that only edits files (the native one) reads the base commit and writes its edits
 * in memory; they are committed as objects, with no checkout at all. A checkout is made only for
 * what must run on files: a `verify` command (the edits are written into the programmer's reused
 * checkout first) or an executor that needs one (aider, agent CLIs), whose result is staged and
 * its tree written there. The task branch is created (never moved) once the commit exists, so a
 * task that fails or is killed leaves no branch (none at all in a worker's clone: `taskBranch`).
 */
import type { Logger } from 'pino';
import type { ErrorData, Kpi, TaskResult, TaskSpec, TokenUsage } from '../../machines/domain.ts';
import type { ResolvedProgrammer } from '../config/load-config.ts';
import type { CmdAllowlist, FsAllowlist } from '../config/schemas.ts';
import { PasError, toErrorData } from '../errors.ts';
import type { LlmClient, Receipt } from '../llm/types.ts';
import { partialOutcomeOf, withPartialOutcome, type Executor, type ExecutorOutcome, type TaskProgress, type TaskRound, type VerifyHook, type VerifyRun } from './executor.ts';
import { commandOutput, trimOutput, verifyFailedError } from './verify-output.ts';
import { prepareAllowedCommand, runAllowedCommand, type PreparedCommand } from './command-runner.ts';
import { FsGuard } from './fs-guard.ts';
import { changedPaths } from './checkout-changes.ts';
import { restoreGitFiles } from './checkout-git-files.ts';
import { checkoutFor, checkoutTree, type CheckoutLease } from './checkouts.ts';
import { CommitAhead } from './commit-ahead.ts';
import { diffTrees, kpiOf } from './object-commit.ts';
import { objectStoreFor } from './object-store.ts';
import { BaseCommitFiles, writeEditsTo } from './task-files.ts';
import { assertSafeId, taskBranchName } from './worktree.ts';

export interface ReceiptSink {
  /** Books the attempt's receipt; `result` is what the attempt answers (kept with it, see book-receipt.ts). */
  append(receipt: Receipt, result: TaskResult): void | Promise<void>;
}

export interface RunProgrammerTaskInput {
  task: TaskSpec;
  programmer: ResolvedProgrammer;
  /** The repository the task edits (its own checkout is never touched). */
  repo: string;
  workspacesDir: string;
  executor: Executor;
  llm: LlmClient;
  receipts: ReceiptSink;
  runId: string;
  /** Aborting it cancels the task (status cancelled). */
  signal?: AbortSignal;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
  log?: Logger;
  /** When given, every changed path must be writable under it or nothing is committed. */
  fsAllowlist?: FsAllowlist;
  /** What a task's `verify` command may be; without it a task that asks to verify fails. */
  cmdAllowlist?: CmdAllowlist;
  /** Edit–verify rounds an executor that loops may take (programmer_pool.yaml `defaults.verify_rounds`, default 3). */
  verifyRounds?: number;
  /** Hears the executor's progress as it runs (the feed's `progress` messages). */
  onProgress?: (progress: TaskProgress) => void;
  /**
   * false: no task branch is read, replaced or created in `repo` (a worker's cached clone: the
   * central process creates the real branch from the result bundle, and nothing reads one in the
   * clone); the result names its commit and no branch. Default true.
   */
  taskBranch?: boolean;
}

export const DEFAULT_VERIFY_ROUNDS = 3;

/** Without an allowlist every path is writable (the executor still applies its own). */
const ALLOW_ALL: FsAllowlist = { read: ['**'], write: ['**'], deny: [] };

const ZERO_KPI: Kpi = { files_changed: 0, lines_added: 0, lines_removed: 0 };

export function commitMessage(task: TaskSpec): string {
  const firstLine = task.instruction.trim().split('\n')[0] ?? '';
  const subject = firstLine.length > 60 ? `${firstLine.slice(0, 57)}...` : firstLine;
  return `pas: task ${task.id} of job ${task.jobId}: ${subject}\n\n${task.instruction.trim()}\n`;
}

export async function runProgrammerTask(input: RunProgrammerTaskInput): Promise<TaskResult> {
  const { task, programmer, executor, log } = input;
  const now = input.now ?? Date.now;
  const startedAt = now();
  const timeoutMs = task.timeoutMs ?? programmer.timeoutMs;

  const stop = new TaskStop(task.id, timeoutMs, input.signal);
  const controller = stop.controller;

  let branch: string | undefined;
  /** Whether the task branch is created in `repo` (not in a worker's cached clone). */
  const withBranch = input.taskBranch !== false;
  let lease: CheckoutLease | undefined;
  /** A checkout being made ready while the model thinks (a verified in-memory task). */
  let early: Promise<string> | undefined;
  /** An in-memory task's commit (when verified, written while its verify command runs). */
  let ahead: CommitAhead | undefined;
  let outcome: ExecutorOutcome | undefined;
  let commit: string | undefined;
  let kpi: Kpi = ZERO_KPI;
  let error: ErrorData | undefined;
  let status: TaskResult['status'] = 'completed';
  let failure: unknown;
  /** The task's verify command, started held for its next run (in-memory tasks). */
  const held = new HeldVerify(task, input);

  try {
    stop.checkpoint();
    assertSafeId('job', task.jobId);
    assertSafeId('task', task.id);
    const store = await objectStoreFor(input.repo);
    const requested = task.baseCommit ?? 'HEAD';
    branch = taskBranchName(task.jobId, task.id);
    // Both questions go to the one cat-file together (one round trip).
    const [baseCommit, earlier] = await Promise.all([store.resolveCommit(requested), withBranch ? store.read(`refs/heads/${branch}`) : null]);
    if (!baseCommit) {
      throw new PasError('PAS_ERR_GIT', `"${requested}" is not a commit in ${input.repo} (an empty repository has no base commit)`, { details: { repo: input.repo, rev: requested } });
    }
    const baseTree = await store.commitTree(baseCommit);
    // A branch of this task can only be an earlier attempt's (a run killed after its commit): this attempt replaces it.
    if (earlier) await store.updateRefs([`delete refs/heads/${branch}`]);
    const verify = task.verify !== undefined && task.verify.length > 0;
    const inMemory = executor.checkout === 'none';
    const files = inMemory ? new BaseCommitFiles(store, baseTree, input.fsAllowlist ?? ALLOW_ALL) : undefined;
    const takeCheckout = async () => {
      lease = await checkoutFor({ repo: input.repo, workspacesDir: input.workspacesDir, programmerId: programmer.id, baseCommit });
      return lease.path;
    };
    const checkout = inMemory ? '' : await takeCheckout();
    stop.checkpoint();
    log?.info({ taskId: task.id, checkout: checkout || null, branch: withBranch ? branch : null, executor: executor.kind }, 'task started');

    // The verify command as the executor may run it between rounds: in-memory edits are written
    // into the programmer's checkout (taken on the first run) before each run.
    // A verified in-memory task needs its checkout only once the model has answered: it is reset
    // now, in the shadow of the model call, not after it.
    if (verify && files) {
      early = takeCheckout();
      early.catch(() => undefined);
      // So is its verify command, held (command-runner.ts prepareAllowedCommand): its run needs no fork.
      held.next(early);
    }
    let verifyDir: string | undefined;
    let verifyRuns = 0;
    const hookRounds = input.verifyRounds ?? DEFAULT_VERIFY_ROUNDS;
    const message = commitMessage(task);
    if (files) ahead = new CommitAhead({ repo: input.repo, baseCommit, message });
    const hook: VerifyHook | undefined = verify
      ? {
          maxRounds: hookRounds,
          run: async () => {
            if (files) {
              verifyDir ??= await (early ?? takeCheckout());
              await writeEditsTo(verifyDir, input.fsAllowlist ?? ALLOW_ALL, files.written());
              // A passing command usually ends the task: its commit is written while the command runs.
              ahead!.start(files.written());
            }
            const ran = await runVerify(task, files ? verifyDir! : checkout, input, controller.signal, held.take());
            // Another round comes (the model corrects its edits meanwhile): its command is held now.
            if (files && ran.exitCode !== 0 && ++verifyRuns < hookRounds) held.next(Promise.resolve(verifyDir!));
            return ran;
          },
        }
      : undefined;

    outcome = await executor.run({
      task,
      worktree: checkout,
      ...(files ? { files } : {}),
      programmer,
      signal: controller.signal,
      llm: input.llm,
      ...(log ? { log } : {}),
      ...(input.onProgress ? { onProgress: input.onProgress } : {}),
      ...(hook ? { verify: hook } : {}),
    });
    stop.checkpoint();
    // An executor that does not loop (aider) is verified once here, as its only round.
    const verifyOnce = async () => {
      if (!hook || outcome!.rounds) return;
      const started = now();
      let ran: VerifyRun;
      try {
        ran = await hook.run();
      } catch (err) {
        throw withPartialOutcome(err, outcome!);
      }
      const round: TaskRound = { round: 1, tokens: outcome!.tokens, cost_usd: outcome!.costUsd, reads: 0, verify_exit_code: ran.exitCode, verify_duration_ms: ran.durationMs, duration_ms: Math.max(0, now() - started) };
      if (ran.exitCode !== 0) {
        throw withPartialOutcome(verifyFailedError(ran, 1), { ...outcome!, rounds: [round] });
      }
      outcome!.rounds = [round];
    };

    if (files) {
      // Every write already passed the allowlist (BaseCommitFiles checks before it keeps an edit).
      const edits = files.written();
      await verifyOnce();
      stop.checkpoint();
      const committed = await ahead!.commit(edits);
      commit = committed.commit;
      kpi = committed.kpi;
    } else {
      // What the verify command leaves behind (build output, caches) is not committed: the tree is
      // written before it runs (the executor's own rounds ran before this point, on its edits only).
      // The paths changed since the checkout was its base, as its watches heard them (null: git stages the whole tree).
      const tree = await checkoutTree(checkout, store, baseTree, await changedPaths(checkout));
      const changes = await diffTrees(store, baseTree, tree);
      if (input.fsAllowlist) {
        const guard = new FsGuard(checkout, input.fsAllowlist);
        for (const changed of changes) await guard.resolve(changed.path, 'write');
      }
      await verifyOnce();
      stop.checkpoint();
      kpi = changes.length > 0 ? kpiOf(changes) : ZERO_KPI;
      commit = changes.length > 0 ? await store.writeCommit(tree, [baseCommit], message) : baseCommit;
    }
    stop.checkpoint();
    if (withBranch) await store.updateRefs([`create refs/heads/${branch} ${commit}`]);
  } catch (err) {
    // A timeout or cancel explains whatever the executor threw on its way out; keep what it spent.
    const stopped = stop.interrupted();
    failure = stopped ? withPartialOutcome(stopped, partialOutcomeOf(err) ?? {}) : err;
    const data = toErrorData(failure);
    status = data.code === 'PAS_ERR_TASK_CANCELLED' ? 'cancelled' : 'failed';
    error = data;
    log?.warn({ taskId: task.id, err: data }, 'task did not complete');
  } finally {
    stop.dispose();
  }
  // A verify command held for a run that never came is ended.
  held.cancel();
  // A checkout still being made for this task is waited for, so its lease is given back too.
  if (early) await early.catch(() => undefined);
  // So is every commit still being written ahead (a round whose verify failed, a task that was stopped).
  await ahead?.settled();
  // The checkout stays for this programmer's next task, which restores what this one changed first.
  (lease as CheckoutLease | undefined)?.release();

  const finishedAt = now();
  const spent = outcome ?? partialOutcomeOf(failure);
  const tokens: TokenUsage = spent?.tokens ?? { input: null, output: null };
  const receipt: Receipt = {
    run_id: input.runId,
    job_id: task.jobId,
    task_id: task.id,
    agent_id: programmer.id,
    provider: spent?.provider ?? null,
    model: spent?.model ?? null,
    used_backup: spent?.usedBackup ?? false,
    status,
    ...(error ? { error } : {}),
    tokens,
    cost_usd: spent?.costUsd ?? 0,
    duration_ms: Math.max(0, finishedAt - startedAt),
    kpi,
    started_at: new Date(startedAt).toISOString(),
    finished_at: new Date(finishedAt).toISOString(),
    ...(spent?.rounds ? { rounds: spent.rounds } : {}),
  };
  const result: TaskResult = {
    taskId: task.id,
    jobId: task.jobId,
    programmerId: programmer.id,
    status,
    tokens,
    costUsd: receipt.cost_usd,
    usedBackup: receipt.used_backup,
    durationMs: receipt.duration_ms,
    kpi,
  };
  if (error) result.error = error;
  if (spent?.provider) result.provider = spent.provider;
  if (spent?.model) result.model = spent.model;
  if (status === 'completed' && branch) {
    if (withBranch) result.branch = branch;
    if (commit) result.commit = commit;
  }
  if (outcome) result.summary = outcome.summary;
  await input.receipts.append(receipt, result);
  return result;
}

/**
 * What stops a task: its timeout, or its caller's signal. `controller` aborts on either (the
 * executor and commands listen to its signal); `interrupted` says which, as the task's error.
 * One object per task, listening as itself (no closures made per task).
 */
class TaskStop {
  readonly controller = new AbortController();
  private timedOut = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly taskId: string,
    private readonly timeoutMs: number,
    private readonly outer: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(timeUp, timeoutMs, this);
    if (outer?.aborted) this.handleEvent();
    else outer?.addEventListener('abort', this, { once: true });
  }

  /** The caller's signal aborted (EventTarget calls an object listener's handleEvent). */
  handleEvent(): void {
    this.controller.abort(this.outer?.reason);
  }

  timeUp(): void {
    this.timedOut = true;
    this.controller.abort(new PasError('PAS_ERR_TASK_TIMEOUT', `task ${this.taskId} ran past ${this.timeoutMs} ms`));
  }

  /** The task's error once it was stopped, else undefined. */
  interrupted(): PasError | undefined {
    if (!this.controller.signal.aborted) return undefined;
    return this.timedOut
      ? new PasError('PAS_ERR_TASK_TIMEOUT', `task ${this.taskId} ran past its timeout of ${this.timeoutMs} ms and was stopped`, { details: { taskId: this.taskId, timeoutMs: this.timeoutMs } })
      : new PasError('PAS_ERR_TASK_CANCELLED', `task ${this.taskId} was cancelled`, { details: { taskId: this.taskId } });
  }

  /** Throws the task's error once it was stopped. */
  checkpoint(): void {
    const stopped = this.interrupted();
    if (stopped) throw stopped;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this);
  }
}

function timeUp(stop: TaskStop): void {
  stop.timeUp();
}

/**
 * The task's verify command started held in its checkout for the next run, while the model
 * thinks (command-runner.ts prepareAllowedCommand): that run then starts without a fork, which
 * on a burst of answers otherwise comes one after another. One at a time; ended with the task.
 */
class HeldVerify {
  private pending: Promise<PreparedCommand | undefined> | undefined;

  constructor(
    private readonly task: TaskSpec,
    private readonly input: RunProgrammerTaskInput,
  ) {}

  /** Holds the command for its next run in the checkout `dir` will name. */
  next(dir: Promise<string>): void {
    const { cmdAllowlist } = this.input;
    if (!cmdAllowlist || !this.task.verify || process.env.PAS_HELD_VERIFY === 'off') return;
    this.cancel();
    const argv = this.task.verify;
    // Whatever goes wrong here, the run starts the command itself (and says so).
    this.pending = dir.then((cwd) => prepareAllowedCommand({ allowlist: cmdAllowlist, argv, cwd })).catch(() => undefined);
  }

  /** The held command for this run (the caller runs or cancels it), or undefined. */
  take(): Promise<PreparedCommand | undefined> | undefined {
    const taken = this.pending;
    this.pending = undefined;
    return taken;
  }

  cancel(): void {
    const dropped = this.take();
    void dropped?.then((prepared) => prepared?.cancel());
  }
}

/**
 * Runs the task's verify command (allowlisted, no shell, the allowlist's timeout, killed with the
 * task) in `dir`. Returns its exit code and trimmed output whatever the code; a command that may
 * not run, times out or is cancelled throws.
 */
async function runVerify(task: TaskSpec, dir: string, input: RunProgrammerTaskInput, signal: AbortSignal, held: Promise<PreparedCommand | undefined> | undefined): Promise<VerifyRun> {
  if (!input.cmdAllowlist) {
    throw new PasError('PAS_ERR_CMD_NOT_ALLOWED', `task ${task.id} asks to run ${JSON.stringify(task.verify)} but no command allowlist is configured`);
  }
  const prepared = await held?.catch(() => undefined);
  // The checkout's git files as PAS made them: a `git` verify command runs no fsmonitor or filter a
  // task set (a held one has not started the program yet: it runs from here).
  try {
    await restoreGitFiles(dir);
  } catch (err) {
    prepared?.cancel();
    throw err;
  }
  const ran = prepared ? await prepared.run(signal) : await runAllowedCommand({ allowlist: input.cmdAllowlist, argv: task.verify!, cwd: dir, signal });
  input.log?.info({ taskId: task.id, command: ran.name, exitCode: ran.exitCode, durationMs: ran.durationMs }, 'verify command finished');
  return { command: ran.name, exitCode: ran.exitCode, output: trimOutput(commandOutput(ran.stdout, ran.stderrTail)), durationMs: ran.durationMs };
}

