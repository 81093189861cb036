/**
 * The daily budget through the running tree: once max_daily_spend_usd is spent, paid models are
 * not called (free ones still are), the refusal shows in the task result, the receipt, the feed
 * and /metrics, and the spend survives a restart on the same data dir.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import type { TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import {
  agentUrl,
  BASE_URL_ENV,
  EDIT_REPLY,
  GREET,
  GREET_EDITED,
  http,
  openFeed,
  programmerConfig,
  receiptOf,
  runTask,
  setEnv,
  until,
  type FeedClient,
} from './programmer-harness.ts';

/** The value of a Prometheus sample line without labels. */
function metric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('the daily budget', () => {
  const trees: TestTree[] = [];
  const servers: FakeProvider[] = [];
  let cfg: TempConfig | undefined;
  let fixture: TempRepo | undefined;
  let feed: FeedClient | undefined;
  let dataDir: string | undefined;
  let restoreEnv: (() => void) | undefined;

  afterEach(async () => {
    feed?.close();
    for (const t of trees.splice(0)) await t.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await fixture?.cleanup();
    cfg?.cleanup();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    restoreEnv?.();
    cfg = fixture = feed = dataDir = restoreEnv = undefined;
  });

  it('refuses paid models once spent while free ones still run, and the spend survives a restart', async () => {
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), OPENAI_API_KEY: 'sk-test-budget-0001' });
    const openai = await startFakeProvider({ kind: 'openai', reply: EDIT_REPLY, usage: { input: 1200, output: 340, cacheRead: 200, thinking: 0 } });
    const ollama = await startFakeProvider({ kind: 'ollama', reply: EDIT_REPLY, usage: { input: 300, output: 40 } });
    servers.push(openai, ollama);
    cfg = programmerConfig({
      programmers: [
        { id: 'Prog-001', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', capabilities: ['premium', 'paid'] },
        { id: 'Prog-002', primary: 'ollama/qwen2.5-coder:7b-instruct', backup: 'ollama/qwen2.5-coder:14b-instruct', capabilities: ['fast', 'free'] },
      ],
      baseUrls: { openai: openai.url, ollama: ollama.url },
      maxDailySpendUsd: 0.000001,
    });
    fixture = await createTempRepo({ 'src/greet.ts': GREET });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-budget-'));
    const boot = async () => {
      const t = await startTestTree({ configDir: cfg!.dir, dataDir, services: createDefaultServices({}) });
      trees.push(t);
      return t;
    };
    const body = (taskId: string) => ({ task_id: taskId, instruction: "Say 'hi' and add a farewell.", files: ['src/greet.ts'], repo: fixture!.repo });

    let tree = await boot();
    const paid = agentUrl(tree, 'Prog-001');
    const free = agentUrl(tree, 'Prog-002');
    feed = await openFeed(tree.url);

    // Under the limit: the paid model is called and its cost is spent.
    const first = (await runTask(paid, body('b-1'))).task;
    expect(first.status).toBe('completed');
    expect(first.result.costUsd).toBe(0.00615);
    expect(openai.requests).toHaveLength(1);
    expect(tree.runtime.budget()).toMatchObject({ max_daily_spend_usd: 0.000001, spent_today_usd: 0.00615, exhausted: true });

    // Spent: neither paid model (primary nor backup) is called; the task fails with the budget code.
    const second = (await runTask(paid, body('b-2'))).task;
    expect(openai.requests).toHaveLength(1);
    expect(second.status).toBe('failed');
    expect(second.error.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');
    expect(second.result.error.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');
    expect(second.result.branch).toBeUndefined();
    const refused = receiptOf(tree, 'b-2');
    expect(refused).toMatchObject({ task_id: 'b-2', agent_id: 'Prog-001', status: 'failed', cost_usd: 0, used_backup: false, kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 } });
    expect(refused.error?.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');
    expect(refused.tokens).toStrictEqual({ input: null, output: null });
    expect(await gitOut(fixture.repo, 'branch', '--list', 'pas/direct-Prog-001/b-2')).toBe('');

    const metrics = await http(`${tree.url}/metrics`);
    expect(metric(metrics.text, 'pas_budget_refusals_total')).toBe(1);
    expect(metric(metrics.text, 'pas_daily_spend_usd')).toBe(0.00615);
    expect((await http(`${tree.url}/api/pool`)).body.budget).toMatchObject({ spent_today_usd: 0.00615, exhausted: true });

    // The feed shows the paid programmer coming back from the task with the refusal's code.
    const back = () => feed!.messages.find((m) => m.type === 'transition' && m.agentId === 'Prog-001' && m.taskId === 'b-2' && m.from === 'EXECUTING');
    await until(() => back() !== undefined, 'the refused task on the feed');
    expect(back()).toMatchObject({ role: 'programmer', to: 'IDLE', error: 'PAS_ERR_BUDGET_EXHAUSTED' });
    const completedBack = feed.messages.find((m) => m.agentId === 'Prog-001' && m.taskId === 'b-1' && m.from === 'EXECUTING');
    expect(completedBack).toBeDefined();
    expect(completedBack!.error).toBeUndefined();

    // A free programmer still completes.
    const local = (await runTask(free, body('b-3'))).task;
    expect(local.status).toBe('completed');
    expect(local.result).toMatchObject({ provider: 'ollama', model: 'qwen2.5-coder:7b-instruct', costUsd: 0 });
    expect(await gitOut(fixture.repo, 'show', 'pas/direct-Prog-002/b-3:src/greet.ts')).toBe(GREET_EDITED.trimEnd());
    expect(receiptOf(tree, 'b-3')).toMatchObject({ status: 'completed', provider: 'ollama', tokens: { input: 300, output: 40 }, cost_usd: 0 });

    // A restart on the same data dir remembers today's spend; paid is still refused.
    feed.close();
    feed = undefined;
    await tree.close();
    trees.splice(trees.indexOf(tree), 1);
    tree = await boot();
    expect(tree.runtime.budget()).toMatchObject({ spent_today_usd: 0.00615, exhausted: true });
    const afterRestart = (await runTask(agentUrl(tree, 'Prog-001'), body('b-4'))).task;
    expect(afterRestart.status).toBe('failed');
    expect(afterRestart.error.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');
    expect(openai.requests).toHaveLength(1);
    expect(receiptOf(tree, 'b-4')).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_BUDGET_EXHAUSTED' } });
    expect(metric((await http(`${tree.url}/metrics`)).text, 'pas_budget_refusals_total')).toBe(1);
    expect((await runTask(agentUrl(tree, 'Prog-002'), body('b-5'))).task.status).toBe('completed');
  });
});
