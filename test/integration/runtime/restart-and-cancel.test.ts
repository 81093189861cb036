/**
 * What a restart and a cancel must not get wrong: refusals a job would have retried are not
 * verdicts, direct tasks are picked up again, a cancel reaches the Manager that holds the job
 * whichever agent it was submitted through, and a spent budget steers the pool to free programmers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type PasConfig } from '../../../src/config/load-config.ts';
import { createRuntime, type Runtime } from '../../../src/runtime/create-runtime.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { receiptedServices } from '../../support/receipted-services.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';

const runtimes: Runtime[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const rt of runtimes.splice(0)) await rt.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function configWith(change: (c: PasConfig) => void): PasConfig {
  const config = structuredClone(loadConfig(SHIPPED_CONFIGS));
  change(config);
  return config;
}

function boot(config: PasConfig, dataDir: string, taskMs: number) {
  const services = inProcessServices({ taskMs });
  const rt = createRuntime({ config, dataDir, services });
  runtimes.push(rt);
  return { rt, services };
}

function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'pas-restart-'));
  dirs.push(d);
  return d;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('restarts and cancels', () => {
  it('runs again, after a restart, the subtasks the pool had refused as queue-full instead of keeping that refusal as their result', async () => {
    const config = configWith((c) => (c.pool.load_balancing.max_queue_per_programmer = 1));
    const dataDir = tmp();
    const { rt } = boot(config, dataDir, 5_000);
    const files = Array.from({ length: 10 }, (_, i) => `f${i}.txt`);
    const jobs = [1, 2, 3].map(() => rt.submitJob({ task: 'x', files, lane: 'Code' }));
    await sleep(300);
    const refused = jobs.flatMap((j) => rt.journal.tasksForJob(j.id)).filter((t) => t.error?.code === 'PAS_ERR_POOL_QUEUE_FULL');
    expect(refused.length).toBeGreaterThan(0);
    await rt.stop();

    const { rt: again } = boot(config, dataDir, 20);
    for (const job of jobs) {
      const done = await again.waitForJob(job.id, 20_000);
      expect(done.status).toBe('completed');
      expect(done.outcome!.tasks.every((t) => t.status === 'completed')).toBe(true);
    }
  });

  it('puts a direct task that was running back in the pool after a restart, and runs it', async () => {
    const config = loadConfig(SHIPPED_CONFIGS);
    const dataDir = tmp();
    const { rt } = boot(config, dataDir, 5_000);
    const task = rt.submitTask({ programmerId: 'Prog-001', instruction: 'x', files: ['a.txt'] });
    await sleep(100);
    expect(rt.journal.getTask(task.id)?.status).toBe('running');
    await rt.stop();

    const { rt: again, services } = boot(config, dataDir, 20);
    for (let i = 0; i < 100 && again.journal.getTask(task.id)?.status !== 'completed'; i++) await sleep(20);
    expect(again.journal.getTask(task.id)?.status).toBe('completed');
    expect(services.started).toEqual([{ taskId: task.id, programmerId: 'Prog-001' }]);
  });

  it.each([['the Architect', undefined], ['a Director', 'Dir-Code'], ['a Manager', 'Mgr-Code-01']])(
    'cancels a job submitted through %s',
    async (_who, via) => {
      const { rt } = boot(loadConfig(SHIPPED_CONFIGS), tmp(), 3_000);
      const job = rt.submitJob({ task: 'x', files: ['a.txt', 'b.txt'], lane: 'Code' }, via);
      await sleep(100);
      expect(rt.cancelJob(job.id)).toBe(true);
      expect((await rt.waitForJob(job.id, 6_000)).status).toBe('cancelled');
    },
  );

  it('tells the pool when the daily budget is spent, so paid programmers get no more tasks, and when a new day makes it available again', async () => {
    let clock = Date.parse('2026-03-01T23:59:00.000Z');
    const rt = createRuntime({ config: loadConfig(SHIPPED_CONFIGS), dataDir: tmp(), services: inProcessServices({ taskMs: 20 }), now: () => new Date(clock) });
    runtimes.push(rt);
    expect(rt.poolContext().budgetExhausted).toBe(false);
    rt.journal.spendStore().add(rt.budget().day, rt.budget().max_daily_spend_usd);
    await rt.waitForJob(rt.submitJob({ task: 'x', files: ['a.txt'], lane: 'Code' }).id, 5_000);
    expect(rt.poolContext().budgetExhausted).toBe(true);
    // Work only paid programmers can do is refused at the pool with the budget code.
    const premium = (id: string) =>
      rt.send('pool', { type: 'task.submitted', task: { id, jobId: 'direct-budget', managerId: 'Mgr-Code-01', replyTo: 'pas', instruction: 'x', files: ['a.txt'], requires: ['premium'] } });
    premium('premium-1');
    for (let i = 0; i < 100 && !rt.journal.getTask('premium-1')?.result; i++) await sleep(10);
    expect(rt.journal.getTask('premium-1')?.result?.error?.code).toBe('PAS_ERR_BUDGET_EXHAUSTED');

    clock += 120_000; // past midnight UTC: a new day's budget
    await rt.waitForJob(rt.submitJob({ task: 'x', files: ['b.txt'], lane: 'Code' }).id, 5_000);
    expect(rt.poolContext().budgetExhausted).toBe(false);
    premium('premium-2');
    for (let i = 0; i < 100 && !rt.journal.getTask('premium-2')?.result; i++) await sleep(10);
    expect(rt.journal.getTask('premium-2')?.result).toMatchObject({ status: 'completed' });
    expect(['Prog-006', 'Prog-007', 'Prog-008']).toContain(rt.journal.getTask('premium-2')?.result?.programmerId);
  });

  it('keeps each agent\'s usage today across a restart, as it keeps the day\'s spend', async () => {
    const config = loadConfig(SHIPPED_CONFIGS);
    const dataDir = tmp();
    const rt = createRuntime({ config, dataDir, services: receiptedServices(inProcessServices({ taskMs: 20 })) });
    runtimes.push(rt);
    const job = rt.submitJob({ task: 'x', files: ['a.txt', 'b.txt'], lane: 'Code' });
    const done = await rt.waitForJob(job.id, 5_000);
    const programmers = [...new Set(done.outcome!.tasks.map((t) => t.programmerId))];
    const before = Object.fromEntries(programmers.map((id) => [id, rt.usageToday(id)]));
    expect(Object.values(before).reduce((n, u) => n + u.tasks, 0)).toBe(2);
    expect(Object.values(before).reduce((n, u) => n + u.input_tokens, 0)).toBe(200);
    await rt.stop();

    const again = createRuntime({ config, dataDir, services: receiptedServices(inProcessServices({ taskMs: 20 })) });
    runtimes.push(again);
    for (const id of programmers) expect(again.usageToday(id)).toEqual(before[id]);
  });

  it('counts in each agent\'s usage today the attempts that failed and were retried elsewhere, with what they cost', async () => {
    const config = loadConfig(SHIPPED_CONFIGS);
    let first: string | undefined;
    const services = inProcessServices({
      taskMs: 20,
      // The first programmer's attempt spends money, then fails retryably: the pool gives the task to another.
      outcome: (_taskId, programmerId) => {
        first ??= programmerId;
        return programmerId === first
          ? { status: 'failed', error: { code: 'PAS_ERR_LLM_SERVER', message: 'model down', retryable: true }, tokens: { input: 300, output: 40 }, costUsd: 0.0125 }
          : { tokens: { input: 100, output: 20 }, costUsd: 0.002 };
      },
    });
    const rt = createRuntime({ config, dataDir: tmp(), services: receiptedServices(services) });
    runtimes.push(rt);
    const done = await rt.waitForJob(rt.submitJob({ task: 'x', files: ['a.txt'], lane: 'Code' }).id, 5_000);
    const second = done.outcome!.tasks[0]!.programmerId;
    expect(done.outcome!.tasks[0]!.status).toBe('completed');
    expect(second).not.toBe(first);
    expect(rt.usageToday(first!)).toEqual({ tasks: 1, input_tokens: 300, output_tokens: 40, cost_usd: 0.0125 });
    expect(rt.usageToday(second)).toEqual({ tasks: 1, input_tokens: 100, output_tokens: 20, cost_usd: 0.002 });
  });

  it('counts an attempt\'s usage for the programmer its result names (a remote attempt adopted after a restart ran on another than the one the pool last picked)', async () => {
    const config = loadConfig(SHIPPED_CONFIGS);
    const services = inProcessServices({ taskMs: 20, outcome: () => ({ programmerId: 'Prog-010', tokens: { input: 307, output: 27 }, costUsd: 0.001 }) });
    const rt = createRuntime({ config, dataDir: tmp(), services: receiptedServices(services) });
    runtimes.push(rt);
    await rt.waitForJob(rt.submitJob({ task: 'x', files: ['a.txt'], lane: 'Code' }).id, 5_000);
    const picked = services.started[0]!.programmerId;
    expect(picked).not.toBe('Prog-010');
    expect(rt.usageToday('Prog-010')).toEqual({ tasks: 1, input_tokens: 307, output_tokens: 27, cost_usd: 0.001 });
    expect(rt.usageToday(picked).tasks).toBe(0);
  });

  it('gives the first paid task after UTC midnight to a paid programmer, before any task of the new day has finished', async () => {
    let clock = Date.parse('2026-03-01T23:59:00.000Z');
    const rt = createRuntime({ config: loadConfig(SHIPPED_CONFIGS), dataDir: tmp(), services: inProcessServices({ taskMs: 20 }), now: () => new Date(clock) });
    runtimes.push(rt);
    rt.journal.spendStore().add(rt.budget().day, rt.budget().max_daily_spend_usd);
    await rt.waitForJob(rt.submitJob({ task: 'x', files: ['a.txt'], lane: 'Code' }).id, 5_000);
    expect(rt.poolContext().budgetExhausted).toBe(true);

    clock += 120_000; // past midnight UTC: nothing has finished since, the pool still holds yesterday's verdict
    rt.send('pool', { type: 'task.submitted', task: { id: 'premium-new-day', jobId: 'direct-budget', managerId: 'Mgr-Code-01', replyTo: 'pas', instruction: 'x', files: ['a.txt'], requires: ['premium'] } });
    for (let i = 0; i < 100 && !rt.journal.getTask('premium-new-day')?.result; i++) await sleep(10);
    expect(rt.journal.getTask('premium-new-day')?.result).toMatchObject({ status: 'completed' });
    expect(rt.poolContext().budgetExhausted).toBe(false);
  });

  it('hands a failed Manager\'s job to the next Manager with its plan and finished subtasks, which are not run again', async () => {
    const services = inProcessServices({ taskMs: 200 });
    const fast = services.executeTask;
    // The third subtask takes long enough for the Manager to fail while it runs.
    services.executeTask = async (input, signal) => {
      if (input.task.id.endsWith('-t3')) await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 1_500);
        signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
      });
      return fast(input, signal);
    };
    const rt = createRuntime({ config: loadConfig(SHIPPED_CONFIGS), dataDir: tmp(), services });
    runtimes.push(rt);
    const job = rt.submitJob({ task: 'x', files: ['a.txt', 'b.txt', 'c.txt'], lane: 'Code' });
    for (let i = 0; i < 100 && rt.journal.tasksForJob(job.id).filter((t) => t.status === 'completed').length < 2; i++) await sleep(20);
    const first = rt.journal.getJob(job.id)!.managerId!;
    rt.send(first, { type: 'manager.fault' });
    const done = await rt.waitForJob(job.id, 10_000);
    expect(done.status).toBe('completed');
    expect(done.managerId).not.toBe(first);
    const starts = services.started.map((s) => s.taskId.slice(job.id.length));
    expect(starts.filter((t) => t === '-t1')).toHaveLength(1);
    expect(starts.filter((t) => t === '-t2')).toHaveLength(1);
  });
});
