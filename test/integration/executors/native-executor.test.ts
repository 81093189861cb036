import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { FsAllowlist } from '../../../src/config/schemas.ts';
import { PasError } from '../../../src/errors.ts';
import { createNativeExecutor } from '../../../src/executors/native-executor.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import type { LlmCallOptions, LlmCallResult, LlmClient, Receipt } from '../../../src/llm/types.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

const fsAllowlist: FsAllowlist = { read: ['**/*'], write: ['src/**', '*.md'], deny: ['**/.env'] };

const programmer: ResolvedProgrammer = {
  id: 'Prog-001',
  port: 6151,
  parent: 'Mgr-Code-01',
  primary: 'ollama/qwen2.5-coder:7b-instruct',
  backup: 'ollama/qwen2.5-coder:14b-instruct',
  capabilities: ['fast'],
  executor: 'native',
  timeoutMs: 10_000,
  free: true,
};

/** An LlmClient that answers each call with the next scripted reply and records the calls. */
class ScriptedLlm implements LlmClient {
  readonly calls: LlmCallOptions[] = [];
  constructor(private readonly replies: Array<string | ((o: LlmCallOptions) => Promise<string>)>) {}

  async call(options: LlmCallOptions): Promise<LlmCallResult> {
    this.calls.push(structuredClone({ ...options, request: { ...options.request, signal: undefined } }));
    const next = this.replies[this.calls.length - 1];
    if (next === undefined) throw new PasError('PAS_ERR_LLM_CASSETTE', 'no scripted reply left');
    const text = typeof next === 'string' ? next : await next(options);
    const n = this.calls.length;
    return {
      text,
      usage: { input: 100 * n, output: 10 * n },
      provider: 'ollama',
      model: n === 1 ? 'qwen2.5-coder:7b-instruct' : 'qwen2.5-coder:14b-instruct',
      ref: n === 1 ? options.primary : options.backup ?? options.primary,
      usedBackup: n > 1,
      costUsd: 0.001 * n,
      attempts: [],
    };
  }
}

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

