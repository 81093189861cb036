/**
 * A remote attempt run twice: its worker is SIGKILLed mid-task and started again with the same id
 * before it is declared offline, so the new process runs the same attempt again. Both runs' paid
 * calls are in the day's spend; the attempt's one receipt, and its programmer's usage, have them
 * too (the result names its own run's calls; the central process adds the others its journal
 * holds). A real nats-server, the central `pas up`, two `pas worker` processes and a paid model
 * served in OpenAI's format.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import { kill9 } from '../../support/pas-process.ts';
import { EDIT_REPLY, GREET, http, waitForTask } from '../programmer/programmer-harness.ts';
import type { Cluster } from './cluster-harness.ts';
import { CALL_USD, MISSING_EDIT, receiptsOf, startPaidCluster, untilCorrectionAsked, USAGE } from './paid-cluster.ts';

let cluster: Cluster;
let openai: FakeProvider;
let ollama: FakeProvider;
let repo: TempRepo;

beforeAll(async () => {
  // Run 1: a paid answer whose edit does not apply, then its correction hangs. Run 2: a good edit.
  openai = await startFakeProvider({ kind: 'openai', script: [{ reply: MISSING_EDIT, usage: USAGE }, 'hang', { reply: EDIT_REPLY, usage: USAGE }], usage: USAGE });
  ollama = await startFakeProvider({ kind: 'ollama', usage: { input: 300, output: 40 } });
  repo = await createTempRepo({ 'src/greet.ts': GREET });
  // Detection far enough out for the restarted worker to take its programmers first, even when a
  // loaded machine takes seconds to start it; no redelivery by the broker meanwhile.
  cluster = await startPaidCluster(openai, ollama, { offlineAfterMs: 10_000, ackWaitMs: 120_000, workerKey: 'sk-rerun-receipt-7c2a51' });
}, 90_000);

afterAll(async () => {
  await cluster?.close();
  await Promise.all([openai, ollama].map((s) => s?.close()));
  await repo?.cleanup();
});

describe('a remote attempt its restarted worker ran again', () => {
  it("keeps in its one receipt, and in its programmer's usage, the paid calls of both runs, as the day's spend does", async () => {
    const taskId = 'rerun-paid-1';
    // Run 1's paid answer is in and counted centrally; its correction hangs.
    const base = await untilCorrectionAsked(cluster, openai, 'w1', taskId, repo.repo);
    const programmer = [...cluster.hostOf].find(([, worker]) => worker === 'w1')![0];

    await kill9(cluster.workers.get('w1')!.child);
    await cluster.startWorker('w1');
    const task = (await waitForTask(base, taskId, 60_000)) as { status: string; attempt: number; result: { costUsd?: number; error?: unknown } };
    expect(cluster.centralLog().some((e) => e.msg === 'worker offline' && e.worker === 'w1'), 'the restart was taken for a lost worker: not the same attempt run twice').toBe(false);
    expect(task.status, JSON.stringify(task.result.error)).toBe('completed');
    expect(cluster.workerLog('w1').filter((e) => e.msg === 'task received' && e.taskId === taskId)).toHaveLength(2);
    expect(openai.requests).toHaveLength(3);

    const pool = await http(`${cluster.central.url}/api/pool`);
    expect((pool.body.budget as { spent_today_usd: number }).spent_today_usd).toBeCloseTo(2 * CALL_USD, 6);
    const lines = receiptsOf(cluster, taskId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 'completed', provider: 'openai', model: 'gpt-4o' });
    expect(lines[0]!.cost_usd).toBeCloseTo(2 * CALL_USD, 6);
    expect(lines[0]!.tokens.output).toBe(2 * USAGE.output);
    expect(task.result.costUsd).toBeCloseTo(2 * CALL_USD, 6);
    expect(cluster.centralLog().some((e) => e.msg === 'paid calls of an earlier run of the attempt added to its receipt' && e.taskId === taskId)).toBe(true);

    const agents = await http(`${cluster.central.url}/api/agents`);
    const usage = (agents.body.agents as Array<{ agent: string; usage_today?: { cost_usd: number } }>).find((a) => a.agent === programmer)?.usage_today;
    expect(usage?.cost_usd).toBeCloseTo(2 * CALL_USD, 6);
  }, 150_000);
});
