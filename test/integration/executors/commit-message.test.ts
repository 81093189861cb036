/**
 * A task's commit message goes to git through stdin, not argv: a task text past the kernel's
 * per-argument limit (128 KiB) commits like any other, its text kept whole in the message.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitMessage } from '../../../src/executors/run-task.ts';
import { commitStaged, createTaskWorktree, removeTaskWorktree, stageAll } from '../../../src/executors/worktree.ts';
import { createTempRepo, gitOut } from '../../support/git-fixtures.ts';

describe('commit messages', () => {
  it('commits a task whose text is larger than the argument-size limit, keeping it whole', async () => {
    const repo = await createTempRepo({ 'a.txt': 'a\n' });
    try {
      const worktree = await createTaskWorktree({ repo: repo.repo, workspacesDir: repo.workspacesDir, jobId: 'job-big', taskId: 'task-big', baseCommit: repo.base });
      await writeFile(path.join(worktree.path, 'a.txt'), 'b\n');
      const instruction = `Document every function.\n${'😀 emoji and words '.repeat(9_000)}`; // ~200 kB
      const message = commitMessage({ id: 'task-big', jobId: 'job-big', managerId: 'Mgr-Code-01', replyTo: 'x', instruction, files: ['a.txt'] } as never);
      expect(Buffer.byteLength(message)).toBeGreaterThan(131_072);
      const committed = await commitStaged(worktree.path, message, await stageAll(worktree.path));
      expect(committed.changed).toBe(true);
      const body = await gitOut(repo.repo, 'log', '-1', '--format=%B', committed.commit);
      expect(body.trim()).toBe(message.trim());
      await removeTaskWorktree({ repo: repo.repo, worktree: worktree.path });
    } finally {
      await repo.cleanup();
    }
  });
});
