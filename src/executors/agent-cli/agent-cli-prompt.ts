/**
 * The task as an agent CLI gets it: the instruction, the files to work on, where it may write,
 * and the verify command it may run (the one command PAS runs after it, too).
 */
import type { TaskSpec } from '../../../machines/domain.ts';

export function agentPrompt(task: Pick<TaskSpec, 'instruction' | 'files' | 'verify'>, worktree: string): string {
  const parts = [task.instruction.trim(), ''];
  if (task.files.length > 0) {
    parts.push('Files to work on (relative to the current directory):', ...task.files.map((f) => `- ${f}`), '');
  }
  parts.push(
    `Work only inside ${worktree} (the current directory, a git worktree). Edit or create the files the task needs with your file tools; do not commit, PAS commits your changes.`,
  );
  if (task.verify && task.verify.length > 0) {
    parts.push(`When the edit is done, check it with this command (it is the only command allowed): ${task.verify.join(' ')}`);
  } else {
    parts.push('Do not run shell commands; no command is allowed for this task.');
  }
  return parts.join('\n');
}
