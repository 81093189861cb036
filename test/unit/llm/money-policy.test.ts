/**
 * The one money policy: one pricing rule for every caller (cache tokens included), the daily
 * budget, and per-agent usage that a restart keeps (recorded in the journal's SQLite).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { openJournal, type Journal } from '../../../src/journal/journal.ts';
import { createMoneyPolicy } from '../../../src/llm/money-policy.ts';
import { callCost } from '../../../src/llm/prices.ts';
import { createMemorySpendStore } from '../../../src/llm/spend-store.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';

const config = loadConfig(SHIPPED_CONFIGS);
const models = config.models;
const dirs: string[] = [];
const journals: Journal[] = [];
afterEach(() => {
  for (const j of journals.splice(0)) j.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function journalAt(file: string): Journal {
  const journal = openJournal(file);
  journals.push(journal);
  return journal;
}

describe('the money policy', () => {
  it('prices cache tokens by the provider protocol and the model price, the same rule the LLM layer uses', () => {
    const money = createMoneyPolicy({ models, costOptimization: { enabled: false, max_daily_spend_usd: 0 } });
    const tokens = { input: 1_000_000, output: 100_000, cache_read: 500_000 };
    // OpenAI counts cached tokens inside input: 500k at 2.5, 500k cached at 1.25, 100k out at 10.
    expect(money.price('openai/gpt-4o', tokens)).toBe(2.875);
    expect(money.price('openai/gpt-4o', tokens)).toBe(callCost('openai', models.providers.openai!.models['gpt-4o']!, tokens));
    // Anthropic counts them apart: 1M at 3, 500k read at 0.3, 100k out at 15.
    expect(money.price('anthropic/claude-sonnet-4', tokens)).toBe(4.65);
    expect(money.price('ollama/qwen2.5-coder:7b-instruct', tokens)).toBe(0);
    expect(money.price('nobody/none', tokens)).toBe(0);
    expect(money.price('openai/gpt-4o', null)).toBe(0);
  });

  it("books a charge made for a task with that task's running attempt in the journal, and one made for no task in the day's spend only", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pas-money-'));
    dirs.push(dir);
    const journal = journalAt(path.join(dir, 'pas.db'));
    journal.acceptJob({ id: 'j1', task: 'x', lane: 'Code', files: ['a.js'], submittedAt: '2026-03-01T10:00:00.000Z' });
    journal.startTask({ id: 't1', jobId: 'j1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: 'x', files: ['a.js'] }, 'Prog-001', 1);
    const money = createMoneyPolicy({ models, costOptimization: { enabled: true, max_daily_spend_usd: 10 }, spend: journal.spendStore(), now: () => Date.parse('2026-03-01T12:00:00.000Z') });
    money.charge(0.25, { taskId: 't1', tokens: { input: 10, output: 2 }, model: 'openai/gpt-4o' });
    money.charge(0.5);
    money.charge(0, { taskId: 't1' });
    expect(journal.localAttemptCalls('t1', 1).map((c) => [c.costUsd, c.model])).toEqual([[0.25, 'openai/gpt-4o']]);
    expect(money.budget().spent_today_usd).toBe(0.75);
  });

  it('refuses paid models once the day is spent, never free ones, and allows them again on the next UTC day', () => {
    let now = Date.parse('2026-03-01T23:59:00.000Z');
    const spend = createMemorySpendStore();
    const money = createMoneyPolicy({ models, costOptimization: { enabled: true, max_daily_spend_usd: 1 }, spend, now: () => now });
    expect(money.checkBudget('openai/gpt-4o')).toBeUndefined();
    money.charge(0.6);
    money.charge(0.4);
    expect(money.exhausted()).toBe(true);
    const refusal = money.checkBudget('openai/gpt-4o');
    expect(refusal).toMatchObject({ code: 'PAS_ERR_BUDGET_EXHAUSTED', details: { ref: 'openai/gpt-4o', day: '2026-03-01', spentUsd: 1, limitUsd: 1 } });
    expect(money.checkBudget('ollama/qwen2.5-coder:7b-instruct')).toBeUndefined();
    expect(money.budget()).toEqual({ max_daily_spend_usd: 1, spent_today_usd: 1, exhausted: true, day: '2026-03-01' });
    now += 120_000;
    expect(money.checkBudget('openai/gpt-4o')).toBeUndefined();
    expect(money.budget()).toEqual({ max_daily_spend_usd: 1, spent_today_usd: 0, exhausted: false, day: '2026-03-02' });
  });

  it('keeps per-agent usage across a restart, next to the day\'s spend, and starts a new day at zero', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pas-money-'));
    dirs.push(dir);
    const file = path.join(dir, 'pas.db');
    let now = Date.parse('2026-03-01T10:00:00.000Z');
    const policyOn = (journal: Journal) =>
      createMoneyPolicy({ models, costOptimization: { enabled: true, max_daily_spend_usd: 5 }, spend: journal.spendStore(), usage: journal.usageLedger(), now: () => now });

    const first = journalAt(file);
    const before = policyOn(first);
    before.charge(0.25);
    before.record('Prog-006', 'j1', 'j1-t1', { input: 1000, output: 200 }, 0.25);
    before.record('Prog-006', 'j1', 'j1-t2', { input: 500, output: null }, 0);
    before.record('Mgr-Code-01', 'j1', undefined, { input: 300, output: 40 }, 0.001);
    first.close();
    journals.length = 0;

    const after = policyOn(journalAt(file));
    expect(after.usageToday('Prog-006')).toEqual({ tasks: 2, input_tokens: 1500, output_tokens: 200, cost_usd: 0.25 });
    expect(after.usageToday('Mgr-Code-01')).toEqual({ tasks: 0, input_tokens: 300, output_tokens: 40, cost_usd: 0.001 });
    expect(after.budget().spent_today_usd).toBe(0.25);
    now += 24 * 3_600_000;
    expect(after.usageToday('Prog-006')).toEqual({ tasks: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 });
  });
});
