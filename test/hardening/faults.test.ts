/**
 * Fault injection on real trees (runtime, gateway, per-agent ports, git, SQLite; the LLM is the
 * offline scripted provider): every LLM fault kind in the middle of a job, an executor that
 * crashes or hangs, a programmer forced into FAILED over HTTP, a Manager failing mid-job and the
 * supervisor's restart intensity exceeded. After each, the invariants of hardening-support hold:
 * every accepted job terminal with a reason, no task merged twice, one receipt per executor run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TransitionRecord } from '../../src/runtime/transition-record.ts';
import { createTempRepo, type TempRepo } from '../support/git-fixtures.ts';
import type { TempConfig } from '../support/test-config.ts';
import { startTestTree, type TestTree } from '../support/test-tree.ts';
import { programmerConfig } from '../integration/programmer/programmer-harness.ts';
import {
  counterFiles,
  editOf,
  expectInvariants,
  faultyServices,
  getJson,
  okEdits,
  postJson,
  until,
  type FaultyServices,
} from './hardening-support.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { BREAKER_FAILURE_CODES } from '../../src/llm/llm-client.ts';
import type { CassetteEntry } from '../../src/llm/providers/scripted-adapter.ts';
import type { JsonAnswer } from '../support/json-answer.ts';

const NAMES = ['a', 'b', 'c'] as const;
const FREE = 'ollama/qwen2.5-coder:7b-instruct';
const FREE_BACKUP = 'ollama/qwen2.5-coder:14b-instruct';

interface Setup {
  programmers?: number;
  maxRestarts?: number;
  timeoutS?: number;
  breaker?: boolean;
  maxRetries?: number;
  maxConcurrentJobs?: number;
}

describe('fault injection on a running tree', () => {
  let tree: TestTree | undefined;
  let cfg: TempConfig | undefined;
  let repo: TempRepo | undefined;
  let faulty: FaultyServices | undefined;
  let records: TransitionRecord[] = [];

  afterEach(async () => {
    faulty?.release();
    await tree?.close();
    cfg?.cleanup();
    await repo?.cleanup();
    tree = cfg = repo = faulty = undefined;
    records = [];
  });

  async function boot(entries: CassetteEntry[], fault: Parameters<typeof faultyServices>[0]['fault'], setup: Setup = {}): Promise<TestTree> {
    const count = setup.programmers ?? 4;
    cfg = programmerConfig({
      programmers: Array.from({ length: count }, (_, i) => ({ id: `Prog-${String(i + 1).padStart(3, '0')}`, primary: FREE, backup: FREE_BACKUP, capabilities: ['fast', 'free'] })),
      failover: { max_retries: setup.maxRetries ?? 1, retry_delay_s: 0 },
    });
    cfg.edit('programmer_pool.yaml', (doc) => {
      doc.setIn(['supervision', 'max_restarts'], setup.maxRestarts ?? 3);
      if (setup.timeoutS) doc.setIn(['defaults', 'timeout_s'], setup.timeoutS);
      if (setup.breaker === false) doc.setIn(['failover', 'circuit_breaker', 'enabled'], false);
    });
    if (setup.maxConcurrentJobs) {
      cfg.edit('pas.yaml', (doc) => {
        for (let i = 0; i < 3; i++) doc.setIn(['managers', i, 'resources', 'max_concurrent_tasks'], setup.maxConcurrentJobs);
      });
    }
    repo = await createTempRepo(counterFiles(NAMES));
    faulty = faultyServices({ entries, ...(fault ? { fault } : {}) });
    tree = await startTestTree({ configDir: cfg.dir, services: faulty.services });
    tree.runtime.onTransition((r) => records.push(r));
    return tree;
  }

  async function submit(t: TestTree, task: string, via?: string, names: readonly string[] = NAMES): Promise<string> {
    const url = via ? `${t.url}/agents/${via}/submit` : `${t.url}/api/jobs`;
    const res = await postJson(url, { task, lane: 'Code', files: names.map((n) => `src/${n}.js`), repo: repo!.repo });
    expect(res.status).toBe(202);
    return res.body.job_id as string;
  }

  const invariants = (accepted: string[]) =>
    expectInvariants({ journal: tree!.runtime.journal, dataDir: tree!.dataDir, accepted, repos: [repo!.repo], executorRuns: faulty!.executorRuns });

  const taskOf = (jobId: string, name: string) => tree!.runtime.journal.tasksForJob(jobId).find((t) => t.spec.files.includes(`src/${name}.js`))!;

  it('survives every LLM fault kind mid-job: a passing fault is retried or failed over and the job completes, a lasting one fails its subtask with a coded reason', async () => {
    // Every fault that counts towards a breaker, and the two that say the request itself is wrong.
    const codes = [...BREAKER_FAILURE_CODES, 'PAS_ERR_LLM_BAD_REQUEST', 'PAS_ERR_LLM_CONTEXT_LENGTH'] as ErrorCode[];
    const jobs = codes.flatMap((code) => [
      { code, task: `Bump the counters (passing ${code})`, times: 1 },
      { code, task: `Bump the counters (lasting ${code})`, times: 50 },
    ]);
    // The fault hits subtask b while a and c are still being edited.
    const entries: CassetteEntry[] = jobs.flatMap(({ code, task, times }) => [
      { match: editOf(task, 'b'), error: { code, message: `injected ${code}` }, times, delay_ms: 20 },
      ...okEdits(task, ['a', 'b'], 40),
    ]);
    // Breakers off: each job's faults must not change what the other jobs' calls meet.
    const t = await boot(entries, undefined, { programmers: 8, breaker: false, maxConcurrentJobs: 4 });
    const ids = await Promise.all(jobs.map((j) => submit(t, j.task, undefined, ['a', 'b'])));
    const finished = await Promise.all(ids.map((id) => t.runtime.waitForJob(id, 90_000)));

    // No subtask failed for anything but the injected LLM fault.
    const unexpected = finished.flatMap((job) => t.runtime.journal.tasksForJob(job.id).filter((x) => x.status !== 'completed' && x.result?.error?.code !== 'PAS_ERR_LLM_ALL_FAILED'));
    expect(unexpected.map((x) => `${x.id}: ${x.status} ${x.result?.error?.message ?? x.error?.message}`)).toEqual([]);
    jobs.forEach((j, i) => {
      const job = finished[i]!;
      const b = taskOf(job.id, 'b');
      if (j.times === 1) {
        expect([j.code, job.status, b.status, taskOf(job.id, 'a').result?.error?.message ?? null, b.result?.error?.code === 'PAS_ERR_LLM_ALL_FAILED' ? null : (b.result?.error?.message ?? null)]).toEqual([j.code, 'completed', 'completed', null, null]);
      } else {
        const a = taskOf(job.id, 'a');
        expect([j.code, job.status, b.status, b.merged, a.status, a.result?.error?.message ?? null]).toEqual([j.code, 'partial', 'failed', false, 'completed', null]);
        const error = b.result!.error!;
        expect(error.code).toBe('PAS_ERR_LLM_ALL_FAILED');
        expect((error.details as { causes: Array<{ code: string }> }).causes.map((c) => c.code)).toContain(j.code);
        expect(taskOf(job.id, 'a').merged).toBe(true);
      }
    });
    await invariants(ids);
  }, 120_000);

  it('re-dispatches the subtask of a crashed executor to a different programmer and completes the job', async () => {
    const task = 'Bump the counters (crash)';
    const t = await boot(okEdits(task, NAMES, 30), (_id, instruction, attempt) => (attempt === 1 && instruction.includes('covers only src/b.js') ? 'crash' : undefined));
    const id = await submit(t, task);
    const job = await t.runtime.waitForJob(id, 30_000);

    expect(job.status).toBe('completed');
    const b = taskOf(id, 'b');
    const tried = faulty!.attempts.get(b.id)!;
    expect(tried).toHaveLength(2);
    expect(tried[0]).not.toBe(tried[1]);
    expect([b.status, b.attempt, b.programmerId, b.merged]).toEqual(['completed', 2, tried[1], true]);
    expect(t.runtime.poolStatus().stats.redispatched).toBe(1);
    await invariants([id]);
  });

  it('puts a programmer whose executor hangs past its timeout into FAILED, restarts it and completes the subtask on another programmer', async () => {
    const task = 'Bump the counters (hang)';
    const t = await boot(okEdits(task, NAMES, 30), (_id, instruction, attempt) => (attempt === 1 && instruction.includes('covers only src/b.js') ? 'hang' : undefined), { timeoutS: 2 });
    const id = await submit(t, task);
    const job = await t.runtime.waitForJob(id, 30_000);

    expect(job.status).toBe('completed');
    const b = taskOf(id, 'b');
    const [hung, second] = faulty!.attempts.get(b.id)!;
    expect(second).toBeDefined();
    expect(second).not.toBe(hung);
    expect([b.status, b.programmerId, b.merged]).toEqual(['completed', second, true]);
    const path = records.filter((r) => r.agentId === hung && (r.to === 'FAILED' || r.from === 'FAILED')).map((r) => `${r.from}->${r.to}`);
    expect(path).toEqual(['EXECUTING->FAILED', 'FAILED->IDLE']);
    const health = (await getJson(`${t.url}/api/agents/${hung}`)).body;
    expect([health.state, health.stats.restarts, health.pool_status]).toEqual(['IDLE', 1, 'idle']);
    await invariants([id]);
  });

  /** Waits until subtask b's slow edit call (cassette entry 0) is in flight and returns the programmer running it. */
  async function programmerRunningB(t: TestTree, jobId: string): Promise<string> {
    let runner: string | undefined;
    await until(() => {
      if (!faulty!.scripted.calls.some((c) => c.entry === 0)) return false;
      const b = t.runtime.journal.tasksForJob(jobId).find((x) => x.spec.files.includes('src/b.js'));
      runner = t.runtime.tree().find((n) => n.role === 'programmer' && n.state === 'EXECUTING' && b && n.taskId === b.id)?.agentId;
      return runner !== undefined;
    });
    return runner!;
  }

  it('restarts a programmer forced into FAILED over HTTP mid-task and re-dispatches its subtask', async () => {
    const task = 'Bump the counters (programmer fault)';
    // The first edit of b is slow, so the fault lands while it runs.
    const t = await boot([{ match: editOf(task, 'b'), reply: 'never used', delay_ms: 60_000, times: 1 }, ...okEdits(task, NAMES, 30)], undefined);
    const id = await submit(t, task);
    const victim = await programmerRunningB(t, id);
    expect((await postJson(`${t.url}/api/agents/${victim}/fault`, {})).status).toBe(202);
    const job = await t.runtime.waitForJob(id, 30_000);
    expect(job.status).toBe('completed');
    const b = taskOf(id, 'b');
    expect(faulty!.attempts.get(b.id)).toEqual([victim, b.programmerId]);
    expect(b.programmerId).not.toBe(victim);
    expect(b.merged).toBe(true);
    const health = (await getJson(`${t.url}/api/agents/${victim}`)).body;
    expect([health.state, health.stats.restarts]).toEqual(['IDLE', 1]);
    // The stopped first run still wrote its receipt: one per executor run.
    await invariants([id]);
  });

  it('escalates to the Manager when the restart intensity is exceeded; the Manager re-routes the subtask and the job completes', async () => {
    const task = 'Bump the counters (escalation)';
    const t = await boot([{ match: editOf(task, 'b'), reply: 'never used', delay_ms: 60_000, times: 1 }, ...okEdits(task, NAMES, 30)], undefined, { maxRestarts: 0 });
    const id = await submit(t, task);
    const victim = await programmerRunningB(t, id);
    await postJson(`${t.url}/api/agents/${victim}/fault`, {});
    const job = await t.runtime.waitForJob(id, 30_000);

    expect(job.status).toBe('completed');
    const b = taskOf(id, 'b');
    expect(b.programmerId).not.toBe(victim);
    const manager = (await getJson(`${t.url}/api/agents/${job.managerId}`)).body;
    expect(manager.escalations).toBe(1);
    const pool = (await getJson(`${t.url}/api/pool`)).body;
    expect(pool.programmers.find((p: JsonAnswer) => p.id === victim).status).toBe('quarantined');
    expect(pool.stats.escalated).toBe(1);
    await invariants([id]);

    // A reset over HTTP brings the quarantined programmer back into service.
    expect((await postJson(`${t.url}/api/agents/${victim}/reset`, {})).status).toBe(202);
    await until(async () => (await getJson(`${t.url}/api/pool`)).body.programmers.find((p: JsonAnswer) => p.id === victim).status === 'idle');
  });

  it('hands the jobs of a Manager failing mid-job back to the Director, which finishes them on another Manager', async () => {
    const task = 'Bump the counters (manager fault)';
    const t = await boot([{ match: editOf(task, 'b'), reply: 'never used', delay_ms: 60_000, times: 1 }, ...okEdits(task, NAMES, 30)], undefined);
    const id = await submit(t, task, 'Mgr-Code-01');
    await programmerRunningB(t, id);
    expect((await postJson(`${t.url}/api/agents/Mgr-Code-01/fault`, {})).status).toBe(202);
    const job = await t.runtime.waitForJob(id, 30_000);

    expect(job.status).toBe('completed');
    expect(['Mgr-Code-02', 'Mgr-Code-03']).toContain(job.managerId);
    for (const n of NAMES) expect(taskOf(id, n)).toMatchObject({ status: 'completed', merged: true });
    const failed = (await getJson(`${t.url}/api/agents/Mgr-Code-01`)).body;
    expect([failed.state, failed.failure?.code]).toEqual(['FAILED', 'PAS_ERR_MANAGER_FAILED']);
    const director = (await getJson(`${t.url}/api/agents/Dir-Code`)).body;
    expect(director.down).toEqual(['Mgr-Code-01']);
    await invariants([id]);
  });
});
