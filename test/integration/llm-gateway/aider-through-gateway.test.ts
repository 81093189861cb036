/**
 * Aider reaches its model only through PAS's LLM gateway: it runs with PAS's base URL and a
 * per-task credential (never the real key: read from /proc/<pid>/environ), the receipt carries
 * the usage PAS measured (not what aider printed), a spent job budget fails the subtask with
 * PAS_ERR_BUDGET_EXHAUSTED, and the credential dies with the task.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { POOL_ID } from '../../../machines/pas-system.machine.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import { readPidFile } from '../../support/pidfile.ts';
import type { TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { agentUrl, aiderWrapper, BASE_URL_ENV, GREET, http, openFeed, programmerConfig, readReceipts, receiptOf, runTask, setEnv, until, waitForTask, type FeedClient } from '../programmer/programmer-harness.ts';

const REAL_KEY = 'sk-openai-real-key-0123456789-never-in-aider';

describe('aider behind the LLM gateway', () => {
  let tree: TestTree | undefined;
  let cfg: TempConfig | undefined;
  let fixture: TempRepo | undefined;
  let fake: FakeProvider | undefined;
  let feed: FeedClient | undefined;
  let scratch: string | undefined;
  let restoreEnv: (() => void) | undefined;

  afterEach(async () => {
    feed?.close();
    await tree?.close();
    await fake?.close();
    await fixture?.cleanup();
    cfg?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    restoreEnv?.();
    tree = cfg = fixture = fake = feed = scratch = restoreEnv = undefined;
  });

  async function boot(aiderEnv: Record<string, string>, options: { maxJobSpendUsd?: number } = {}) {
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), OPENAI_API_KEY: REAL_KEY });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-aider-gw-'));
    fake = await startFakeProvider({ kind: 'openai', usage: { input: 1234, output: 56 } });
    cfg = programmerConfig({
      programmers: [{ id: 'Prog-001', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', capabilities: ['premium', 'paid'], executor: 'aider' }],
      baseUrls: { openai: fake.url },
      aiderBinary: aiderWrapper(scratch, { FAKE_AIDER_CALL_LLM: '1', ...aiderEnv }),
    });
    if (options.maxJobSpendUsd !== undefined) cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['cost_optimization', 'max_job_spend_usd'], options.maxJobSpendUsd));
    fixture = await createTempRepo({ 'src/greet.ts': GREET, 'README.md': '# demo\n' });
    const logFile = path.join(scratch, 'pas.log');
    const logger = pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: true }));
    tree = await startTestTree({ configDir: cfg.dir, services: createDefaultServices({}), logger });
    feed = await openFeed(tree.url);
    return { prog: agentUrl(tree, 'Prog-001'), logFile };
  }

  it('runs aider with the gateway and a task credential, and receipts the usage PAS measured, not what aider printed', async () => {
    const { prog, logFile } = await boot({ FAKE_AIDER_LOG: '/dev/null' });
    const { task } = await runTask(prog, { task_id: 'gw-1', message: 'append line export const extra = 1;', files: ['src/greet.ts'], repo: fixture!.repo }, '/aider/edit');
    expect(task.status).toBe('completed');

    // The provider saw the real key; aider never had it.
    expect(fake!.requests).toHaveLength(1);
    expect(fake!.requests[0]!.headers.authorization).toBe(`Bearer ${REAL_KEY}`);

    // Aider printed "Tokens: 2.5k sent, 1.1k received. Cost: $0.01"; the gateway measured 1234 / 56.
    const receipt = receiptOf(tree!, 'gw-1');
    expect(receipt).toMatchObject({ provider: 'openai', model: 'gpt-4o', used_backup: false, status: 'completed' });
    expect(receipt.tokens).toMatchObject({ input: 1234, output: 56 });
    expect(receipt.cost_usd).toBeCloseTo((1234 * 2.5 + 56 * 10) / 1e6, 9);

    const everything = [readFileSync(logFile, 'utf8'), JSON.stringify(receipt), feed!.raw.join('\n')].join('\n');
    expect(everything).not.toContain(REAL_KEY);
    expect(everything).not.toMatch(/pas-task-[A-Za-z0-9_-]{10,}/);
  });

  it('never puts the real key in aider\'s environment (read from /proc), and the credential stops working when the task ends', async () => {
    const pidFile = path.join(os.tmpdir(), `pas-aider-pid-${process.pid}-${Date.now()}`);
    const { prog } = await boot({ FAKE_AIDER_MODE: 'hang', FAKE_AIDER_PIDFILE: pidFile });
    const accepted = await http(`${prog}/aider/edit`, { body: { task_id: 'gw-2', message: 'wait', files: ['src/greet.ts'], repo: fixture!.repo } });
    expect(accepted.status).toBe(202);
    const pid = (await readPidFile(pidFile, 2))[0]!;
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ.join('\n')).not.toContain(REAL_KEY);
    const credential = environ.find((e) => e.startsWith('OPENAI_API_KEY='))!.slice('OPENAI_API_KEY='.length);
    expect(credential).toMatch(/^pas-task-/);
    expect(environ).toContain(`OPENAI_API_BASE=${tree!.url}/llm/openai/v1`);
    rmSync(pidFile, { force: true });

    const call = () => fetch(`${tree!.url}/llm/openai/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, body: '{"model":"gpt-4o","messages":[]}' });
    expect((await call()).status).toBe(200);
    tree!.runtime.system.system.get(POOL_ID)!.send({ type: 'task.cancel', taskId: 'gw-2' });
    const done = await waitForTask(prog, 'gw-2');
    expect(done.status).toBe('cancelled');
    const after = await call();
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
    // The cancelled run winds down (aider's tree killed, worktree removed) and leaves its receipt.
    await until(() => readReceipts(tree!).some((r) => r.task_id === 'gw-2'), 'the cancelled task\'s receipt', 20_000);
    // Both calls made with the task's credential count: aider's and the one this test made with it.
    expect(receiptOf(tree!, 'gw-2')).toMatchObject({ status: 'cancelled', tokens: { input: 2 * 1234, output: 2 * 56 } });
  });

  it('fails the subtask with PAS_ERR_BUDGET_EXHAUSTED when the job\'s budget is spent before aider\'s call', async () => {
    const { prog } = await boot({}, { maxJobSpendUsd: 0 });
    const { task } = await runTask(prog, { task_id: 'gw-3', message: 'append line export const extra = 3;', files: ['src/greet.ts'], repo: fixture!.repo }, '/aider/edit');
    expect(task.status).toBe('failed');
    expect(task.error.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');
    expect(fake!.requests).toHaveLength(0);
    expect(receiptOf(tree!, 'gw-3')).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_BUDGET_EXHAUSTED' } });
  });
});
