/**
 * The HMI job form's executor choice, in Debian's headless Chromium against a real tree (scripted
 * demo cassette, real git): every programmer is configured for aider, which is not installed, so
 * the job completes only because the executor picked in the form runs each subtask. The job shows
 * what runs it, and "Run again" keeps the choice. Screenshot to artifacts/.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXECUTOR_KINDS } from '../../machines/domain.ts';
import { DEMO_MODULES, DEMO_TASK } from '../../src/demo/demo-fixture.ts';
import { tempConfig } from '../support/test-config.ts';
import { ARTIFACTS, hmiRig } from './hmi-support.ts';

const { defer, demoTree, hmi } = hmiRig();

describe('HMI: the job form chooses the executor', { timeout: 120_000 }, () => {
  it("offers every executor, runs the job's subtasks with the chosen one over the programmers' own, shows it, and keeps it on Run again", async () => {
    const cfg = tempConfig();
    defer(() => cfg.cleanup());
    cfg.edit('programmer_pool.yaml', (doc) => {
      doc.setIn(['defaults', 'executor'], 'aider');
      doc.setIn(['aider', 'binary'], '/nonexistent/pas-test-aider');
    });
    const tree = await demoTree({ configDir: cfg.dir, editDelayMs: 300 });
    const { page, errors } = await hmi(tree.url);

    const executor = page.getByLabel('Executor', { exact: true });
    expect(await executor.locator('option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value))).toEqual(['', ...EXECUTOR_KINDS]);
    await page.getByLabel('Task', { exact: true }).fill(DEMO_TASK);
    await page.getByLabel('Files', { exact: true }).fill(DEMO_MODULES.map((m) => m.file).join(' '));
    await page.getByLabel('Repository', { exact: true }).fill(tree.repo);
    await executor.selectOption('native');
    await page.getByRole('button', { name: 'Submit job' }).click();
    await expect.poll(() => page.locator('#job-form-msg').textContent(), { timeout: 20_000 }).toMatch(/^Submitted job \w+\.$/);
    const jobId = /^Submitted job (\w+)\.$/.exec((await page.locator('#job-form-msg').textContent())!)![1]!;
    expect(tree.runtime.getJob(jobId)!.spec.executor).toBe('native');

    const job = page.locator(`#jobs .job[data-job-id="${jobId}"]`);
    await page.locator(`#jobs .job[data-job-id="${jobId}"][data-status="completed"]`).waitFor({ timeout: 90_000 });
    expect(await job.locator('.job-head .muted').textContent()).toContain('runs native');
    await job.locator('details.subtasks > summary').click();
    const receipts = await job.locator('.task .task-receipt').allTextContents();
    expect(receipts).toHaveLength(DEMO_MODULES.length);
    for (const r of receipts) expect(r).toMatch(/^Prog-\d{3} · native · /);
    await job.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'hmi-job-executor.png') });

    await job.getByRole('button', { name: `Run again (job ${jobId})` }).click();
    await expect.poll(() => tree.runtime.journal.countJobs(), { timeout: 20_000 }).toBe(2);
    const again = tree.runtime.journal.listJobs().find((j) => j.id !== jobId)!;
    expect(again.spec).toMatchObject({ task: DEMO_TASK, executor: 'native' });
    expect(errors).toEqual([]);
  });
});
