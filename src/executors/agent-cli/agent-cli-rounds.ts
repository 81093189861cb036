/**
 * The edit–verify rounds of a coding-agent CLI (programmer_pool.yaml `verify_rounds`): after a
 * run, the task's verify command runs on the worktree; when it fails and rounds remain, the CLI
 * goes on in the same session with the failure output (a CLI that can resume, see
 * agent-cli-resume.ts), or in a new run whose prompt carries the task again with the failure
 * output. Each round's usage, the verify exit code and durations go into the receipt's `rounds`,
 * and each verify and each new round is published as progress (feed `progress`, with `round`).
 * The private home stays for every round of the task (the CLI's session lives there) and is
 * removed at the end.
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import type { ExecutorInput, ExecutorOutcome, PartialOutcome, TaskRound, VerifyRun } from '../executor.ts';
import { addUsage, partialOutcomeOf, withPartialOutcome } from '../executor.ts';
import { verifyFailedError } from '../verify-output.ts';
import { agentPrompt } from './agent-cli-prompt.ts';
import { RESUME_SUPPORT } from './agent-cli-resume.ts';
import type { AgentCliSpec } from './agent-cli-spec.ts';
import { agentRunHome, removeRunHome } from './agent-run-home.ts';
import { roundUsd } from '../../llm/prices.ts';

/** What one round asks of the CLI runner. */
export interface AgentCliRound {
  /** Only this model (the one the first round succeeded with). */
  ref?: string;
  /** The prompt (default: the task's). */
  prompt?: string;
  /** The private home kept across rounds (else each run gets its own, removed after it). */
  home?: string;
  /** Continue this session of the CLI. */
  session?: string;
  /** What the session used so far (a CLI that reports the session's total usage, see agent-cli-resume.ts). */
  sessionUsage?: TokenUsage;
}

/** One successful run: its outcome, the model it ran with, the session it named. */
export interface AgentCliRun {
  outcome: ExecutorOutcome;
  ref: string;
  session?: string;
}

export interface AgentCliRoundsOptions {
  spec: AgentCliSpec;
  runsDir: string;
  /** Epoch milliseconds, for round durations; injectable for tests. */
  now?: () => number;
}

/** What the CLI is told when the verify command failed: resumed, it already knows the task. */
export function verifyFollowUp(ran: VerifyRun, round: number, maxRounds: number, resumed: boolean, task: ExecutorInput['task'], worktree: string): string {
  const failure = [
    `The verify command ${ran.command} fails on your edits (exit ${ran.exitCode ?? 'by signal'}); this is round ${round} of ${maxRounds}. Its output (head and tail):`,
    '',
    '```text',
    ran.output,
    '```',
    '',
    'Change the files so that the command passes; keep what the task asked for.',
  ].join('\n');
  if (resumed) return failure;
  // A new run: the task again, the files as they now are in the worktree (the earlier round's edits stay).
  return [agentPrompt(task, worktree), '', 'An earlier attempt already edited the files in this directory.', failure].join('\n');
}

function sumUsage(a: TokenUsage | undefined, b: TokenUsage | undefined): TokenUsage | undefined {
  return a && b ? addUsage(a, b) : (a ?? b);
}

/**
 * Runs the task through `run` (the CLI runner), then its verify rounds when the task has a verify
 * command; without one, the single run's outcome as it is.
 */
export async function runAgentCliRounds(input: ExecutorInput, options: AgentCliRoundsOptions, run: (round: AgentCliRound) => Promise<AgentCliRun>): Promise<ExecutorOutcome> {
  const hook = input.verify;
  if (!hook) return (await run({})).outcome;
  const now = options.now ?? Date.now;
  const resume = RESUME_SUPPORT[options.spec.name];
  const home = agentRunHome(options.runsDir, input.task.id);
  const maxRounds = Math.max(1, hook.maxRounds);
  const rounds: TaskRound[] = [];
  let total: ExecutorOutcome | undefined;
  const spentSoFar = (extra?: PartialOutcome): PartialOutcome => {
    const base: PartialOutcome = total ? { ...total } : {};
    const withRounds = rounds.length > 0 ? { rounds } : {};
    if (!extra) return { ...base, ...withRounds };
    const tokens = sumUsage(base.tokens, extra.tokens);
    return { ...base, ...extra, ...(tokens ? { tokens } : {}), costUsd: (base.costUsd ?? 0) + (extra.costUsd ?? 0), ...withRounds };
  };
  try {
    let started = now();
    let current: AgentCliRun;
    try {
      current = await run({ home });
    } catch (err) {
      throw withPartialOutcome(err, spentSoFar(partialOutcomeOf(err)));
    }
    total = current.outcome;
    for (let round = 1; ; round++) {
      let ran: VerifyRun;
      try {
        ran = await hook.run();
      } catch (err) {
        throw withPartialOutcome(err, spentSoFar());
      }
      rounds.push({
        round,
        tokens: current.outcome.tokens,
        cost_usd: current.outcome.costUsd,
        reads: 0,
        verify_exit_code: ran.exitCode,
        verify_duration_ms: ran.durationMs,
        duration_ms: Math.max(0, now() - started),
      });
      input.onProgress?.({ kind: 'command', command: ran.command, exitCode: ran.exitCode, round, text: `round ${round} of ${maxRounds}` });
      input.log?.info({ taskId: input.task.id, round, command: ran.command, exitCode: ran.exitCode, durationMs: ran.durationMs }, 'verify command finished');
      if (ran.exitCode === 0) return { ...total, rounds };
      if (round >= maxRounds) throw withPartialOutcome(verifyFailedError(ran, round), spentSoFar());
      const session = resume ? current.session : undefined;
      input.onProgress?.({
        kind: 'retry',
        attempt: round + 1,
        round: round + 1,
        text: `verify failed (exit ${ran.exitCode ?? 'by signal'}); round ${round + 1} of ${maxRounds}: ${session ? `resuming ${options.spec.name} session` : `new ${options.spec.name} run`} with the failure output`,
      });
      started = now();
      const prompt = verifyFollowUp(ran, round, maxRounds, session !== undefined, input.task, input.worktree);
      try {
        current = await run({ ref: current.ref, prompt, home, ...(session ? { session, sessionUsage: total.tokens } : {}) });
      } catch (err) {
        throw withPartialOutcome(err, spentSoFar(partialOutcomeOf(err)));
      }
      const tokens: TokenUsage = sumUsage(total.tokens, current.outcome.tokens) ?? { input: null, output: null };
      total = { ...current.outcome, usedBackup: total.usedBackup, tokens, costUsd: roundUsd(total.costUsd + current.outcome.costUsd) };
    }
  } finally {
    await removeRunHome(home);
  }
}
