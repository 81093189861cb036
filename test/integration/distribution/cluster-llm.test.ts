/**
 * Breakers and the daily budget are the cluster's, not each host's: the central `pas up` and two
 * `pas worker` processes over a real nats-server, with real models served by local servers in
 * each provider's wire format (Anthropic failing with 529, OpenAI paid, Ollama free as the
 * backup). The keys are given to the workers only. Programmers are reached directly (`/execute`
 * on their port at the central process), so each test decides which worker makes each call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import { EDIT_REPLY, GREET, http, openFeed, waitForTask, type FeedClient } from '../programmer/programmer-harness.ts';
import { startCluster, type Cluster } from './cluster-harness.ts';

const KEYS = { OPENAI_API_KEY: 'sk-cluster-openai-5f3a9c1e7b', ANTHROPIC_API_KEY: 'sk-ant-cluster-2d8e4b6a0c' };
const PAID = 'openai/gpt-4o';
const FAILING = 'anthropic/claude-sonnet-4';
const FREE = 'ollama/qwen2.5-coder:7b-instruct';
/** What one OpenAI answer costs at models.yaml's gpt-4o prices with this usage. */
const CALL_USD = 0.00615;
const DAILY_LIMIT_USD = 0.01;
const COOLDOWN_MS = 12_000;

// Programmers 1 and 3 live on w1, 2 and 4 on w2 (the harness alternates hosts).
const BREAKER_PROGRAMMERS = { w1: 'Prog-001', w2: 'Prog-002' };
const BUDGET_PROGRAMMERS = { w1: 'Prog-003', w2: 'Prog-004' };

let cluster: Cluster;
let anthropic: FakeProvider;
let openai: FakeProvider;
let ollama: FakeProvider;
let repo: TempRepo;
let feed: FeedClient;
let seq = 0;

