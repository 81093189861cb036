/** The executors boundary: what the runtime wires in. */
export type { Executor, ExecutorInput, ExecutorKindName, ExecutorOutcome, PartialOutcome, TaskProgress } from './executor.ts';
export { addUsage, partialOutcomeOf, withPartialOutcome } from './executor.ts';
export { createAiderExecutor, type AiderExecutorOptions } from './aider-executor.ts';
export { createNativeExecutor, type NativeExecutorOptions } from './native-executor.ts';
export { AGENT_CLI_SPECS, createAgentCliExecutor, type AgentCliExecutorOptions } from './agent-cli/index.ts';
export { runProgrammerTask, type ReceiptSink, type RunProgrammerTaskInput } from './run-task.ts';
export { mergeTaskBranches, type BranchMergeResult, type MergeBranchesInput, type MergeBranchesOutcome } from './merge-branches.ts';
export {
  cleanupOrphanWorktrees,
  commitWorktree,
  createTaskWorktree,
  diffKpi,
  jobBranchName,
  removeTaskWorktree,
  resolveBaseCommit,
  taskBranchName,
  taskWorktreePath,
  type TaskWorktree,
} from './worktree.ts';
export { FsGuard, normalizeRelativePath } from './fs-guard.ts';
export { matchCommand, runAllowedCommand, type CommandRequest, type CommandResult } from './command-runner.ts';
export { gitProcessCount, withRepoLock } from './git-command.ts';
export { checkoutFor, checkoutPath, prewarmCheckouts, warmCheckout, CHECKOUTS_DIR, type CheckoutInput, type CheckoutLease } from './checkouts.ts';
export { commitEdits, type CommitEditsInput, type CommitEditsResult } from './object-commit.ts';
export { closeObjectStores, objectStoreFor } from './object-store.ts';
export type { TaskFiles } from './task-files.ts';
