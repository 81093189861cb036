/**
 * A task may ask for a verify command (say the project's tests). It runs in the task's worktree
 * after the edit, through cmd_allowlist.yaml, without a shell; a failure fails the task before
 * anything is committed.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { CmdAllowlist, FsAllowlist } from '../../../src/config/schemas.ts';
import { createNativeExecutor } from '../../../src/executors/native-executor.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import type { LlmCallResult, LlmClient, Receipt } from '../../../src/llm/types.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

const fsAllowlist: FsAllowlist = { read: ['**/*'], write: ['src/**', 'test/**'], deny: [] };
const cmdAllowlist: CmdAllowlist = {
  timeout_s: 60,
  commands: [{ name: 'node-test', program: 'node', args: ['--test'], allow_extra_args: true }],
};
const programmer: ResolvedProgrammer = { id: 'Prog-001', port: 6151, parent: 'Mgr-Code-01', primary: 'ollama/qwen2.5-coder:7b-instruct', capabilities: [], executor: 'native', timeoutMs: 60_000, free: true };

const SOURCE = 'export function add(a, b) {\n  return a + b;\n}\n';
const TEST = "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { add } from '../src/add.mjs';\ntest('adds', () => assert.equal(add(2, 3), 5));\n";

function llmReplying(text: string): LlmClient {
  return {
    async call(): Promise<LlmCallResult> {
      return { text, usage: { input: 30, output: 12 }, provider: 'ollama', model: 'qwen2.5-coder:7b-instruct', ref: 'ollama/qwen2.5-coder:7b-instruct', usedBackup: false, costUsd: 0, attempts: [] };
    },
  };
}

const edit = (from: string, to: string) => ['src/add.mjs', '<<<<<<< SEARCH', from, '=======', to, '>>>>>>> REPLACE'].join('\n');

let repo: TempRepo | undefined;
afterEach(async () => {
  await repo?.cleanup();
  repo = undefined;
});

async function run(reply: string, verify: string[]) {
  repo = await createTempRepo({ 'src/add.mjs': SOURCE, 'test/add.test.mjs': TEST });
  const receipts: Receipt[] = [];
  const task: TaskSpec = { id: 't1', jobId: 'jv', managerId: 'Mgr-Code-01', replyTo: 'x', instruction: 'Rename the parameters of add', files: ['src/add.mjs'], baseCommit: repo.base, verify };
  const result = await runProgrammerTask({
    task,
    programmer,
    repo: repo.repo,
    workspacesDir: repo.workspacesDir,
    executor: createNativeExecutor({ fsAllowlist }),
    llm: llmReplying(reply),
    receipts: { append: (r) => void receipts.push(r) },
    runId: 'run-v',
    fsAllowlist,
    cmdAllowlist,
    verifyRounds: 1,
  });
  return { result, receipts };
}

describe('a task verify command', () => {
  it('commits the edit when the allowlisted verify command passes in the worktree', async () => {
    const { result, receipts } = await run(edit('export function add(a, b) {\n  return a + b;', 'export function add(x, y) {\n  return x + y;'), ['node', '--test', 'test/']);
    expect(result.status).toBe('completed');
    expect(await gitOut(repo!.repo, 'show', `${result.branch!}:src/add.mjs`)).toBe('export function add(x, y) {\n  return x + y;\n}');
    expect(receipts.map((r) => r.status)).toEqual(['completed']);
  });

  it('fails the task with PAS_ERR_VERIFY_FAILED and commits nothing when the verify command fails its only round', async () => {
    const { result, receipts } = await run(edit('  return a + b;', '  return a - b;'), ['node', '--test', 'test/']);
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({ code: 'PAS_ERR_VERIFY_FAILED', details: { command: 'node-test', exitCode: 1, rounds: 1 } });
    expect(String(result.error?.details?.output)).toContain('adds');
    expect(await gitOut(repo!.repo, 'branch', '--list', 'pas/jv/t1')).toBe('');
    expect(receipts).toMatchObject([{ status: 'failed', error: { code: 'PAS_ERR_VERIFY_FAILED' }, tokens: { input: 30, output: 12 }, rounds: [{ round: 1, verify_exit_code: 1 }] }]);
  });

  it('refuses a verify command that is not allowlisted, without a shell ever running it', async () => {
    const marker = path.join(os.tmpdir(), `pas-verify-marker-${process.pid}-${Date.now()}`);
    const { result } = await run(edit('  return a + b;', '  return b + a;'), ['sh', '-c', `touch ${marker}`]);
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('PAS_ERR_CMD_NOT_ALLOWED');
    expect(existsSync(marker)).toBe(false);
  });
});
