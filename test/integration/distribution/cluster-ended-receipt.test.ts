/**
 * The receipt of a remote attempt the central process ends without a result (its worker was
 * SIGKILLed) says what the attempt's model calls cost, as a task stopped in-process keeps what it
 * spent: the worker reported each paid call as it ended, naming its attempt. A real nats-server,
 * the central `pas up`, two `pas worker` processes and a paid model served in OpenAI's format.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import { kill9 } from '../../support/pas-process.ts';
import { GREET, http, waitForTask } from '../programmer/programmer-harness.ts';
import type { Cluster } from './cluster-harness.ts';
import { CALL_USD, MISSING_EDIT, receiptsOf, startPaidCluster, untilCorrectionAsked, USAGE } from './paid-cluster.ts';

const OFFLINE_AFTER_MS = 1_500;

let cluster: Cluster;
let openai: FakeProvider;
let ollama: FakeProvider;
let repo: TempRepo;

beforeAll(async () => {
  // The first call answers (and is paid for), the correction it asks for never does.
  openai = await startFakeProvider({ kind: 'openai', script: [{ reply: MISSING_EDIT, usage: USAGE }, 'hang'], usage: USAGE });
  ollama = await startFakeProvider({ kind: 'ollama', usage: { input: 300, output: 40 } });
  repo = await createTempRepo({ 'src/greet.ts': GREET });
  cluster = await startPaidCluster(openai, ollama, { offlineAfterMs: OFFLINE_AFTER_MS, workerKey: 'sk-ended-receipt-4b1d9e' });
}, 90_000);

afterAll(async () => {
  await cluster?.close();
  await Promise.all([openai, ollama].map((s) => s?.close()));
  await repo?.cleanup();
});

describe('a remote attempt ended without a result', () => {
  it("keeps in its receipt, and in its programmer's usage, what its worker's paid model calls cost before the worker was killed", async () => {
    const taskId = 'ended-paid-1';
    // The first (paid) answer is in and its spend counted centrally; the correction hangs.
    const base = await untilCorrectionAsked(cluster, openai, 'w1', taskId, repo.repo);
    const programmer = [...cluster.hostOf].find(([, worker]) => worker === 'w1')![0];

    await kill9(cluster.workers.get('w1')!.child);
    const task = (await waitForTask(base, taskId, 30_000)) as { status: string; result: { costUsd?: number; error?: { code: string } } };
    expect(task.status).toBe('failed');
    expect(task.result.error?.code).toBe('PAS_ERR_DIST_WORKER_OFFLINE');
    expect(task.result.costUsd).toBeCloseTo(CALL_USD, 6);

    const lines = receiptsOf(cluster, taskId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_DIST_WORKER_OFFLINE' }, provider: 'openai', model: 'gpt-4o' });
    expect(lines[0]!.cost_usd).toBeCloseTo(CALL_USD, 6);
    expect(lines[0]!.tokens.input).toBeGreaterThan(0);
    expect(lines[0]!.tokens.output).toBe(USAGE.output);

    const agents = await http(`${cluster.central.url}/api/agents`);
    const usage = (agents.body.agents as Array<{ agent: string; usage_today?: { cost_usd: number } }>).find((a) => a.agent === programmer)?.usage_today;
    expect(usage?.cost_usd).toBeCloseTo(CALL_USD, 6);
  }, 120_000);
});
