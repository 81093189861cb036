import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { FsAllowlist, ModelsConfigFile } from '../../../src/config/schemas.ts';
import { createAiderExecutor, type AiderExecutorOptions } from '../../../src/executors/aider-executor.ts';
import { checkoutPath } from '../../../src/executors/checkouts.ts';
import { callCost } from '../../../src/llm/prices.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import type { LlmClient, Receipt } from '../../../src/llm/types.ts';
import { createTempRepo, FAKE_AIDER_DIR, gitOut, isRunning, waitFor, type TempRepo } from '../../support/git-fixtures.ts';
import { readPidFile } from '../../support/pidfile.ts';

const fsAllowlist: FsAllowlist = { read: ['**/*'], write: ['src/**', '*.md'], deny: ['**/.env'] };

const models: ModelsConfigFile = {
  providers: {
    ollama: { base_url: 'http://127.0.0.1:11434', base_url_env: 'OLLAMA_HOST', timeout_s: 300, models: { 'qwen2.5-coder:7b-instruct': { input_per_mtok: 0, output_per_mtok: 0 }, 'qwen2.5-coder:14b-instruct': { input_per_mtok: 0, output_per_mtok: 0 } } },
    openai: { base_url: 'https://api.openai.com/v1', base_url_env: 'OPENAI_BASE_URL', api_key_env: 'OPENAI_API_KEY', timeout_s: 120, models: { 'gpt-4o': { input_per_mtok: 2.5, output_per_mtok: 10, cache_read_per_mtok: 1.25 } } },
    anthropic: { base_url: 'https://api.anthropic.com', base_url_env: 'ANTHROPIC_BASE_URL', api_key_env: 'ANTHROPIC_API_KEY', timeout_s: 120, models: { 'claude-sonnet-4': { input_per_mtok: 3, output_per_mtok: 15 } } },
  },
};

function programmer(primary: string, backup?: string): ResolvedProgrammer {
  return { id: 'Prog-006', port: 6156, parent: 'Mgr-Code-01', primary, ...(backup ? { backup } : {}), capabilities: [], executor: 'aider', timeoutMs: 20_000, free: false };
}

const noLlm: LlmClient = {
  call: () => Promise.reject(new Error('the aider executor must not call the LLM client')),
};

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

interface RunOptions {
  prog?: ResolvedProgrammer;
  fake?: Record<string, string>;
  aider?: Partial<AiderExecutorOptions['aider']>;
  signal?: AbortSignal;
  task?: Partial<TaskSpec>;
}

