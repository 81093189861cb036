/**
 * The contract every programmer executor fulfils: edit the files of one task inside its
 * worktree, then say what changed and what it cost. Committing, KPIs and receipts belong to
 * `runProgrammerTask`, not to executors.
 */
import type { Logger } from 'pino';
import type { ExecutorKind, TaskSpec, TokenUsage } from '../../machines/domain.ts';
import type { ResolvedProgrammer } from '../config/load-config.ts';
import type { LlmClient, ReceiptRound } from '../llm/types.ts';
import type { TaskFiles } from './task-files.ts';

export type ExecutorKindName = ExecutorKind;

/**
 * One thing an executor did while it ran (a coding agent's tool call, file change, command,
 * retry or message), published on the feed as a `progress` message.
 */
export interface TaskProgress {
  kind: 'tool' | 'file' | 'command' | 'retry' | 'message';
  /** The agent's tool name (`Write`, `apply_patch`, `run_shell_command`, …). */
  tool?: string;
  /** For `file`: the path, relative to the worktree when it is inside it. */
  path?: string;
  /** For `file`: add, update, delete. */
  change?: string;
  /** For `command`: the command line as the agent reported it. */
  command?: string;
  /** For `command`: its exit code once it ended (null while running or unknown). */
  exitCode?: number | null;
  /** For `retry`: the attempt number and the HTTP status being retried. */
  attempt?: number;
  status?: number;
  /** The edit–verify round it belongs to (the verify command's run, and the retry that starts the next round). */
  round?: number;
  /** A short text (assistant message, tool description). */
  text?: string;
}

/** One run of the task's `verify` command on the edits made so far. */
export interface VerifyRun {
  /** The allowlist entry's name. */
  command: string;
  exitCode: number | null;
  /** stdout then stderr, trimmed to its head and tail (what the model is shown). */
  output: string;
  durationMs: number;
}

/**
 * The task's `verify` command, offered to an executor that loops (edit, verify, read the failure,
 * edit again). `run` puts the edits made so far where the command runs, then runs it.
 */
export interface VerifyHook {
  /** At most this many edit–verify rounds (programmer_pool.yaml `defaults.verify_rounds`). */
  maxRounds: number;
  run(): Promise<VerifyRun>;
}

/** One edit–verify round, as the receipt's `rounds` shows it. */
export type TaskRound = ReceiptRound;

export interface ExecutorInput {
  task: TaskSpec;
  /**
   * Absolute path of the task's checkout (the programmer's reused checkout, reset to the task's
   * base); the executor touches nothing outside it. Empty for an executor whose `checkout` is
   * 'none': it gets `files` instead.
   */
  worktree: string;
  /** The task's files at its base commit, edits kept in memory: given when no checkout is made. */
  files?: TaskFiles;
  programmer: ResolvedProgrammer;
  /** Aborting it stops the work (and kills any process tree) promptly. */
  signal: AbortSignal;
  llm: LlmClient;
  log?: Logger;
  /** Hears what the executor does while it runs (agent CLIs report their events here). */
  onProgress?: (progress: TaskProgress) => void;
  /** Given when the task has a `verify` command and the executor may run it between rounds. */
  verify?: VerifyHook;
}

export interface ExecutorOutcome {
  summary: string;
  /** Worktree-relative paths the executor edited or created. */
  filesEdited: string[];
  provider: string;
  model: string;
  usedBackup: boolean;
  tokens: TokenUsage;
  costUsd: number;
  /** The tail of a tool's output, when a tool ran. */
  outputTail?: string;
  /** The executor's edit–verify rounds; set only when it ran `verify` itself and the last run passed. */
  rounds?: TaskRound[];
}

export interface Executor {
  readonly kind: ExecutorKindName;
  /**
   * 'none': the executor only reads and writes files through `input.files` (no checkout is made
   * unless the task has a `verify` command). 'required' (the default): it runs tools on a
   * checkout, `input.worktree`.
   */
  readonly checkout?: 'none' | 'required';
  run(input: ExecutorInput): Promise<ExecutorOutcome>;
}

/** What an executor had spent when it failed; receipts still report it. */
export type PartialOutcome = Partial<Pick<ExecutorOutcome, 'provider' | 'model' | 'usedBackup' | 'tokens' | 'costUsd' | 'outputTail' | 'rounds'>>;

const partials = new WeakMap<object, PartialOutcome>();

/** Attaches what was spent to an error before it is thrown. */
export function withPartialOutcome<E>(err: E, partial: PartialOutcome): E {
  if (typeof err === 'object' && err !== null) partials.set(err, { ...partials.get(err), ...partial });
  return err;
}

export function partialOutcomeOf(err: unknown): PartialOutcome | undefined {
  return typeof err === 'object' && err !== null ? partials.get(err) : undefined;
}

/**
 * Sums two usages field by field. A count either side did not report makes the sum unknown
 * (null); an optional count absent on one side counts as 0 there, absent on both stays absent.
 */
export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  const sum = (x: number | null | undefined, y: number | null | undefined): number | null =>
    x === null || y === null || x === undefined || y === undefined ? null : x + y;
  const out: TokenUsage = { input: sum(a.input, b.input), output: sum(a.output, b.output) };
  for (const key of ['thinking', 'cache_read', 'cache_write'] as const) {
    const x = a[key];
    const y = b[key];
    if (x === undefined && y === undefined) continue;
    out[key] = x === null || y === null ? null : (x ?? 0) + (y ?? 0);
  }
  return out;
}
