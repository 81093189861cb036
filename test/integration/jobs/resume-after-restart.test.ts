/**
 * A tree stopped without draining (its journal left as a kill leaves it) and a new tree on the
 * same data dir: jobs pick up from the journal with the plan they were running. Tasks run
 * in-process; the SIGKILL of a real `pas up` is in crash-recovery.test.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openJournal } from '../../../src/journal/journal.ts';
import { redactedJson } from '../../../src/redaction.ts';
import { bookReceipt } from '../../../src/runtime/book-receipt.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { postJson, until, untilTerminal } from './jobs-support.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';

describe('jobs resumed after a restart', () => {
  let cfg: TempConfig | undefined;
  let dataDir: string | undefined;
  const trees: TestTree[] = [];

  afterEach(async () => {
    for (const tree of trees.splice(0)) await tree.close();
    cfg?.cleanup();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    cfg = dataDir = undefined;
  });

  function journaled(jobId: string) {
    const journal = openJournal(path.join(dataDir!, 'pas.db'));
    try {
      return { job: journal.getJob(jobId)!, tasks: journal.tasksForJob(jobId), plan: journal.loadSnapshot<{ subtasks: Array<{ id: string; files: string[] }> }>(`plan:${jobId}`) };
    } finally {
      journal.close();
    }
  }

  /** A tree stopped (as a kill leaves its journal) while a two-file job's two subtasks run: the job, its data dir and configs. */
  async function stoppedWithTwoRunning(): Promise<{ jobId: string; data: string; configDir: string }> {
    const made = (cfg = tempConfig());
    const data = (dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-resume-')));
    const first = await startTestTree({ configDir: made.dir, dataDir: data, services: inProcessServices({ outcome: () => 'hang' }) });
    trees.push(first);
    const res = await postJson(`${first.url}/api/jobs`, { task: 'two files', lane: 'Code', files: ['a.js', 'b.js'] });
    const jobId = res.body.job_id as string;
    await until(() => first.runtime.journal.runningTasks().length === 2);
    await trees.pop()!.close();
    return { jobId, data, configDir: made.dir };
  }

  it('runs the plan as capped at max_programmers again, not the longer plan the LLM gave', async () => {
    cfg = tempConfig();
    cfg.edit('pas.yaml', (doc) => {
      for (let i = 0; i < 3; i++) doc.setIn(['managers', i, 'resources', 'max_programmers'], 2);
    });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-resume-'));
    const first = await startTestTree({ configDir: cfg.dir, dataDir, services: inProcessServices({ outcome: () => 'hang' }) });
    trees.push(first);
    const files = ['a.js', 'b.js', 'c.js', 'd.js'];
    const res = await postJson(`${first.url}/api/jobs`, { task: 'four files, two programmers', lane: 'Code', files });
    const jobId = res.body.job_id as string;
    await until(() => first.runtime.journal.runningTasks().length === 2);
    await trees.pop()!.close();

    const left = journaled(jobId);
    expect(left.job.status).toBe('running');
    expect(left.tasks.map((t) => [t.id, t.status, t.spec.files])).toEqual([
      [`${jobId}-t1`, 'running', ['a.js', 'c.js']],
      [`${jobId}-t2`, 'running', ['b.js', 'd.js']],
    ]);
    expect(left.plan?.subtasks.map((s) => s.files)).toEqual([['a.js', 'c.js'], ['b.js', 'd.js']]);

    const services = inProcessServices({ taskMs: 10 });
    const second = await startTestTree({ configDir: cfg.dir, dataDir, services });
    trees.push(second);
    const job = await untilTerminal(`${second.url}/api/jobs/${jobId}`);

    expect(job.status).toBe('completed');
    expect(job.tasks.map((t: JsonAnswer) => [t.task_id, t.files, t.merged])).toEqual([
      [`${jobId}-t1`, ['a.js', 'c.js'], true],
      [`${jobId}-t2`, ['b.js', 'd.js'], true],
    ]);
    expect(services.started.map((s) => s.taskId).sort()).toEqual([`${jobId}-t1`, `${jobId}-t2`]);
  });

  it('does not run again a subtask whose attempt booked its completed receipt before the kill: the job takes that result', async () => {
    const { jobId, data, configDir } = await stoppedWithTwoRunning();

    // The state a kill leaves right after t1's receipt was booked (its index row holds the result)
    // and before the pool's finish of t1 reached the journal.
    const journal = openJournal(path.join(data, 'pas.db'));
    const t1 = journal.getTask(`${jobId}-t1`)!;
    const booked = { taskId: t1.id, jobId, programmerId: t1.programmerId!, status: 'completed' as const, provider: 'scripted', model: 'scripted', usedBackup: false, tokens: { input: 287, output: 28 }, costUsd: 0.000988, kpi: { files_changed: 1, lines_added: 1, lines_removed: 0 }, branch: `pas/${jobId}/${t1.id}`, commit: 'b'.repeat(40) };
    // Booked as the real services book it (row and usage on disk), killed before the line was written: the restart writes it.
    const receipt = { run_id: 'run-killed', job_id: jobId, task_id: t1.id, agent_id: t1.programmerId!, provider: 'scripted', model: 'scripted', used_backup: false, status: 'completed' as const, tokens: { input: 287, output: 28 }, cost_usd: 0.000988, duration_ms: 900, kpi: booked.kpi, started_at: '2026-12-01T10:00:00.000Z', finished_at: new Date().toISOString() };
    const killed = bookReceipt(journal, { append: () => new Promise<void>(() => undefined) }, { runId: 'run-killed', taskId: t1.id, attempt: t1.attempt }, receipt, booked);
    await journal.synced();
    journal.close();
    void killed;
    const line = redactedJson(receipt);

    const services = inProcessServices({ taskMs: 10 });
    const second = await startTestTree({ configDir, dataDir: data, services });
    trees.push(second);
    const job = await untilTerminal(`${second.url}/api/jobs/${jobId}`);
    expect(job.status).toBe('completed');
    // Only t2 ran again; t1 kept the result its attempt booked, and its usage counts once.
    expect(services.started.map((s) => s.taskId)).toEqual([`${jobId}-t2`]);
    expect(second.runtime.journal.getTask(t1.id)?.result).toMatchObject({ status: 'completed', commit: 'b'.repeat(40), costUsd: 0.000988 });
    expect(readFileSync(path.join(data, 'receipts', 'run-killed.jsonl'), 'utf8')).toBe(`${line}\n`);
    const rerunOn = job.tasks.find((t: JsonAnswer) => t.task_id === `${jobId}-t2`).programmer_id as string;
    const usage = [...new Set([t1.programmerId!, rerunOn])].map((id) => second.runtime.usageToday(id));
    // t1's booked attempt, counted once (the services here book no receipt for t2's run).
    expect(usage.reduce((n, u) => n + u.input_tokens, 0)).toBe(287);
    expect(usage.reduce((n, u) => n + u.cost_usd, 0)).toBeCloseTo(0.000988, 9);
  });

  it("books at the restart the receipt of a subtask's attempt the kill cut off after paid model calls (what they cost, in the new run's file and its programmer's usage), then runs the subtask again; a second restart books none", async () => {
    const { jobId, data, configDir } = await stoppedWithTwoRunning();

    // The state a kill leaves while t1's attempt waited for its model: two paid calls charged (as
    // the LLM client charges them, with their task), no receipt.
    const journal = openJournal(path.join(data, 'pas.db'));
    const t1 = journal.getTask(`${jobId}-t1`)!;
    const day = new Date().toISOString().slice(0, 10);
    journal.spendStore().addForTask!(day, 0.00615, { taskId: t1.id, tokens: { input: 1200, output: 340 }, model: 'openai/gpt-4o' });
    journal.spendStore().addForTask!(day, 0.00615, { taskId: t1.id, tokens: { input: 1200, output: 340 }, model: 'openai/gpt-4o' });
    journal.close();

    const services = inProcessServices({ taskMs: 10 });
    const second = await startTestTree({ configDir, dataDir: data, services });
    trees.push(second);
    const job = await untilTerminal(`${second.url}/api/jobs/${jobId}`);
    expect(job.status).toBe('completed');
    expect(services.started.map((s) => s.taskId).sort()).toEqual([`${jobId}-t1`, `${jobId}-t2`]);
    const lines = readFileSync(path.join(data, 'receipts', `${second.runtime.runId}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as JsonAnswer);
    expect(lines.filter((l) => l.task_id === t1.id)).toMatchObject([{ agent_id: t1.programmerId, status: 'failed', error: { code: 'PAS_ERR_TASK_INTERRUPTED' }, provider: 'openai', model: 'gpt-4o', tokens: { input: 2400, output: 680 }, cost_usd: 0.0123 }]);
    expect(second.runtime.usageToday(t1.programmerId!).cost_usd).toBeCloseTo(0.0123, 9);
    expect(second.runtime.journal.getTask(t1.id)?.attempt).toBe(2);
    expect(second.runtime.journal.localAttemptCalls(t1.id, 1)).toEqual([]);
    await trees.pop()!.close();

    const third = await startTestTree({ configDir, dataDir: data, services: inProcessServices({ taskMs: 10 }) });
    trees.push(third);
    expect(readdirSync(path.join(data, 'receipts')).filter((f) => f.startsWith(third.runtime.runId))).toEqual([]);
    expect(third.runtime.usageToday(t1.programmerId!).cost_usd).toBeCloseTo(0.0123, 9);
  });

  it('starts the jobs that were still queued at their Manager', async () => {
    cfg = tempConfig();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-resume-'));
    const first = await startTestTree({ configDir: cfg.dir, dataDir, services: inProcessServices({ outcome: () => 'hang' }) });
    trees.push(first);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await postJson(`${first.url}/agents/Mgr-Code-01/submit`, { task: `job ${i}`, files: [`f${i}.js`] });
      ids.push(res.body.job_id);
    }
    // Two jobs run (max_concurrent_tasks 2) and two wait in the Manager's queue.
    await until(() => first.runtime.journal.runningTasks().length === 2);
    await trees.pop()!.close();
    expect(ids.map((id) => journaled(id).tasks.length)).toEqual([1, 1, 0, 0]);

    const services = inProcessServices({ taskMs: 10 });
    const second = await startTestTree({ configDir: cfg.dir, dataDir, services });
    trees.push(second);
    for (const id of ids) expect((await untilTerminal(`${second.url}/api/jobs/${id}`)).status).toBe('completed');
    expect(services.started).toHaveLength(4);
  });
});
