/**
 * The job of test/support/resolver-fixup-job.ts as a kill -9 scenario (kill-steps.ts runs it):
 * three subtasks, two of which conflict with the first merge and re-run as resolvers, whose merge
 * fails the job's verify, so a fix-up subtask repairs the merged branch. The programmers are
 * configured for aider (not installed) and the job names `native`: a resume that lost the job's
 * executor fails its subtasks. A completed job's branch must pass the verify command.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { isTerminalJobStatus } from '../../machines/statuses.ts';
import type { Journal } from '../../src/journal/journal.ts';
import { oneReleaseProgrammer, resolverFixupCassette, RF_FILES, RF_TASK, RF_VERIFY, RF_WANT } from '../support/resolver-fixup-job.ts';
import { git } from './kill-support.ts';
import { FIRST_STEPS, firstStepReached, type KillScenario } from './kill-steps.ts';

export const REPAIR_STEPS = [
  ...FIRST_STEPS,
  'resolvers-created',
  'resolver-started',
  'resolvers-finished',
  'resolvers-merged',
  'fixup-created',
  'fixup-started',
  'fixup-finished',
  'fixup-merged',
  'job-finished',
] as const;
export type RepairStep = (typeof REPAIR_STEPS)[number];

const finished = (s: string) => ['completed', 'failed', 'cancelled', 'interrupted'].includes(s);

/** The furthest step of the job the journal holds now. */
export function repairStepReached(journal: Journal, jobId: string): RepairStep | 'none' {
  const job = journal.getJob(jobId);
  if (!job) return 'none';
  if (isTerminalJobStatus(job.status)) return 'job-finished';
  const tasks = journal.tasksForJob(jobId);
  const fixup = tasks.find((t) => t.id.endsWith('-fix1'));
  const resolvers = tasks.filter((t) => t.id.endsWith('-r1'));
  const originals = tasks.filter((t) => t !== fixup && !resolvers.includes(t));
  if (fixup?.merged) return 'fixup-merged';
  if (fixup && finished(fixup.status)) return 'fixup-finished';
  if (fixup && fixup.attempt > 0) return 'fixup-started';
  if (fixup) return 'fixup-created';
  if (resolvers.length === 2 && resolvers.every((t) => t.merged)) return 'resolvers-merged';
  if (resolvers.length === 2 && resolvers.every((t) => finished(t.status))) return 'resolvers-finished';
  if (resolvers.some((t) => t.attempt > 0)) return 'resolver-started';
  if (resolvers.length > 0) return 'resolvers-created';
  return firstStepReached(journal, jobId, originals, 3);
}

/** Exactly one of each resolver and one fix-up, and the job's verify command passes on a clean checkout of the branch. */
async function repairedOnce({ repo, branch, journal, jobId }: { repo: string; branch: string; journal: Journal; jobId: string }): Promise<string[]> {
  const found: string[] = [];
  const ids = journal.tasksForJob(jobId).map((t) => t.id.slice(jobId.length + 1)).sort();
  const want = ['fix1', 't1', 't2', 't2-r1', 't3', 't3-r1'];
  if (ids.join(' ') !== want.join(' ')) found.push(`job ${jobId} has subtasks ${ids.join(', ')}, not ${want.join(', ')}`);
  const fixups = journal.getJob(jobId)?.outcome?.verification?.fixups;
  if (fixups !== 1) found.push(`job ${jobId} reports ${fixups} fix-up rounds, not 1`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pas-killrepair-verify-'));
  try {
    await git(repo, 'worktree', 'add', '--detach', dir, branch);
    const ran = await execa(RF_VERIFY[0]!, RF_VERIFY.slice(1), { cwd: dir, reject: false });
    if (ran.exitCode !== 0) found.push(`${branch} fails ${RF_VERIFY.join(' ')} (exit ${ran.exitCode}): ${ran.stdout.slice(-400)}`);
    return found;
  } finally {
    await git(repo, 'worktree', 'remove', '--force', dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function repairScenario(editDelayMs: number): KillScenario<RepairStep> {
  return {
    steps: REPAIR_STEPS,
    files: RF_FILES,
    cassette: resolverFixupCassette(editDelayMs),
    job: () => ({ task: RF_TASK, lane: 'Code', verify: RF_VERIFY, executor: 'native' }),
    stepReached: repairStepReached,
    mergeSteps: ['merge-1', 'resolvers-finished', 'fixup-finished'],
    want: RF_WANT,
    configure: (cfg) =>
      cfg.edit('programmer_pool.yaml', (doc) => {
        doc.setIn(['defaults', 'executor'], 'aider');
        doc.setIn(['aider', 'binary'], '/nonexistent/pas-test-aider');
        oneReleaseProgrammer(doc);
      }),
    checkCompleted: repairedOnce,
  };
}
