/**
 * `POST /aider/edit` on a programmer's own port runs the Aider CLI (here the stand-in that
 * prints what aider prints) in the task's worktree: its edit is committed on the task branch and
 * the receipt carries the tokens and cost aider reported. An LLM API error (aider still exits 0)
 * fails the task with PAS_ERR_AIDER_NO_EDITS and aider's output tail. Stopping the runtime while
 * aider runs returns only once aider's processes are gone, so nothing writes into the data dir after.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournal } from '../../../src/journal/journal.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { createTempRepo, FAKE_AIDER_DIR, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import type { TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { agentUrl, aiderWrapper, BASE_URL_ENV, GREET, http, programmerConfig, receiptOf, runTask, setEnv, until } from './programmer-harness.ts';

const KEY = 'sk-test-aider-0001';
const OPENAI_BASE = 'http://127.0.0.1:9/v1';

/** An "aider" that ignores SIGTERM and appends to a file in its worktree until it is killed. */
function busyWriter(dir: string): string {
  const file = path.join(dir, 'aider-busy');
  writeFileSync(
    file,
    ['#!/bin/sh', "trap '' TERM", `echo $$ > '${dir}/pid'`, `echo "$PWD" > '${dir}/cwd'`, 'i=0', 'while :; do i=$((i+1)); echo "line $i" >> busy.txt; sleep 0.02; done', ''].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('POST /aider/edit', () => {
  let tree: TestTree | undefined;
  let cfg: TempConfig | undefined;
  let fixture: TempRepo | undefined;
  let scratch: string | undefined;
  let restoreEnv: (() => void) | undefined;

  afterEach(async () => {
    await tree?.close();
    await fixture?.cleanup();
    cfg?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    restoreEnv?.();
    tree = cfg = fixture = scratch = restoreEnv = undefined;
  });

  async function boot(aiderBinary?: string, maxDailySpendUsd?: number) {
    cfg = programmerConfig({
      programmers: [
        { id: 'Prog-001', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', capabilities: ['premium', 'paid'] },
        { id: 'Prog-002', primary: 'ollama/qwen2.5-coder:7b-instruct', backup: 'ollama/qwen2.5-coder:14b-instruct', capabilities: ['fast', 'free'] },
      ],
      baseUrls: { openai: OPENAI_BASE },
      ...(aiderBinary ? { aiderBinary } : {}),
      ...(maxDailySpendUsd !== undefined ? { maxDailySpendUsd } : {}),
    });
    fixture = await createTempRepo({ 'src/greet.ts': GREET, 'README.md': '# demo\n' });
    tree = await startTestTree({ configDir: cfg.dir, services: createDefaultServices({}) });
    return agentUrl(tree, 'Prog-001');
  }

  it('commits the edit aider applied and writes a receipt with the tokens aider printed, priced by models.yaml', async () => {
    // The shipped config names `aider`; the stand-in is first on PATH.
    restoreEnv = setEnv({
      ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])),
      OPENAI_API_KEY: KEY,
      PATH: `${FAKE_AIDER_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
    });
    const prog = await boot();

    const { accepted, task } = await runTask(
      prog,
      { task_id: 'ai-1', message: 'append line export const extra = 1;', files: ['src/greet.ts'], repo: fixture!.repo },
      '/aider/edit',
    );
    expect(accepted).toMatchObject({ task_id: 'ai-1', programmer_id: 'Prog-001' });
    expect(task.status).toBe('completed');

    const branch = 'pas/direct-Prog-001/ai-1';
    expect(task.result.branch).toBe(branch);
    expect(await gitOut(fixture!.repo, 'diff', '--name-only', fixture!.base, branch)).toBe('src/greet.ts');
    expect(await gitOut(fixture!.repo, 'show', `${branch}:src/greet.ts`)).toBe(`${GREET}export const extra = 1;`);
    expect(await gitOut(fixture!.repo, 'status', '--porcelain')).toBe('');

    const receipt = receiptOf(tree!, 'ai-1');
    expect(receipt).toMatchObject({
      agent_id: 'Prog-001',
      provider: 'openai',
      model: 'gpt-4o',
      used_backup: false,
      status: 'completed',
      // "Tokens: 2.5k sent, 1.1k received. Cost: $0.01 message, $0.01 session." → 2500·2.5 + 1100·10 µ$
      cost_usd: 0.01725,
      kpi: { files_changed: 1, lines_added: 1, lines_removed: 0 },
    });
    expect(receipt.tokens).toStrictEqual({ input: 2500, output: 1100 });
    expect(task.result).toMatchObject({ provider: 'openai', model: 'gpt-4o', usedBackup: false, costUsd: 0.01725, tokens: { input: 2500, output: 1100 } });
  });

  it('fails the task with PAS_ERR_AIDER_NO_EDITS and the output tail when every model answers with an API error', async () => {
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), OPENAI_API_KEY: KEY });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-aider-'));
    const log = path.join(scratch, 'aider-runs.jsonl');
    const prog = await boot(aiderWrapper(scratch, { FAKE_AIDER_MODE: 'api-error', FAKE_AIDER_LOG: log }));

    const { task } = await runTask(prog, { task_id: 'ai-2', message: 'append line export const extra = 2;', files: ['src/greet.ts'], repo: fixture!.repo }, '/aider/edit');
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('PAS_ERR_AIDER_NO_EDITS');
    expect(task.error.message).toContain('The API provider is not able to authenticate you');
    expect(task.error.details.outputTail).toContain('litellm.AuthenticationError');
    expect(task.result.branch).toBeUndefined();
    expect(await gitOut(fixture!.repo, 'branch', '--list', 'pas/direct-Prog-001/ai-2')).toBe('');

    // aider ran with the primary, then once more with the backup, each pointed at PAS's LLM gateway
    // with a per-task credential: the real key never reaches it.
    const runs = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { model: string; files: string[]; providerEnv: Record<string, string> });
    expect(runs.map((r) => r.model)).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini']);
    expect(runs[0]!.files).toEqual(['src/greet.ts']);
    expect(runs[0]!.providerEnv.OPENAI_API_BASE).toBe(`${tree!.url}/llm/openai/v1`);
    expect(runs[0]!.providerEnv.OPENAI_API_KEY).toMatch(/^pas-task-/);
    expect(JSON.stringify(runs)).not.toContain(KEY);

    const receipt = receiptOf(tree!, 'ai-2');
    expect(receipt).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_AIDER_NO_EDITS' }, cost_usd: 0, kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 } });
    expect(receipt.tokens).toStrictEqual({ input: null, output: null });
    expect(existsSync(path.join(fixture!.repo, 'src/greet.ts'))).toBe(true);
    expect(readFileSync(path.join(fixture!.repo, 'src/greet.ts'), 'utf8')).toBe(GREET);
  });

  it('refuses a path outside the worktree before aider runs, and commits nothing when aider writes a denied file', async () => {
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), OPENAI_API_KEY: KEY });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-aider-'));
    const log = path.join(scratch, 'aider-runs.jsonl');
    const prog = await boot(aiderWrapper(scratch, { FAKE_AIDER_LOG: log }));

    const escape = (await runTask(prog, { task_id: 'ai-3', message: 'append line pwned', files: ['../outside.txt'], repo: fixture!.repo }, '/aider/edit')).task;
    expect(escape.status).toBe('failed');
    expect(escape.error.code).toBe('PAS_ERR_FS_PATH_ESCAPE');
    expect(existsSync(log)).toBe(false);
    expect(receiptOf(tree!, 'ai-3')).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_FS_PATH_ESCAPE' } });

    // aider's root is src/ (the folder of its one file); its reply also writes ../.env at the worktree's top.
    const message = ['Add a farewell.', '', '../.env', '<<<<<<< SEARCH', '=======', 'SECRET=1', '>>>>>>> REPLACE', '', 'greet.ts', '<<<<<<< SEARCH', "export const greeting = 'hello';", '=======', "export const greeting = 'hi';", '>>>>>>> REPLACE'].join('\n');
    const denied = (await runTask(prog, { task_id: 'ai-4', message, files: ['src/greet.ts'], repo: fixture!.repo }, '/aider/edit')).task;
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(denied.status).toBe('failed');
    expect(denied.error.code).toBe('PAS_ERR_FS_NOT_ALLOWED');
    expect(denied.result.branch).toBeUndefined();
    expect(await gitOut(fixture!.repo, 'branch', '--list', 'pas/direct-Prog-001/ai-4')).toBe('');
    expect(existsSync(path.join(fixture!.repo, '.env'))).toBe(false);
    expect(receiptOf(tree!, 'ai-4')).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_FS_NOT_ALLOWED' }, kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 } });
  });

  it('counts what aider spent against the daily budget and then refuses paid models without running aider', async () => {
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), OPENAI_API_KEY: KEY });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-aider-'));
    const log = path.join(scratch, 'aider-runs.jsonl');
    const prog = await boot(aiderWrapper(scratch, { FAKE_AIDER_LOG: log }), 0.005);
    const runs = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').length : 0);

    const first = (await runTask(prog, { task_id: 'ai-b1', message: 'append line export const a = 1;', files: ['src/greet.ts'], repo: fixture!.repo }, '/aider/edit')).task;
    expect(first.status).toBe('completed');
    expect(tree!.runtime.budget()).toMatchObject({ spent_today_usd: 0.01725, exhausted: true }); // 2.5k in, 1.1k out on gpt-4o

    const second = (await runTask(prog, { task_id: 'ai-b2', message: 'append line export const b = 2;', files: ['src/greet.ts'], repo: fixture!.repo }, '/aider/edit')).task;
    expect(second.status).toBe('failed');
    expect(second.error.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');
    expect(runs()).toBe(1);
    expect(receiptOf(tree!, 'ai-b2')).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_BUDGET_EXHAUSTED' }, cost_usd: 0 });

    // A free model still runs through aider.
    const local = (await runTask(agentUrl(tree!, 'Prog-002'), { task_id: 'ai-b3', message: 'append line export const c = 3;', files: ['src/greet.ts'], repo: fixture!.repo }, '/aider/edit')).task;
    expect(local.status).toBe('completed');
    expect(runs()).toBe(2);
    expect(tree!.runtime.budget().spent_today_usd).toBe(0.01725);
  });

  it('stopping the runtime mid-task returns only once aider has stopped writing into its worktree (killed after the grace when it ignores SIGTERM), and leaves the task running in the journal', async () => {
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), OPENAI_API_KEY: KEY });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-aider-'));
    const prog = await boot(busyWriter(scratch));
    const accepted = await http(`${prog}/aider/edit`, { body: { task_id: 'busy-1', message: 'keep writing', files: ['src/greet.ts'], repo: fixture!.repo } });
    expect(accepted.status, accepted.text).toBe(202);

    const cwdFile = path.join(scratch, 'cwd');
    await until(() => existsSync(cwdFile) && existsSync(path.join(readFileSync(cwdFile, 'utf8').trim(), 'busy.txt')), 'the executor writing', 20_000);
    const busy = path.join(readFileSync(cwdFile, 'utf8').trim(), 'busy.txt');
    const pid = Number(readFileSync(path.join(scratch, 'pid'), 'utf8'));
    expect(busy.startsWith(tree!.dataDir)).toBe(true);
    expect(alive(pid)).toBe(true);

    await tree!.gateway!.close();
    await tree!.runtime.stop();

    expect(alive(pid), 'the executor is gone once stop() has returned').toBe(false);
    const size = statSync(busy).size;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(statSync(busy).size, 'nothing writes after stop()').toBe(size);

    // Not a final: the task stays running in the journal, for the restart to resume or interrupt.
    const journal = openJournal(path.join(tree!.dataDir, 'pas.db'));
    try {
      expect(journal.getTask('busy-1')?.status).toBe('running');
    } finally {
      journal.close();
    }
    // The data dir goes at once: nothing is still writing into it.
    rmSync(tree!.dataDir, { recursive: true, force: true });
    expect(existsSync(tree!.dataDir)).toBe(false);
  });
});
