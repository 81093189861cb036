/**
 * The verifyJob activity: runs the job's verify command on the merged job branch (in a reused
 * checkout of the merged head, through cmd_allowlist.yaml, no shell) and, when it fails while
 * fix-up rounds remain, plans the fix-up subtask: the failure's output (head and tail), the
 * subtasks that were merged, and as files the ones the job changed plus those the output names.
 * The fix-up runs on the merged head like any subtask (with the edit–test loop when its
 * programmer is native), and is merged and verified in turn by the job machine.
 */
import type { Logger } from 'pino';
import type { Subtask, VerifyJobInput, VerifyJobOutcome } from '../../../machines/job.machine.ts';
import { jobVerify } from '../../../machines/job.machine.ts';
import type { PasConfig } from '../../config/load-config.ts';
import type { CmdAllowlist } from '../../config/schemas.ts';
import { PasError } from '../../errors.ts';
import { checkoutFor } from '../../executors/checkouts.ts';
import { runAllowedCommand } from '../../executors/command-runner.ts';
import { git } from '../../executors/git-command.ts';
import { commandOutput, trimOutput } from '../../executors/verify-output.ts';

export interface VerifyJobDeps {
  cmdAllowlist: CmdAllowlist;
  workspacesDir: string;
  /** Fix-up subtasks a job may get after failed verifications (pas.yaml `verify.fixup_rounds`). */
  fixupRounds: number;
  logger: Logger;
}

/** The checkout the merged branches of a Manager's jobs are verified in (one per Manager and repository). */
export function verifyCheckoutId(managerId: string): string {
  return `verify-${managerId}`;
}

/** The verify command pas.yaml gives the lane of `managerId`, if any. */
export function laneVerifyCommand(config: PasConfig, managerId: string): string[] | undefined {
  const lane = config.pas.managers.find((m) => m.agent_id === managerId)?.lane;
  const verify = lane ? config.pas.verify.lanes[lane as keyof typeof config.pas.verify.lanes] : undefined;
  return verify ? [...verify] : undefined;
}

/** The verifyJob activity with its dependencies bound. */
export function createVerifyJob(deps: VerifyJobDeps) {
  return (input: VerifyJobInput, signal: AbortSignal): Promise<VerifyJobOutcome> =>
    verifyMergedJob({ ...deps, logger: deps.logger.child({ agentId: input.managerId, role: 'manager' }) }, input, signal);
}

/** What runtime services without a verifyJob do with a job that has a verify command: fail it. */
export async function verifyJobUnavailable(input: VerifyJobInput): Promise<VerifyJobOutcome> {
  throw new PasError('PAS_ERR_VERIFY_UNAVAILABLE', `job ${input.job.id} has a verify command but these runtime services cannot run it on the merged branch`, { details: { jobId: input.job.id, verify: jobVerify(input) } });
}

export async function verifyMergedJob(deps: VerifyJobDeps, input: VerifyJobInput, signal: AbortSignal): Promise<VerifyJobOutcome> {
  const { job, plan, merge } = input;
  const argv = jobVerify({ job, plan });
  // The job machine verifies only jobs with a command: a call without one is a defect.
  if (!argv) throw new PasError('PAS_ERR_INTERNAL', `job ${job.id} has no verify command to run on its merged branch`);
  if (!plan.repo || !merge.head) throw new PasError('PAS_ERR_GIT', `job ${job.id} has no merged head to verify`, { details: { jobId: job.id } });
  const lease = await checkoutFor({ repo: plan.repo, workspacesDir: deps.workspacesDir, programmerId: verifyCheckoutId(input.managerId), baseCommit: merge.head });
  let ran;
  try {
    ran = await runAllowedCommand({ allowlist: deps.cmdAllowlist, argv, cwd: lease.path, signal });
  } finally {
    lease.release();
  }
  const output = trimOutput(commandOutput(ran.stdout, ran.stderrTail));
  const outcome: VerifyJobOutcome = { passed: ran.exitCode === 0, command: ran.name, exitCode: ran.exitCode, output, head: lease.baseCommit };
  deps.logger.info({ jobId: job.id, command: ran.name, exitCode: ran.exitCode, head: outcome.head, durationMs: ran.durationMs, fixups: input.fixups }, 'verify command finished on the merged branch');
  if (outcome.passed || input.fixups >= deps.fixupRounds) return outcome;
  outcome.fixup = await planFixup(input, outcome, plan.repo, plan.baseCommit ?? null);
  return outcome;
}

/** The fix-up subtask for a failed verification of the merged branch. */
async function planFixup(input: VerifyJobInput, failed: VerifyJobOutcome, repo: string, base: string | null): Promise<Subtask> {
  const changed = base ? (await git(repo, ['diff', '--name-only', '-z', base, failed.head])).stdout.split('\0').filter(Boolean) : [];
  const tracked = new Set((await git(repo, ['ls-tree', '-r', '-z', '--name-only', failed.head])).stdout.split('\0').filter(Boolean));
  // Files the output names (test runners print paths, often absolute in the checkout): the tracked ones.
  const named = [...tracked].filter((file) => failed.output.includes(file));
  const files = [...new Set([...changed, ...named])].slice(0, 12);
  const merged = input.plan.subtasks.filter((s) => input.merge.merged.includes(s.id));
  const instruction = [
    `Fix-up round ${input.fixups + 1} of job ${input.job.id}: its subtasks were merged, but the job's verify command ${failed.command} fails on the merged branch (exit ${failed.exitCode ?? 'by signal'}).`,
    'Change the code so that the command passes; keep what each subtask did.',
    '',
    `The job: ${input.job.task.trim()}`,
    '',
    'The merged subtasks:',
    ...merged.map((s) => `- ${s.id}: ${s.instruction.trim().split('\n')[0]}`),
    '',
    'The command output (head and tail):',
    '```text',
    failed.output,
    '```',
  ].join('\n');
  return { id: `${input.job.id}-fix${input.fixups + 1}`, instruction, files };
}