function task(id: string, files: string[], instruction: string, extra: Partial<TaskSpec> = {}): TaskSpec {
  return { id, jobId: 'job1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction, files, ...extra };
}

async function run(f: TempRepo, t: TaskSpec, llm: LlmClient, signal?: AbortSignal) {
  const receipts: Receipt[] = [];
  let clock = Date.parse('2025-01-01T00:00:00Z');
  const result = await runProgrammerTask({
    task: t,
    programmer,
    repo: f.repo,
    workspacesDir: f.workspacesDir,
    executor: createNativeExecutor({ fsAllowlist }),
    llm,
    receipts: { append: (r) => void receipts.push(r) },
    runId: 'run-1',
    fsAllowlist,
    now: () => (clock += 250),
    ...(signal ? { signal } : {}),
  });
  return { result, receipts };
}

const greetBlock = ['src/greet.ts', '```ts', '<<<<<<< SEARCH', "export const greeting = 'hello';", '=======', "export const greeting = 'hello, world';", '>>>>>>> REPLACE', '```'].join('\n');

describe('native executor through runProgrammerTask', () => {
  it('edits and creates files in a real repository, commits them on the task branch and writes one receipt', async () => {
    const f = (fixture = await createTempRepo({ 'src/greet.ts': "export const greeting = 'hello';\n", 'README.md': '# demo\n' }));
    const reply = `${greetBlock}\n\nsrc/extra.ts\n<<<<<<< SEARCH\n=======\nexport const extra = 1;\n>>>>>>> REPLACE\n`;
    const llm = new ScriptedLlm([reply]);

    const { result, receipts } = await run(f, task('t1', ['src/greet.ts'], 'Say hello to the world'), llm);

    expect(result).toMatchObject({
      taskId: 't1',
      jobId: 'job1',
      programmerId: 'Prog-001',
      status: 'completed',
      provider: 'ollama',
      model: 'qwen2.5-coder:7b-instruct',
      usedBackup: false,
      tokens: { input: 100, output: 10 },
      costUsd: 0.001,
      kpi: { files_changed: 2, lines_added: 2, lines_removed: 1 },
      branch: 'pas/job1/t1',
    });
    expect(result.commit).toBe(await gitOut(f.repo, 'rev-parse', 'pas/job1/t1'));
    expect(await gitOut(f.repo, 'show', 'pas/job1/t1:src/greet.ts')).toBe("export const greeting = 'hello, world';");
    expect(await gitOut(f.repo, 'show', 'pas/job1/t1:src/extra.ts')).toBe('export const extra = 1;');
    expect(await readFile(path.join(f.repo, 'src/greet.ts'), 'utf8')).toBe("export const greeting = 'hello';\n");

    const prompt = llm.calls[0]!.request.messages.map((m) => m.content).join('\n');
    expect(prompt).toContain('Say hello to the world');
    expect(prompt).toContain("export const greeting = 'hello';");
    expect(llm.calls[0]).toMatchObject({ agentId: 'Prog-001', primary: programmer.primary, backup: programmer.backup });

    expect(receipts).toEqual([
      {
        run_id: 'run-1',
        job_id: 'job1',
        task_id: 't1',
        agent_id: 'Prog-001',
        provider: 'ollama',
        model: 'qwen2.5-coder:7b-instruct',
        used_backup: false,
        status: 'completed',
        tokens: { input: 100, output: 10 },
        cost_usd: 0.001,
        duration_ms: 250,
        kpi: { files_changed: 2, lines_added: 2, lines_removed: 1 },
        started_at: '2025-01-01T00:00:00.250Z',
        finished_at: '2025-01-01T00:00:00.500Z',
      },
    ]);
  });

  it('sends a non-matching SEARCH back once with the error and applies the corrected reply, summing usage', async () => {
    const f = (fixture = await createTempRepo({ 'src/greet.ts': "export const greeting = 'hello';\n" }));
    const wrong = ['src/greet.ts', '<<<<<<< SEARCH', "export const greeting = 'hi';", '=======', "export const greeting = 'bye';", '>>>>>>> REPLACE'].join('\n');
    const llm = new ScriptedLlm([wrong, greetBlock]);

    const { result, receipts } = await run(f, task('t1', ['src/greet.ts'], 'Greet the world'), llm);

    expect(result.status).toBe('completed');
    expect(llm.calls).toHaveLength(2);
    const followUp = llm.calls[1]!.request.messages;
    expect(followUp.at(-2)).toEqual({ role: 'assistant', content: wrong });
    expect(followUp.at(-1)?.role).toBe('user');
    expect(followUp.at(-1)?.content).toMatch(/did not match/);
    expect(result).toMatchObject({ tokens: { input: 300, output: 30 }, usedBackup: true, model: 'qwen2.5-coder:14b-instruct' });
    expect(result.costUsd).toBeCloseTo(0.003);
    expect(receipts[0]).toMatchObject({ status: 'completed', tokens: { input: 300, output: 30 } });
    expect(await gitOut(f.repo, 'show', 'pas/job1/t1:src/greet.ts')).toBe("export const greeting = 'hello, world';");
  });

  it('fails with PAS_ERR_EDIT_MALFORMED after a second unusable reply, with a receipt that still counts the tokens', async () => {
    const f = (fixture = await createTempRepo({ 'src/greet.ts': "export const greeting = 'hello';\n" }));
    const llm = new ScriptedLlm(['Sure! I changed it.', 'Done, the file is updated.']);

    const { result, receipts } = await run(f, task('t1', ['src/greet.ts'], 'Greet'), llm);

    expect(result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_EDIT_MALFORMED' }, tokens: { input: 300, output: 30 } });
    expect(result.branch).toBeUndefined();
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_EDIT_MALFORMED' }, kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 } });
    expect(await gitOut(f.repo, 'branch', '--list', 'pas/*')).toBe('');
  });

  it('fails with PAS_ERR_EDIT_NO_MATCH when the corrected reply still does not match', async () => {
    const f = (fixture = await createTempRepo({ 'src/greet.ts': "export const greeting = 'hello';\n" }));
    const wrong = ['src/greet.ts', '<<<<<<< SEARCH', 'nothing like this', '=======', 'x', '>>>>>>> REPLACE'].join('\n');
    const { result } = await run(f, task('t1', ['src/greet.ts'], 'Greet'), new ScriptedLlm([wrong, wrong]));
    expect(result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_EDIT_NO_MATCH' } });
  });

  it('refuses a reply that edits outside the worktree or a denied file and writes nothing', async () => {
    const f = (fixture = await createTempRepo({ 'src/greet.ts': "export const greeting = 'hello';\n", '.env': 'SECRET=1\n' }));
    const escape = ['../outside.ts', '<<<<<<< SEARCH', '=======', 'pwned', '>>>>>>> REPLACE', '', greetBlock].join('\n');
    const first = await run(f, task('t1', ['src/greet.ts'], 'Greet'), new ScriptedLlm([escape]));
    expect(first.result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_FS_PATH_ESCAPE' } });

    const denied = ['.env', '<<<<<<< SEARCH', 'SECRET=1', '=======', 'SECRET=2', '>>>>>>> REPLACE'].join('\n');
    const second = await run(f, task('t2', ['src/greet.ts'], 'Greet'), new ScriptedLlm([denied]));
    expect(second.result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_FS_NOT_ALLOWED' } });

    expect(await gitOut(f.repo, 'branch', '--list', 'pas/*')).toBe('');
    expect(await readFile(path.join(f.repo, '.env'), 'utf8')).toBe('SECRET=1\n');
  });

  it('refuses a task whose file list escapes the worktree before calling the model', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const llm = new ScriptedLlm([greetBlock]);
    const { result, receipts } = await run(f, task('t1', ['src/../../etc/passwd'], 'Read it'), llm);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_FS_PATH_ESCAPE' } });
    expect(llm.calls).toHaveLength(0);
    expect(receipts[0]).toMatchObject({ provider: null, model: null, tokens: { input: null, output: null }, cost_usd: 0 });
  });

  it('reports a cancelled task with a receipt when the signal aborts during the model call', async () => {
    const f = (fixture = await createTempRepo({ 'src/greet.ts': "export const greeting = 'hello';\n" }));
    const controller = new AbortController();
    const llm = new ScriptedLlm([
      async (options) => {
        controller.abort();
        await new Promise((r) => setTimeout(r, 20));
        expect(options.request.signal?.aborted).toBe(true);
        return greetBlock;
      },
    ]);
    const { result, receipts } = await run(f, task('t1', ['src/greet.ts'], 'Greet'), llm, controller.signal);
    expect(result).toMatchObject({ status: 'cancelled', error: { code: 'PAS_ERR_TASK_CANCELLED' } });
    expect(receipts[0]).toMatchObject({ status: 'cancelled', tokens: { input: 100, output: 10 } });
    expect(await gitOut(f.repo, 'branch', '--list', 'pas/*')).toBe('');
  });

  it('fails with PAS_ERR_TASK_TIMEOUT when the task outlives its timeout', async () => {
    const f = (fixture = await createTempRepo({ 'src/greet.ts': "export const greeting = 'hello';\n" }));
    const llm = new ScriptedLlm([
      (options) =>
        new Promise((_, reject) => {
          options.request.signal?.addEventListener('abort', () => reject(new PasError('PAS_ERR_LLM_TIMEOUT', 'aborted')));
        }),
    ]);
    const { result, receipts } = await run(f, task('t1', ['src/greet.ts'], 'Greet', { timeoutMs: 300 }), llm);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_TASK_TIMEOUT' } });
    expect(receipts[0]).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_TASK_TIMEOUT' } });
  });
});
