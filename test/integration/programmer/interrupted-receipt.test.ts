/**
 * A real `pas up` SIGKILLed while a subtask's attempt waits for a paid model, after that attempt's
 * first paid call was answered: the restarted process books the cut-off attempt's receipt (what its
 * paid call cost) in its own run's file, so the receipts add up to the day's spend, then runs the
 * subtask again. A paid model served in OpenAI's format, with its real usage fields.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { buildTopology } from '../../../src/runtime/topology.ts';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import { kill9, startPasUp } from '../../support/pas-process.ts';
import { freePortOffset } from '../../support/ports.ts';
import type { TempConfig } from '../../support/test-config.ts';
import { EDIT_REPLY, GREET, GREET_INSTRUCTION, http, MISSING_EDIT, PAID_CALL_USD, PAID_USAGE, programmerConfig, waitForTask } from './programmer-harness.ts';

const USAGE = PAID_USAGE;
const CALL_USD = PAID_CALL_USD;

interface Line {
  task_id: string;
  status: string;
  cost_usd: number;
  tokens: { input: number | null; output: number | null };
  error?: { code: string };
}

describe('a pas up killed while a subtask waits for a paid model', () => {
  let openai: FakeProvider | undefined;
  let cfg: TempConfig | undefined;
  let repo: TempRepo | undefined;
  let dataDir: string | undefined;
  const children: ChildProcess[] = [];

  afterEach(async () => {
    for (const c of children.splice(0)) await kill9(c);
    await openai?.close();
    await repo?.cleanup();
    cfg?.cleanup();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    openai = cfg = repo = dataDir = undefined;
  });

  it('books at the restart the cut-off attempt\'s receipt with what its paid call cost, so the receipts add up to the day\'s spend, then runs the subtask again', async () => {
    // Attempt 1: a paid answer whose edit does not apply, then its correction hangs (the kill comes). Attempt 2: a good edit.
    openai = await startFakeProvider({ kind: 'openai', script: [{ reply: MISSING_EDIT, usage: USAGE }, 'hang'], reply: EDIT_REPLY, usage: USAGE });
    cfg = programmerConfig({ programmers: [{ id: 'Prog-001', primary: 'openai/gpt-4o' }], baseUrls: { openai: openai.url }, maxDailySpendUsd: 10 });
    repo = await createTempRepo({ 'src/greet.ts': GREET });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-interrupted-'));
    const top = buildTopology(loadConfig(cfg.dir));
    const portOffset = await freePortOffset([top.gatewayPort, ...top.agents.map((a) => a.port)], 100, { belowEphemeral: true });
    const agent = `http://127.0.0.1:${top.agents.find((a) => a.agentId === 'Prog-001')!.port + portOffset}`;
    const up = () => startPasUp({ configDir: cfg!.dir, dataDir: dataDir!, portOffset, args: ['--quiet'], env: { OPENAI_API_KEY: 'sk-interrupted-5e1f0a', OPENAI_BASE_URL: '' }, track: (c) => children.push(c) });

    const first = await up();
    const taskId = 'cut-off-1';
    const accepted = await http(`${agent}/execute`, { body: { task_id: taskId, instruction: GREET_INSTRUCTION, files: ['src/greet.ts'], repo: repo.repo } });
    expect(accepted.status, accepted.text).toBe(202);
    // The first (paid) answer is in and charged; the correction waits.
    const deadline = Date.now() + 20_000;
    while (openai.requests.length < 2) {
      if (Date.now() > deadline) throw new Error(`the correction was not asked for: ${openai.requests.length} request(s)\n${first.output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const spentBefore = (await http(`${first.url}/api/pool`)).body.budget as { spent_today_usd: number };
    expect(spentBefore.spent_today_usd).toBeCloseTo(CALL_USD, 6);
    await kill9(first.child);

    const second = await up();
    const task = (await waitForTask(agent, taskId, 30_000)) as { status: string; attempt?: number };
    expect(task.status).toBe('completed');
    const receiptsDir = path.join(dataDir, 'receipts');
    const lines = readdirSync(receiptsDir).flatMap((f) => readFileSync(path.join(receiptsDir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line & { run_id: string }));
    const mine = lines.filter((l) => l.task_id === taskId);
    expect(mine.map((l) => [l.status, l.error?.code ?? null])).toEqual([
      ['failed', 'PAS_ERR_TASK_INTERRUPTED'],
      ['completed', null],
    ]);
    expect(mine[0]!.cost_usd).toBeCloseTo(CALL_USD, 6);
    expect(mine[0]!.tokens.output).toBe(USAGE.output);
    const spent = ((await http(`${second.url}/api/pool`)).body.budget as { spent_today_usd: number }).spent_today_usd;
    expect(mine.reduce((n, l) => n + l.cost_usd, 0)).toBeCloseTo(spent, 6);
    const agents = await http(`${second.url}/api/agents`);
    const usage = (agents.body.agents as Array<{ agent: string; usage_today?: { cost_usd: number } }>).find((a) => a.agent === 'Prog-001')?.usage_today;
    expect(usage?.cost_usd).toBeCloseTo(spent, 6);
  }, 90_000);
});
