/**
 * Step 3/4 through the running tree: a programmer whose models live behind a local server that
 * speaks the provider's real wire protocol takes `POST /execute` on its own port, edits a real
 * git repository through the native executor and writes a receipt with the provider's own counts.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenUsage } from '../../../machines/domain.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import type { FakeKind, FixtureUsage } from '../../support/provider-fixtures.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import type { TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { agentUrl, BASE_URL_ENV, EDIT_REPLY, GREET, GREET_EDITED, http, programmerConfig, receiptOf, runTask, setEnv } from './programmer-harness.ts';

interface ProviderCase {
  kind: FakeKind;
  primary: string;
  backup: string;
  usage: FixtureUsage;
  /** The receipt's tokens: what the server reported, null for what it did not. */
  tokens: TokenUsage;
  /** models.yaml prices, worked out by hand. */
  costUsd: number;
  keyEnv?: string;
  keyHeader?: (headers: Record<string, string | string[] | undefined>) => unknown;
}

const CASES: ProviderCase[] = [
  {
    kind: 'ollama',
    primary: 'ollama/qwen2.5-coder:7b-instruct',
    backup: 'ollama/qwen2.5-coder:14b-instruct',
    // Ollama leaves eval_count out here: the output count is unknown, not 0.
    usage: { input: 412 },
    tokens: { input: 412, output: null },
    costUsd: 0,
  },
  {
    kind: 'openai',
    primary: 'openai/gpt-4o',
    backup: 'openai/gpt-4o-mini',
    usage: { input: 1200, output: 340, cacheRead: 200, thinking: 0 },
    tokens: { input: 1200, output: 340, thinking: 0, cache_read: 200 },
    // 1000 uncached input × 2.5 + 200 cached × 1.25 + 340 output × 10, per million
    costUsd: 0.00615,
    keyEnv: 'OPENAI_API_KEY',
    keyHeader: (h) => h.authorization,
  },
  {
    kind: 'anthropic',
    primary: 'anthropic/claude-sonnet-4',
    backup: 'anthropic/claude-3-7-sonnet',
    usage: { input: 1500, output: 200, cacheRead: 300, cacheWrite: 100 },
    tokens: { input: 1500, output: 200, cache_read: 300, cache_write: 100 },
    // 1500 × 3 + 300 × 0.3 + 100 × 3.75 + 200 × 15, per million
    costUsd: 0.007965,
    keyEnv: 'ANTHROPIC_API_KEY',
    keyHeader: (h) => h['x-api-key'],
  },
  {
    kind: 'google',
    primary: 'google/gemini-2.5-flash',
    backup: 'google/gemini-2.5-pro',
    // Gemini reports no cached count here; thinking is billed as output.
    usage: { input: 1000, output: 300, thinking: 50 },
    tokens: { input: 1000, output: 300, thinking: 50, cache_read: null },
    // 1000 × 0.3 + (300 + 50) × 2.5, per million
    costUsd: 0.001175,
    keyEnv: 'GEMINI_API_KEY',
    keyHeader: (h) => h['x-goog-api-key'],
  },
];