beforeAll(async () => {
  anthropic = await startFakeProvider({ kind: 'anthropic', script: Array.from({ length: 50 }, () => ({ error: 'overloaded' as const })) });
  openai = await startFakeProvider({ kind: 'openai', reply: EDIT_REPLY, usage: { input: 1200, output: 340, cacheRead: 200, thinking: 0 } });
  ollama = await startFakeProvider({ kind: 'ollama', reply: EDIT_REPLY, usage: { input: 300, output: 40 } });
  repo = await createTempRepo({ 'src/greet.ts': GREET });
  const urls = { OPENAI_BASE_URL: openai.url, ANTHROPIC_BASE_URL: anthropic.url, OLLAMA_HOST: ollama.url };
  cluster = await startCluster({
    workers: ['w1', 'w2'],
    programmersPerWorker: 2,
    editDelayMs: 0,
    online: {
      configure(cfg) {
        cfg.edit('programmer_pool.yaml', (doc) => {
          const primaries = [FAILING, FAILING, PAID, PAID];
          primaries.forEach((primary, i) => {
            doc.setIn(['programmers', i, 'primary_llm'], primary);
            doc.setIn(['programmers', i, 'backup_llm'], FREE);
          });
          doc.setIn(['failover', 'enabled'], true);
          doc.setIn(['failover', 'max_retries'], 0);
          doc.setIn(['failover', 'retry_delay_s'], 0);
          doc.setIn(['failover', 'circuit_breaker', 'failure_threshold'], 2);
          doc.setIn(['failover', 'circuit_breaker', 'window_minutes'], 10);
          doc.setIn(['failover', 'circuit_breaker', 'cooldown_minutes'], COOLDOWN_MS / 60_000);
          doc.setIn(['cost_optimization', 'max_daily_spend_usd'], DAILY_LIMIT_USD);
        });
      },
      // The central process has no key: the models are the workers'.
      centralEnv: { ...urls, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' },
      workerEnv: { ...urls, ...KEYS },
    },
  });
  feed = await openFeed(cluster.central.url);
}, 90_000);

afterAll(async () => {
  feed?.close();
  await cluster?.close();
  await Promise.all([anthropic, openai, ollama].map((s) => s?.close()));
  await repo?.cleanup();
});

interface TaskView {
  status: string;
  error?: { code: string };
  result: { usedBackup?: boolean; provider?: string; costUsd?: number; error?: { code: string } };
}

/** A direct task on one programmer (at the central process), until it ends. */
async function run(programmerId: string): Promise<TaskView> {
  const base = cluster.agentUrl(programmerId);
  const taskId = `llm-${programmerId}-${++seq}`;
  const accepted = await http(`${base}/execute`, { body: { task_id: taskId, instruction: "Say 'hi' and add a farewell.", files: ['src/greet.ts'], repo: repo.repo } });
  expect(accepted.status, accepted.text).toBe(202);
  return (await waitForTask(base, taskId, 30_000)) as unknown as TaskView;
}

const breakerMoves = () => feed.messages.filter((m) => m.type === 'transition' && m.agentId === `breaker:${FAILING}`).map((m) => m.to);

async function until(check: () => boolean, what: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('breakers and budget across hosts', () => {
  it("opens one central breaker on two workers' failures, keeps both off the provider while open, and lets exactly one probe through after the cooldown", async () => {
    // One failure on each worker: together they reach the threshold of the one central breaker.
    for (const worker of ['w1', 'w2'] as const) {
      const task = await run(BREAKER_PROGRAMMERS[worker]);
      expect(task.status).toBe('completed');
      expect(task.result).toMatchObject({ usedBackup: true, provider: 'ollama' });
    }
    expect(anthropic.requests).toHaveLength(2);
    await until(() => breakerMoves().includes('open'), 'the breaker opening on the feed', 10_000);

    // Open: neither worker calls the provider; both go straight to the backup.
    const whileOpen = await Promise.all([run(BREAKER_PROGRAMMERS.w1), run(BREAKER_PROGRAMMERS.w2)]);
    for (const task of whileOpen) expect(task.result).toMatchObject({ usedBackup: true, provider: 'ollama' });
    expect(anthropic.requests).toHaveLength(2);

    // After the cooldown: both workers try at once, and one probe reaches the provider cluster-wide.
    await until(() => breakerMoves().includes('halfOpen'), 'the breaker half-open on the feed', COOLDOWN_MS + 20_000);
    const afterCooldown = await Promise.all([run(BREAKER_PROGRAMMERS.w1), run(BREAKER_PROGRAMMERS.w2)]);
    for (const task of afterCooldown) expect(task.status).toBe('completed');
    expect(anthropic.requests).toHaveLength(3);
    // The probe failed (529 again): the breaker went back to open, as the feed shows.
    await until(() => breakerMoves().lastIndexOf('open') > breakerMoves().indexOf('halfOpen'), 'the failed probe reopening the breaker', 10_000);
    expect(breakerMoves().slice(0, 3)).toEqual(['open', 'halfOpen', 'open']);
  }, 90_000);

  it('counts both workers against one daily budget: once spent, neither calls the paid model, and the overspend is at most the calls in flight', async () => {
    // Under the limit, each worker's paid call is made and counted centrally.
    const first = await run(BUDGET_PROGRAMMERS.w1);
    expect(first.result).toMatchObject({ usedBackup: false, provider: 'openai', costUsd: CALL_USD });
    const second = await run(BUDGET_PROGRAMMERS.w2);
    expect(second.result).toMatchObject({ usedBackup: false, provider: 'openai', costUsd: CALL_USD });
    expect(openai.requests).toHaveLength(2);

    // Spent (2 × 0.00615 ≥ 0.01): paid calls are refused on BOTH workers; the free backup does the work.
    const after = await Promise.all([run(BUDGET_PROGRAMMERS.w1), run(BUDGET_PROGRAMMERS.w2), run(BUDGET_PROGRAMMERS.w1)]);
    for (const task of after) expect(task.result).toMatchObject({ usedBackup: true, provider: 'ollama', costUsd: 0 });
    expect(openai.requests).toHaveLength(2);

    const pool = await http(`${cluster.central.url}/api/pool`);
    const budget = pool.body.budget as { spent_today_usd: number; exhausted: boolean };
    expect(budget.exhausted).toBe(true);
    expect(budget.spent_today_usd).toBeCloseTo(2 * CALL_USD, 6);
    // At most one call per programmer can be in flight past the limit.
    expect(budget.spent_today_usd).toBeLessThanOrEqual(DAILY_LIMIT_USD + 4 * CALL_USD);

    // The keys stayed on the workers: the central process never logged one.
    const central = JSON.stringify(cluster.centralLog()) + cluster.central.output();
    for (const key of Object.values(KEYS)) expect(central.includes(key)).toBe(false);
    for (const worker of ['w1', 'w2']) for (const key of Object.values(KEYS)) expect(JSON.stringify(cluster.workerLog(worker)).includes(key)).toBe(false);
  }, 90_000);
});
