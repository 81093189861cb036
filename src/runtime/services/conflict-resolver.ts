/**
 * The resolver of a conflicting task branch: instead of re-running the subtask blindly on the
 * merged head, its re-run is told what collided. For each conflicting file, `git merge-tree`
 * (no worktree) gives the file with conflict markers; each conflicting hunk (both sides, a few
 * lines around) goes into the instruction, with the conflicting subtask's instruction and those
 * of the merged subtasks that changed the same files. The resolver runs on the merged head, so
 * what it produces is the resolution on top of what is merged (and is verified again when the
 * job has a verify command).
 */
import type { Subtask } from '../../../machines/job.machine.ts';
import { git } from '../../executors/git-command.ts';

export interface ResolverInput {
  repo: string;
  baseCommit: string;
  /** The job branch head after the merge. */
  head: string;
  /** The conflicting task's branch, subtask and files. */
  branch: string;
  subtask: Subtask;
  files: string[];
  /** Merged subtasks with their commits. */
  merged: Array<{ subtask: Subtask; commit: string }>;
}

const CONTEXT_LINES = 3;
const MAX_HUNK_LINES = 80;

/** The conflicting hunks of `text` (a file with conflict markers), each with a few lines around it. */
export function conflictHunks(text: string): string[] {
  const lines = text.split('\n');
  const hunks: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('<<<<<<< ')) continue;
    let end = i;
    while (end < lines.length && !lines[end]!.startsWith('>>>>>>> ')) end++;
    const from = Math.max(0, i - CONTEXT_LINES);
    const to = Math.min(lines.length, end + 1 + CONTEXT_LINES);
    let hunk = lines.slice(from, to);
    if (hunk.length > MAX_HUNK_LINES) hunk = [...hunk.slice(0, MAX_HUNK_LINES / 2), '… (lines left out) …', ...hunk.slice(-MAX_HUNK_LINES / 2)];
    hunks.push(hunk.join('\n'));
    i = end;
  }
  return hunks;
}

/** The resolver's instruction, or undefined when git shows no marked hunk (the plain re-run is kept). */
export async function resolverInstruction(input: ResolverInput): Promise<string | undefined> {
  const out = await git(input.repo, ['merge-tree', '--write-tree', '--no-messages', input.head, input.branch], { okCodes: [1] });
  const tree = out.stdout.split('\n', 1)[0]!.trim();
  const sections: string[] = [];
  for (const file of input.files) {
    const shown = await git(input.repo, ['show', `${tree}:${file}`], { okCodes: [128] });
    if (shown.exitCode !== 0) continue;
    const hunks = conflictHunks(shown.stdout);
    hunks.forEach((hunk, i) => sections.push(`${file}, conflict ${i + 1} of ${hunks.length} (the merged branch above =======, this subtask's change below it):`, '```text', hunk, '```', ''));
  }
  if (sections.length === 0) return undefined;
  const others: string[] = [];
  for (const { subtask, commit } of input.merged) {
    const changed = (await git(input.repo, ['diff', '--name-only', '-z', input.baseCommit, commit])).stdout.split('\0');
    if (changed.some((f) => input.files.includes(f))) others.push(`- ${subtask.id}: ${subtask.instruction.trim()}`);
  }
  return [
    `Resolve a merge conflict. Subtask ${input.subtask.id} was done on the base commit, and its change conflicts with what other subtasks already merged. The files below are the merged branch as it is now; make this subtask's change on top of them, keeping what the merged subtasks did.`,
    '',
    `This subtask's instruction: ${input.subtask.instruction.trim()}`,
    '',
    'The merged subtasks that changed the same files:',
    ...(others.length > 0 ? others : ['- (none found)']),
    '',
    'The conflicting hunks:',
    '',
    ...sections,
  ].join('\n');
}