describe('a programmer on each provider edits a real repository through POST /execute', () => {
  let tree: TestTree | undefined;
  let server: FakeProvider | undefined;
  let cfg: TempConfig | undefined;
  let fixture: TempRepo | undefined;
  let restoreEnv: (() => void) | undefined;

  beforeEach(() => {
    restoreEnv = setEnv({
      ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])),
      OPENAI_API_KEY: 'sk-test-openai-0001',
      ANTHROPIC_API_KEY: 'sk-ant-test-0002',
      GEMINI_API_KEY: 'gm-test-key-0003',
    });
  });

  afterEach(async () => {
    await tree?.close();
    await server?.close();
    await fixture?.cleanup();
    cfg?.cleanup();
    restoreEnv?.();
    tree = server = cfg = fixture = restoreEnv = undefined;
  });

  it.each(CASES)('$kind: the task completes with exactly the intended commit and a receipt with the reported tokens and the priced cost', async (c) => {
    server = await startFakeProvider({ kind: c.kind, reply: EDIT_REPLY, usage: c.usage });
    cfg = programmerConfig({
      programmers: [{ id: 'Prog-001', primary: c.primary, backup: c.backup }],
      baseUrls: { [c.kind]: server.url },
    });
    fixture = await createTempRepo({ 'src/greet.ts': GREET, 'README.md': '# demo\n' });
    tree = await startTestTree({ configDir: cfg.dir, services: createDefaultServices({}) });
    const prog = agentUrl(tree, 'Prog-001');

    const taskId = `t-${c.kind}-1`;
    const { accepted, task } = await runTask(prog, {
      task_id: taskId,
      instruction: "Say 'hi' instead of 'hello' and add a farewell constant.",
      files: ['src/greet.ts'],
      repo: fixture.repo,
    });
    expect(accepted).toMatchObject({ task_id: taskId, programmer_id: 'Prog-001', status: 'queued' });
    expect(task.status).toBe('completed');
    expect(task.error).toBeNull();

    // The model was reached over its own protocol, with the key from the environment.
    expect(server.requests).toHaveLength(1);
    const sent = JSON.stringify(server.requests[0]!.body);
    expect(sent).toContain("export const greeting = 'hello';");
    if (c.kind === 'google') expect(server.requests[0]!.path).toContain('gemini-2.5-flash');
    else expect((server.requests[0]!.body as { model: string }).model).toBe(c.primary.split('/')[1]);
    if (c.keyEnv) expect(String(c.keyHeader!(server.requests[0]!.headers))).toContain(process.env[c.keyEnv]!);

    // Exactly the intended change, committed on the task's own branch; the checkout is untouched.
    const branch = `pas/direct-Prog-001/${taskId}`;
    expect(task.result.branch).toBe(branch);
    expect(await gitOut(fixture.repo, 'rev-parse', branch)).toBe(task.result.commit);
    expect(await gitOut(fixture.repo, 'rev-parse', `${branch}~1`)).toBe(fixture.base);
    expect(await gitOut(fixture.repo, 'diff', '--name-only', fixture.base, branch)).toBe('src/greet.ts');
    expect(await gitOut(fixture.repo, 'show', `${branch}:src/greet.ts`)).toBe(GREET_EDITED.trimEnd());
    expect(await gitOut(fixture.repo, 'diff', '--numstat', fixture.base, branch)).toBe('2\t1\tsrc/greet.ts');
    expect(await readFile(path.join(fixture.repo, 'src/greet.ts'), 'utf8')).toBe(GREET);
    expect(await gitOut(fixture.repo, 'status', '--porcelain')).toBe('');

    // The receipt: one line, the provider's counts as reported, the cost from models.yaml.
    const receipt = receiptOf(tree, taskId);
    const [provider, model] = [c.primary.split('/')[0], c.primary.slice(c.primary.indexOf('/') + 1)];
    expect(receipt).toMatchObject({
      run_id: tree.runtime.runId,
      job_id: 'direct-Prog-001',
      task_id: taskId,
      agent_id: 'Prog-001',
      provider,
      model,
      used_backup: false,
      status: 'completed',
      kpi: { files_changed: 1, lines_added: 2, lines_removed: 1 },
    });
    expect(receipt.error).toBeUndefined();
    expect(receipt.tokens).toStrictEqual(c.tokens);
    expect(receipt.cost_usd).toBe(c.costUsd);
    expect(Number(receipt.cost_usd.toFixed(6))).toBe(receipt.cost_usd);
    expect(Date.parse(receipt.finished_at)).toBeGreaterThanOrEqual(Date.parse(receipt.started_at));
    expect(receipt.duration_ms).toBeGreaterThanOrEqual(0);

    // The task result agrees with the receipt.
    expect(task.result).toMatchObject({ provider, model, usedBackup: false, costUsd: c.costUsd, kpi: receipt.kpi });
    expect(task.result.tokens).toStrictEqual(c.tokens);

    // The programmer's health shows it on its primary with a closed breaker.
    const health = await http(`${prog}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      agent: 'Prog-001',
      programmer_id: 'Prog-001',
      state: 'IDLE',
      llm: { current: c.primary, primary: c.primary, backup: c.backup, using_backup: false, circuit_open: false, failures: 0 },
    });
  });
});
