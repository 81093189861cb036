/**
 * Failover through the running tree: a faulted primary sends the task to the backup, its shared
 * breaker opens after `failure_threshold` failures, and that is visible on the programmer's
 * /health, on /api/models and in the /ws feed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { closedPort, startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import type { TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { agentUrl, BASE_URL_ENV, EDIT_REPLY, GREET, GREET_EDITED, http, openFeed, programmerConfig, receiptOf, runTask, setEnv, until, type FeedClient } from './programmer-harness.ts';

const PRIMARY = 'openai/gpt-4o';
const BACKUP = 'openai/gpt-4o-mini';

describe('a programmer whose primary model is faulted', () => {
  let tree: TestTree | undefined;
  let servers: FakeProvider[] = [];
  let cfg: TempConfig | undefined;
  let fixture: TempRepo | undefined;
  let feed: FeedClient | undefined;
  let restoreEnv: (() => void) | undefined;

  afterEach(async () => {
    feed?.close();
    await tree?.close();
    await Promise.all(servers.map((s) => s.close()));
    await fixture?.cleanup();
    cfg?.cleanup();
    restoreEnv?.();
    tree = cfg = fixture = feed = restoreEnv = undefined;
    servers = [];
  });

  async function boot(baseUrls: Record<string, string>, programmers: Parameters<typeof programmerConfig>[0]['programmers']) {
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), OPENAI_API_KEY: 'sk-test-failover-0001', ANTHROPIC_API_KEY: 'sk-ant-test-failover' });
    cfg = programmerConfig({ programmers, baseUrls, failover: { max_retries: 0, retry_delay_s: 0, failure_threshold: 2 } });
    fixture = await createTempRepo({ 'src/greet.ts': GREET });
    tree = await startTestTree({ configDir: cfg.dir, services: createDefaultServices({}) });
    return tree;
  }

  it('completes on the backup, opens the breaker after failure_threshold failures and shows it on /health, /api/models and the feed', async () => {
    // Each task: the primary answers 500, then the backup answers with the edit.
    const server = await startFakeProvider({ kind: 'openai', reply: EDIT_REPLY, usage: { input: 1000, output: 100 }, script: [{ error: 'server' }, 'ok', { error: 'server' }, 'ok'] });
    servers.push(server);
    const t = await boot({ openai: server.url }, [{ id: 'Prog-001', primary: PRIMARY, backup: BACKUP }]);
    const prog = agentUrl(t, 'Prog-001');
    feed = await openFeed(t.url);
    const breakerFeed = () => feed!.messages.filter((m) => m.type === 'transition' && m.agentId === `breaker:${PRIMARY}`);
    const body = (taskId: string) => ({ task_id: taskId, instruction: "Say 'hi' and add a farewell.", files: ['src/greet.ts'], repo: fixture!.repo });

    // 1st task: one failure on the primary (below the threshold), completed on the backup.
    const first = (await runTask(prog, body('fo-1'))).task;
    expect(first.status).toBe('completed');
    expect(first.result).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', usedBackup: true });
    expect(server.requests.map((r) => (r.body as { model: string }).model)).toEqual(['gpt-4o', 'gpt-4o-mini']);
    expect(receiptOf(t, 'fo-1')).toMatchObject({
      provider: 'openai',
      model: 'gpt-4o-mini',
      used_backup: true,
      status: 'completed',
      tokens: { input: 1000, output: 100, thinking: null, cache_read: null },
      // gpt-4o-mini: 1000 × 0.15 + 100 × 0.6, per million
      cost_usd: 0.00021,
      kpi: { files_changed: 1, lines_added: 2, lines_removed: 1 },
    });
    expect(await gitOut(fixture!.repo, 'show', 'pas/direct-Prog-001/fo-1:src/greet.ts')).toBe(GREET_EDITED.trimEnd());
    let health = (await http(`${prog}/health`)).body;
    expect(health.llm).toMatchObject({ current: PRIMARY, using_backup: false, circuit_open: false, failures: 1 });
    expect(breakerFeed()).toEqual([]);

    // 2nd task: the second failure reaches the threshold and opens the primary's breaker.
    const second = (await runTask(prog, body('fo-2'))).task;
    expect(second.status).toBe('completed');
    expect(second.result.usedBackup).toBe(true);
    expect(receiptOf(t, 'fo-2')).toMatchObject({ model: 'gpt-4o-mini', used_backup: true, status: 'completed' });

    health = (await http(`${prog}/health`)).body;
    expect(health.llm).toMatchObject({ current: BACKUP, primary: PRIMARY, backup: BACKUP, using_backup: true, circuit_open: true });
    expect(health.llm.failures).toBeGreaterThanOrEqual(2);
    const viaGateway = (await http(`${t.url}/agents/Prog-001/health`)).body;
    expect(viaGateway.llm).toMatchObject({ using_backup: true, circuit_open: true });

    const models = (await http(`${t.url}/api/models`)).body.models as Array<{ ref: string; breaker: { state: string; failures: number } }>;
    const primary = models.find((m) => m.ref === PRIMARY)!;
    expect(primary.breaker.state).toBe('open');
    expect(primary.breaker.failures).toBeGreaterThanOrEqual(2);
    expect(models.find((m) => m.ref === BACKUP)!.breaker.state).toBe('closed');

    await until(() => breakerFeed().length > 0, 'the breaker transition on the feed');
    expect(breakerFeed()).toHaveLength(1);
    expect(breakerFeed()[0]).toMatchObject({ v: 1, type: 'transition', role: 'breaker', from: 'closed', to: 'open' });

    // 3rd task: the open breaker keeps the primary from being called at all.
    const before = server.requests.length;
    const third = (await runTask(prog, body('fo-3'))).task;
    expect(third.status).toBe('completed');
    expect(third.result.usedBackup).toBe(true);
    expect(server.requests.slice(before).map((r) => (r.body as { model: string }).model)).toEqual(['gpt-4o-mini']);
  });

  it('fails over to a backup on another provider when the primary port refuses connections', async () => {
    const port = await closedPort();
    const anthropic = await startFakeProvider({ kind: 'anthropic', reply: EDIT_REPLY, usage: { input: 500, output: 50 } });
    servers.push(anthropic);
    const t = await boot({ openai: `http://127.0.0.1:${port}/v1`, anthropic: anthropic.url }, [{ id: 'Prog-001', primary: PRIMARY, backup: 'anthropic/claude-haiku-4' }]);
    const prog = agentUrl(t, 'Prog-001');

    const { task } = await runTask(prog, { task_id: 'fo-x', instruction: "Say 'hi' and add a farewell.", files: ['src/greet.ts'], repo: fixture!.repo });
    expect(task.status).toBe('completed');
    expect(task.result).toMatchObject({ provider: 'anthropic', model: 'claude-haiku-4', usedBackup: true });
    expect(receiptOf(t, 'fo-x')).toMatchObject({
      provider: 'anthropic',
      model: 'claude-haiku-4',
      used_backup: true,
      status: 'completed',
      tokens: { input: 500, output: 50, cache_read: null, cache_write: null },
      // claude-haiku-4: 500 × 1 + 50 × 5, per million
      cost_usd: 0.00075,
    });
    expect(await gitOut(fixture!.repo, 'diff', '--numstat', fixture!.base, 'pas/direct-Prog-001/fo-x')).toBe('2\t1\tsrc/greet.ts');
    const health = (await http(`${prog}/health`)).body;
    expect(health.llm).toMatchObject({ using_backup: false, circuit_open: false, failures: 1 });
  });

  it('shares one breaker per provider/model: failures from two programmers add up and both then go straight to their backup', async () => {
    const server = await startFakeProvider({ kind: 'openai', reply: EDIT_REPLY, script: [{ error: 'server' }, 'ok', { error: 'overloaded' }, 'ok'] });
    servers.push(server);
    const t = await boot({ openai: server.url }, [
      { id: 'Prog-001', primary: PRIMARY, backup: BACKUP },
      { id: 'Prog-002', primary: PRIMARY, backup: BACKUP },
    ]);
    const [p1, p2] = [agentUrl(t, 'Prog-001'), agentUrl(t, 'Prog-002')];
    const body = (taskId: string) => ({ task_id: taskId, instruction: "Say 'hi' and add a farewell.", files: ['src/greet.ts'], repo: fixture!.repo });

    expect((await runTask(p1, body('sh-1'))).task.result.usedBackup).toBe(true);
    expect((await http(`${p2}/health`)).body.llm).toMatchObject({ circuit_open: false, failures: 1 });
    expect((await runTask(p2, body('sh-2'))).task.result.usedBackup).toBe(true);

    for (const base of [p1, p2]) {
      const health = (await http(`${base}/health`)).body;
      expect(health.llm).toMatchObject({ current: BACKUP, using_backup: true, circuit_open: true, failures: 2 });
    }
    const pool = (await http(`${t.url}/api/pool`)).body;
    expect(pool.using_backup).toBe(2);

    const before = server.requests.length;
    const third = (await runTask(p1, body('sh-3'))).task;
    expect(third.status).toBe('completed');
    expect(third.result.usedBackup).toBe(true);
    expect(server.requests.slice(before).map((r) => (r.body as { model: string }).model)).toEqual(['gpt-4o-mini']);
    expect(receiptOf(t, 'sh-3')).toMatchObject({ model: 'gpt-4o-mini', used_backup: true, status: 'completed' });
  });
});
