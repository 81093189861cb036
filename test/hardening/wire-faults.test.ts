/**
 * LLM faults on the wire, mid-job: the programmers' model is a local server speaking Ollama's
 * real protocol that hangs, resets the socket, sends a broken body or stream, or answers 429,
 * 529 and 500, and a provider whose port is closed. Every accepted job reaches a terminal state,
 * with a coded reason when it did not complete; the invariants of hardening-support hold.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createDefaultServices } from '../../src/runtime/default-services.ts';
import { closedPort, startFakeProvider, type FakeBehaviour, type FakeProvider } from '../support/fake-llm-server.ts';
import { createTempRepo, type TempRepo } from '../support/git-fixtures.ts';
import type { TempConfig } from '../support/test-config.ts';
import { startTestTree, type TestTree } from '../support/test-tree.ts';
import { BASE_URL_ENV, programmerConfig, setEnv } from '../integration/programmer/programmer-harness.ts';
import { counterEdit, counterFiles, expectInvariants, postJson } from './hardening-support.ts';

const FREE = 'ollama/qwen2.5-coder:7b-instruct';
const FREE_BACKUP = 'ollama/qwen2.5-coder:14b-instruct';

describe('LLM faults on the wire in the middle of a job', () => {
  let tree: TestTree | undefined;
  let cfg: TempConfig | undefined;
  let repo: TempRepo | undefined;
  let server: FakeProvider | undefined;
  let restoreEnv: (() => void) | undefined;

  afterEach(async () => {
    await tree?.close();
    await server?.close();
    cfg?.cleanup();
    await repo?.cleanup();
    restoreEnv?.();
    tree = cfg = repo = server = restoreEnv = undefined;
  });

  async function boot(ollamaUrl: string): Promise<TestTree> {
    // No provider key anywhere: the Managers' plan calls fail at once and fall back to one subtask per file.
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), GEMINI_API_KEY: undefined, ANTHROPIC_API_KEY: undefined, OPENAI_API_KEY: undefined });
    cfg = programmerConfig({
      programmers: [
        { id: 'Prog-001', primary: FREE, backup: FREE_BACKUP, capabilities: ['fast', 'free'] },
        { id: 'Prog-002', primary: FREE, backup: FREE_BACKUP, capabilities: ['fast', 'free'] },
      ],
      baseUrls: { ollama: ollamaUrl, google: `http://127.0.0.1:${await closedPort()}`, anthropic: `http://127.0.0.1:${await closedPort()}` },
      // Breakers are proven elsewhere; here every fault must reach the retry and failover logic.
      failover: { max_retries: 1, retry_delay_s: 0, failure_threshold: 1000 },
    });
    // A hung provider is given up on after one second.
    cfg.edit('models.yaml', (doc) => doc.setIn(['providers', 'ollama', 'timeout_s'], 1));
    repo = await createTempRepo(counterFiles(['a']));
    tree = await startTestTree({ configDir: cfg.dir, services: createDefaultServices({}) });
    return tree;
  }

  async function runJob(t: TestTree, task: string): Promise<string> {
    const res = await postJson(`${t.url}/api/jobs`, { task, lane: 'Code', files: ['src/a.js'], repo: repo!.repo });
    expect(res.status).toBe(202);
    await t.runtime.waitForJob(res.body.job_id, 30_000);
    return res.body.job_id as string;
  }

  it('retries or fails over past a hang, a reset, a broken body or stream, 429 with retry-after, 529 and 500, and completes each job', async () => {
    server = await startFakeProvider({ kind: 'ollama', reply: counterEdit('a'), usage: { input: 50, output: 10 } });
    const t = await boot(server.url);
    const faults: Array<[string, FakeBehaviour]> = [
      ['hang', 'hang'],
      ['reset', 'reset'],
      ['malformed', 'malformed'],
      ['midstream-error', 'midstream-error'],
      ['truncated', 'truncated'],
      ['429', { status: 429, headers: { 'retry-after': '0' }, body: { error: 'rate limited' } }],
      ['529', { status: 529, body: { error: 'overloaded' } }],
      ['500', { status: 500, body: { error: 'internal' } }],
    ];
    const ids: string[] = [];
    for (const [name, behaviour] of faults) {
      const before = server.requests.length;
      server.script.push(behaviour);
      const id = await runJob(t, `Bump a after a ${name}`);
      ids.push(id);
      const job = t.runtime.getJob(id)!;
      expect([name, job.status]).toEqual([name, 'completed']);
      // The fault was met, and another call got the edit.
      expect(server.requests.length - before, name).toBeGreaterThanOrEqual(2);
    }
    await expectInvariants({ journal: t.runtime.journal, dataDir: t.dataDir, accepted: ids, repos: [repo!.repo] });
  });

  it('fails the job with PAS_ERR_LLM_ALL_FAILED naming each model when the fault lasts, and the tree keeps serving', async () => {
    server = await startFakeProvider({ kind: 'ollama', reply: counterEdit('a') });
    const t = await boot(server.url);
    // Primary twice, backup twice, on both programmers (one re-dispatch): every call answers 500.
    server.script.push(...Array.from({ length: 8 }, () => ({ status: 500, body: { error: 'down' } }) as FakeBehaviour));
    const failed = await runJob(t, 'Bump a while the provider is down');
    const job = t.runtime.getJob(failed)!;
    expect(job.status).toBe('failed');
    expect(job.outcome!.error!.code).toBe('PAS_ERR_LLM_ALL_FAILED');
    const causes = (job.outcome!.error!.details as { causes: Array<{ code: string }> }).causes.map((c) => c.code);
    expect(causes).toEqual(['PAS_ERR_LLM_SERVER', 'PAS_ERR_LLM_SERVER']);
    // The provider is back: the next job completes.
    const next = await runJob(t, 'Bump a once the provider is back');
    expect(t.runtime.getJob(next)!.status).toBe('completed');
    await expectInvariants({ journal: t.runtime.journal, dataDir: t.dataDir, accepted: [failed, next], repos: [repo!.repo] });
  });

  it('fails a job whose provider port is closed with a coded connection reason', async () => {
    const t = await boot(`http://127.0.0.1:${await closedPort()}`);
    const id = await runJob(t, 'Bump a with nobody listening');
    const job = t.runtime.getJob(id)!;
    expect(job.status).toBe('failed');
    expect(job.outcome!.error!.code).toBe('PAS_ERR_LLM_ALL_FAILED');
    expect((job.outcome!.error!.details as { causes: Array<{ code: string }> }).causes.map((c) => c.code)).toContain('PAS_ERR_LLM_CONNECTION');
    await expectInvariants({ journal: t.runtime.journal, dataDir: t.dataDir, accepted: [id], repos: [repo!.repo] });
  });
});