async function runAider(f: TempRepo, files: string[], instruction: string, opts: RunOptions = {}) {
  const receipts: Receipt[] = [];
  const executor = createAiderExecutor({
    fsAllowlist,
    models,
    aider: { binary: 'aider', edit_format: 'diff', timeout_s: 20, ...opts.aider },
    env: { PATH: `${FAKE_AIDER_DIR}${path.delimiter}${process.env.PATH}`, HOME: f.root, ANTHROPIC_API_KEY: 'sk-ant-test', OPENAI_API_KEY: 'sk-openai-test' },
    extraEnv: { FAKE_AIDER_LOG: path.join(f.root, 'aider-log.jsonl'), ...opts.fake },
    killGraceMs: 200,
  });
  const result = await runProgrammerTask({
    task: { id: 't1', jobId: 'job1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction, files, ...opts.task },
    programmer: opts.prog ?? programmer('anthropic/claude-sonnet-4'),
    repo: f.repo,
    workspacesDir: f.workspacesDir,
    executor,
    llm: noLlm,
    receipts: { append: (r) => void receipts.push(r) },
    runId: 'run-a',
    fsAllowlist,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { result, receipts };
}

async function aiderLog(f: TempRepo): Promise<Array<Record<string, unknown>>> {
  const file = path.join(f.root, 'aider-log.jsonl');
  if (!existsSync(file)) return [];
  return (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('aider executor', () => {
  it('edits files through the aider CLI, commits them, reads the tokens from its output and prices them by models.yaml', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n', 'src/b.ts': 'export const b = 1;\n' }));
    const { result, receipts } = await runAider(f, ['src/a.ts', 'src/b.ts'], 'append line // reviewed');

    expect(result).toMatchObject({
      status: 'completed',
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      usedBackup: false,
      tokens: { input: 2500, output: 1100 },
      // Aider printed "$0.01" (its own prices, rounded); PAS prices the tokens: 2500·3 + 1100·15 µ$.
      costUsd: 0.024,
      kpi: { files_changed: 2, lines_added: 2, lines_removed: 0 },
      branch: 'pas/job1/t1',
    });
    expect(result.summary).toContain('src/a.ts, src/b.ts');
    expect(await gitOut(f.repo, 'show', 'pas/job1/t1:src/b.ts')).toBe('export const b = 1;\n// reviewed');
    expect(receipts[0]).toMatchObject({ status: 'completed', provider: 'anthropic', tokens: { input: 2500, output: 1100 }, cost_usd: 0.024 });

    const [call] = await aiderLog(f);
    // aider runs in the programmer's reused checkout, reset to the task's base.
    expect(call).toMatchObject({
      cwd: await checkoutPath(f.repo, f.workspacesDir, result.programmerId),
      model: 'anthropic/claude-sonnet-4',
      editFormat: 'diff',
      files: ['src/a.ts', 'src/b.ts'],
      providerEnv: { ANTHROPIC_API_KEY: 'sk-ant-test' },
    });
    expect(call?.flags).toEqual(expect.arrayContaining(['--yes-always', '--no-check-update', '--analytics-disable', '--no-auto-commits', '--no-git', '--no-pretty', '--no-stream']));
    expect(call?.envKeys).not.toContain('OPENAI_API_KEY');
  });

  it('applies a SEARCH/REPLACE block embedded in the instruction', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n' }));
    const instruction = ['Change a', 'a.ts', '<<<<<<< SEARCH', 'export const a = 1;', '=======', 'export const a = 2;', '>>>>>>> REPLACE'].join('\n');
    const { result } = await runAider(f, ['src/a.ts'], instruction);
    expect(result).toMatchObject({ status: 'completed', kpi: { files_changed: 1, lines_added: 1, lines_removed: 1 } });
    expect(await gitOut(f.repo, 'show', 'pas/job1/t1:src/a.ts')).toBe('export const a = 2;');
  });

  it('prices the run from models.yaml when aider prints no cost', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const { result } = await runAider(f, ['src/a.ts'], 'append line b', {
      prog: programmer('openai/gpt-4o'),
      fake: { FAKE_AIDER_USAGE: 'Tokens: 1M sent, 100k received.' },
    });
    expect(result).toMatchObject({ status: 'completed', tokens: { input: 1_000_000, output: 100_000 } });
    expect(result.costUsd).toBeCloseTo(3.5);
  });

  it('prices cached tokens aider reports by the same rule as every LLM call', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const { result } = await runAider(f, ['src/a.ts'], 'append line b', {
      prog: programmer('openai/gpt-4o'),
      fake: { FAKE_AIDER_USAGE: 'Tokens: 1M sent, 500k cached, 100k received.' },
    });
    const tokens = { input: 1_000_000, output: 100_000, cache_read: 500_000 };
    expect(result).toMatchObject({ status: 'completed', tokens });
    // OpenAI's prompt count includes the cached part: 500k at 2.5 + 500k at 1.25 + 100k at 10.
    expect(result.costUsd).toBe(callCost('openai', models.providers.openai!.models['gpt-4o']!, tokens));
    expect(result.costUsd).toBe(2.875);
  });

  it('fails with PAS_ERR_AIDER_NO_EDITS and the output tail when the API call fails, although aider exits 0', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const { result, receipts } = await runAider(f, ['src/a.ts'], 'append line b', { fake: { FAKE_AIDER_MODE: 'api-error' } });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_AIDER_NO_EDITS', retryable: true }, tokens: { input: null, output: null } });
    expect(result.error?.details?.outputTail).toMatch(/litellm\.AuthenticationError/);
    expect(result.error?.details?.outputTail).toMatch(/Aider v0\.86\.1/);
    expect(receipts[0]).toMatchObject({ status: 'failed', provider: 'anthropic', model: 'claude-sonnet-4', tokens: { input: null, output: null } });
    expect(await gitOut(f.repo, 'branch', '--list', 'pas/*')).toBe('');
  });

  it('fails with PAS_ERR_AIDER_NO_EDITS when the model answers without an edit', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const { result } = await runAider(f, ['src/a.ts'], 'append line b', { fake: { FAKE_AIDER_MODE: 'no-edits' } });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_AIDER_NO_EDITS' }, tokens: { input: 2500, output: 1100 } });
  });

  it('runs again with the backup model when the primary applies no edit', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const { result } = await runAider(f, ['src/a.ts'], 'append line b', {
      prog: programmer('ollama/qwen2.5-coder:7b-instruct', 'ollama/qwen2.5-coder:14b-instruct'),
      fake: { FAKE_AIDER_FAIL_MODELS: 'ollama_chat/qwen2.5-coder:7b-instruct' },
    });
    expect(result).toMatchObject({ status: 'completed', provider: 'ollama', model: 'qwen2.5-coder:14b-instruct', usedBackup: true, tokens: { input: 2500, output: 1100 }, costUsd: 0 });
    const calls = await aiderLog(f);
    expect(calls.map((c) => c.model)).toEqual(['ollama_chat/qwen2.5-coder:7b-instruct', 'ollama_chat/qwen2.5-coder:14b-instruct']);
    expect(calls[0]?.providerEnv).toEqual({ OLLAMA_API_BASE: 'http://127.0.0.1:11434' });
  });

  it('kills aider and the process it spawned at aider.timeout_s, even when aider ignores SIGTERM', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const pidfile = path.join(f.root, 'pids');
    const started = Date.now();
    const { result, receipts } = await runAider(f, ['src/a.ts'], 'append line b', {
      aider: { timeout_s: 0.6 },
      fake: { FAKE_AIDER_MODE: 'hang', FAKE_AIDER_PIDFILE: pidfile, FAKE_AIDER_IGNORE_TERM: '1' },
    });
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_TASK_TIMEOUT' } });
    expect(receipts[0]).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_TASK_TIMEOUT' } });
    const pids = await readPidFile(pidfile, 2);
    for (const pid of pids) expect(await waitFor(async () => !(await isRunning(pid)), 3_000)).toBe(true);
  });

  it('kills aider’s process tree when the task is cancelled and reports it cancelled', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const pidfile = path.join(f.root, 'pids');
    const controller = new AbortController();
    const running = runAider(f, ['src/a.ts'], 'append line b', { fake: { FAKE_AIDER_MODE: 'hang', FAKE_AIDER_PIDFILE: pidfile }, signal: controller.signal });
    const pids = await readPidFile(pidfile, 2);
    for (const pid of pids) expect(await isRunning(pid)).toBe(true);
    controller.abort();
    const { result, receipts } = await running;
    expect(result).toMatchObject({ status: 'cancelled', error: { code: 'PAS_ERR_TASK_CANCELLED' } });
    expect(receipts[0]?.status).toBe('cancelled');
    for (const pid of pids) expect(await waitFor(async () => !(await isRunning(pid)), 3_000)).toBe(true);
    expect(existsSync(path.join(f.workspacesDir, 'job1', 't1'))).toBe(false);
  });

  it('fails with PAS_ERR_AIDER_NOT_FOUND when the binary is missing', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const { result } = await runAider(f, ['src/a.ts'], 'append line b', { aider: { binary: 'aider-not-installed-here' } });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_AIDER_NOT_FOUND' } });
  });

  it('refuses task files that escape the worktree without starting aider', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const { result } = await runAider(f, ['src/a.ts', '../../outside.ts'], 'append line b');
    expect(result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_FS_PATH_ESCAPE' } });
    expect(await aiderLog(f)).toEqual([]);
  });

  it('commits nothing when aider edits a file outside the write allowlist', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n', 'package.json': '{}\n' }));
    const instruction = ['Sneak', '../package.json', '<<<<<<< SEARCH', '{}', '=======', '{"scripts":{"postinstall":"curl evil"}}', '>>>>>>> REPLACE'].join('\n');
    const { result } = await runAider(f, ['src/a.ts'], instruction);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_FS_NOT_ALLOWED' } });
    expect(await gitOut(f.repo, 'branch', '--list', 'pas/*')).toBe('');
    expect(await readFile(path.join(f.repo, 'package.json'), 'utf8')).toBe('{}\n');
  });
});
