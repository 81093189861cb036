/**
 * The HMI as a place to work, in Debian's headless Chromium against a real tree (scripted demo
 * cassette, real git, real /ws): submit a job from the form, follow it on its timeline (parallel
 * runs on programmers, the merge), cancel one, see why a breaker is open, see that the page is
 * disconnected, and use it at 800 px. Screenshots go to artifacts/.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { DEMO_MODULES, DEMO_TASK } from '../../src/demo/demo-fixture.ts';
import { runDoctor } from '../../src/doctor/doctor-checks.ts';
import { closedPort } from '../support/fake-llm-server.ts';
import { tempConfig } from '../support/test-config.ts';
import { ARTIFACTS, feedCutter, hmiRig } from './hmi-support.ts';

const { defer, demoTree, hmi } = hmiRig();

const poll = <T>(read: () => T | Promise<T>, options: { timeout?: number } = {}) => expect.poll(read, { timeout: 20_000, interval: 50, ...options });

describe('HMI: submit, follow and cancel jobs', { timeout: 90_000 }, () => {
  it('submits a job from the form and shows its subtasks on a timeline: in parallel on several programmers, each branch merged as it finishes', async () => {
    const tree = await demoTree({ editDelayMs: 1500 });
    const { page, errors } = await hmi(tree.url);

    await page.getByLabel('Task', { exact: true }).fill(DEMO_TASK);
    await page.getByLabel('Files', { exact: true }).fill(DEMO_MODULES.map((m) => m.file).join(' '));
    await page.getByLabel('Repository', { exact: true }).fill(tree.repo);
    await page.getByLabel('Lane', { exact: true }).selectOption('Code');
    await page.getByRole('button', { name: 'Submit job' }).click();
    await poll(() => page.locator('#job-form-msg').textContent()).toMatch(/^Submitted job \w+\.$/);
    const jobId = /^Submitted job (\w+)\.$/.exec((await page.locator('#job-form-msg').textContent())!)![1]!;
    const stored = tree.runtime.getJob(jobId)!;
    expect(stored.spec).toMatchObject({ task: DEMO_TASK, files: DEMO_MODULES.map((m) => m.file), repo: tree.repo, lane: 'Code' });

    const job = page.locator(`#jobs .job[data-job-id="${jobId}"]`);
    // While it runs: bars on several programmers at once.
    await page.waitForFunction((id) => document.querySelectorAll(`#jobs .job[data-job-id="${id}"] .tl-bar[data-status="running"]`).length >= 3, jobId, { timeout: 30_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'hmi-work-running.png') });

    await page.locator(`#jobs .job[data-job-id="${jobId}"][data-status="completed"]`).waitFor({ timeout: 60_000 });
    const timeline = job.locator('.timeline');
    await poll(() => timeline.locator('.tl-bar[data-status="completed"]').count()).toBe(DEMO_MODULES.length);
    // One row per programmer that worked, as the journal has it, and the Manager's plan and merge.
    const worked = [...new Set(tree.runtime.journal.tasksForJob(jobId).map((t) => t.programmerId!))].sort();
    expect(await timeline.locator('.tl-row-programmer .tl-label').allTextContents()).toEqual(worked);
    expect(await timeline.locator('.tl-row-manager .tl-label').textContent()).toBe(stored.managerId);
    // The merge queue's row: one bar per branch, merged as its subtask finished.
    await poll(() => timeline.locator('.tl-row-merge .tl-merge').count()).toBe(DEMO_MODULES.length);
    expect(await timeline.locator('.tl-row-merge .tl-label').textContent()).toBe('merge queue');
    expect(new Set(await timeline.locator('.tl-merge').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.state)))).toEqual(new Set(['merged']));
    expect(await timeline.locator('.tl-merge').first().getAttribute('title')).toMatch(new RegExp(`^merge ${jobId}-t\\d into pas/job-${jobId}: merged`));
    expect(Number(await timeline.getAttribute('data-peak'))).toBeGreaterThanOrEqual(3);
    // Each bar says what it was in its tooltip.
    expect(await timeline.locator('.tl-bar[data-status="completed"]').first().getAttribute('title')).toMatch(new RegExp(`^${jobId}-t\\d on Prog-\\d{3}\\nsrc/\\w+\\.js\\ncompleted · [\\d.]+ (ms|s)$`));
    await job.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'hmi-work-timeline.png') });
    expect(errors).toEqual([]);
  }, 120_000);

  it('shows the gateway’s reason when the form’s job is refused, and keeps what was typed', async () => {
    const tree = await demoTree();
    const { page } = await hmi(tree.url);
    await page.getByLabel('Task', { exact: true }).fill('x'.repeat(100_001));
    await page.getByLabel('Files', { exact: true }).fill('a.js');
    await page.getByRole('button', { name: 'Submit job' }).click();
    await poll(() => page.locator('#job-form-msg').textContent()).toMatch(/^Not submitted: .*task/);
    expect(await page.locator('#job-form-msg').getAttribute('role')).toBe('alert');
    expect(await page.getByLabel('Files', { exact: true }).inputValue()).toBe('a.js');
    expect(tree.runtime.journal.countJobs()).toBe(0);
  });

  it('cancels a running job from its Cancel button', async () => {
    const tree = await demoTree({ editDelayMs: 120_000 });
    const { page, errors } = await hmi(tree.url);
    const jobId = await tree.submitDemoJob();
    const job = page.locator(`#jobs .job[data-job-id="${jobId}"]`);
    await page.waitForFunction((id) => document.querySelectorAll(`#jobs .job[data-job-id="${id}"] .tl-bar[data-status="running"]`).length >= 1, jobId, { timeout: 30_000 });
    await job.getByRole('button', { name: `Cancel job ${jobId}` }).click();
    await page.locator(`#jobs .job[data-job-id="${jobId}"][data-status="cancelled"]`).waitFor({ timeout: 30_000 });
    expect(tree.runtime.getJob(jobId)!.status).toBe('cancelled');
    await poll(() => page.locator('#activity').textContent()).toContain(`Cancelling job ${jobId}.`);
    // A finished job offers to run again instead.
    expect(await job.getByRole('button', { name: `Run again (job ${jobId})` }).count()).toBe(1);
    expect(errors).toEqual([]);
  }, 90_000);
});

describe('HMI: the tree', { timeout: 90_000 }, () => {
  it('draws the programmers under the shared pool node, not under Managers, and says why a breaker is open', async () => {
    const tree = await demoTree();
    const { page, errors } = await hmi(tree.url);
    expect(await page.locator('#tree .branch-manager .tile').count()).toBe(0);
    expect(await page.locator('#tree .pool-branch .tile .node-programmer').count()).toBe(10);
    await poll(() => page.locator('#pool-node .pool-stats').textContent()).toMatch(/^least loaded · 0 running · 10\/10 idle · 0 queued$/);

    // Three failures with their causes open the shared breaker of Prog-001's primary model.
    const ref = 'ollama/qwen2.5-coder:7b-instruct';
    for (let i = 0; i < 3; i++) tree.runtime.breakers.record(ref, 'failure', false, { code: 'PAS_ERR_LLM_CONNECTION', retryable: true, message: `${ref}: connection failed at http://127.0.0.1:11434: ECONNREFUSED fetch failed` });
    const pill = page.locator(`#tree .tile[data-agent-id="Prog-001"] .pill[data-breaker="breaker:${ref}"]`);
    await poll(() => pill.getAttribute('data-breaker-state')).toBe('open');
    await poll(() => pill.getAttribute('title'), { timeout: 20_000 }).toBe(
      `${ref} — breaker open (failing) (primary model)\nwhy: PAS_ERR_LLM_CONNECTION: ${ref}: connection failed at http://127.0.0.1:11434: ECONNREFUSED fetch failed (3 of the last 3 failures)`,
    );
    await pill.hover();
    await page.screenshot({ path: path.join(ARTIFACTS, 'hmi-work-breaker.png') });
    expect(errors).toEqual([]);
  });

  it('greys the tree out and says since when it is stale while the feed is down, and recovers', async () => {
    const tree = await demoTree();
    const cutter = feedCutter(tree);
    defer(() => cutter.dispose());
    const { page, errors } = await hmi(tree.url);
    expect(await page.locator('#stale').isVisible()).toBe(false);
    cutter.cut();
    await page.locator('body[data-conn="disconnected"]').waitFor();
    await poll(() => page.locator('#stale').isVisible()).toBe(true);
    expect(await page.locator('#stale-text').textContent()).toMatch(/^Not connected to the gateway since \d\d:\d\d:\d\d: agent states, jobs and breakers shown may be out of date\.$/);
    expect(await page.locator('#tree').evaluate((el) => getComputedStyle(el).filter)).toBe('grayscale(1)');
    await page.screenshot({ path: path.join(ARTIFACTS, 'hmi-work-disconnected.png') });
    cutter.unblock();
    await page.locator('body[data-conn="live"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('#stale').isVisible()).toBe(false);
    expect(errors).toEqual([]);
  });
});

describe('HMI: what pas doctor found', { timeout: 90_000 }, () => {
  it('marks the pills of models that cannot be used, with the reason and the fix, before any job runs', async () => {
    const answering = http.createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((r) => answering.listen(0, '127.0.0.1', () => r()));
    defer(() => new Promise<void>((r) => answering.close(() => r())));
    const up = `http://127.0.0.1:${(answering.address() as AddressInfo).port}`;
    const down = await closedPort();
    const cfg = tempConfig('pas-hmi-doctor-');
    defer(() => cfg.cleanup());
    cfg.edit('models.yaml', (doc) => {
      doc.setIn(['providers', 'ollama', 'base_url'], `http://127.0.0.1:${down}`);
      for (const p of ['openai', 'anthropic', 'google']) doc.setIn(['providers', p, 'base_url'], up);
    });
    const config = loadConfig(cfg.dir);
    // No OPENAI_API_KEY nor GEMINI_API_KEY: those models are unusable for that reason; Ollama because nothing listens.
    const env = { ANTHROPIC_API_KEY: 'sk-ant-test-0000000000' };
    const tree = await demoTree({ configDir: cfg.dir, gatewayOptions: { doctor: () => runDoctor(config, { env, timeoutMs: 2000 }) } });
    const { page, errors } = await hmi(tree.url);

    const pill = page.locator('#tree .tile[data-agent-id="Prog-001"] .pill[data-breaker="breaker:ollama/qwen2.5-coder:7b-instruct"]');
    await poll(() => pill.getAttribute('data-unusable')).toBe('true');
    expect(await pill.getAttribute('title')).toContain(`\nunusable: http://127.0.0.1:${down} unreachable: ECONNREFUSED\nfix: start Ollama (ollama serve) or set OLLAMA_HOST to where it runs`);
    const gpt = page.locator('#tree .tile[data-agent-id="Prog-008"] .pill[data-breaker="breaker:openai/gpt-4o"]');
    await poll(() => gpt.getAttribute('title')).toContain('unusable: OPENAI_API_KEY is not set\nfix: export OPENAI_API_KEY=');
    expect(await page.locator('#tree .tile[data-agent-id="Prog-006"] .pill').first().getAttribute('data-unusable')).toBe('false');
    // A Manager has no pills: its node is marked, with the reason in its tooltip (its Anthropic backup still works).
    const manager = page.locator('#tree .node[data-agent-id="Mgr-Code-01"]');
    await poll(() => manager.getAttribute('data-unusable')).toBe('some');
    expect(await manager.getAttribute('title')).toBe('google/gemini-2.5-flash unusable: GEMINI_API_KEY is not set — fix: export GEMINI_API_KEY=… (or point these agents at another model)');
    expect(await page.locator('#doctor').isVisible()).toBe(true);
    expect(await page.locator('#doctor li').count()).toBe(7); // four Ollama models, two OpenAI ones, Gemini Flash
    expect(await page.locator('#doctor').textContent()).toMatch(/^7 problems found at start-up \(pas doctor\):/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'hmi-work-doctor.png') });
    expect(errors).toEqual([]);
  });
});

describe('HMI: compact settings and narrow screens', { timeout: 90_000 }, () => {
  it('lists every Manager and Programmer as one row of one settings table, and the page needs no sideways scrolling at 800 px', async () => {
    const tree = await demoTree();
    const { page, errors } = await hmi(tree.url, { width: 1280, height: 900 });
    await poll(() => page.getByLabel('Primary LLM of Prog-007').inputValue()).toBe('anthropic/claude-sonnet-4');
    const rows = page.locator('.settings-table .card');
    expect(await rows.count()).toBe(17);
    const heights = await rows.evaluateAll((els) => els.map((el) => el.getBoundingClientRect().height));
    expect(Math.max(...heights)).toBeLessThan(70);
    const table = await page.locator('.settings-table').evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    expect(table.scroll).toBeLessThanOrEqual(table.client);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
    await page.screenshot({ path: path.join(ARTIFACTS, 'hmi-work-1280.png'), fullPage: true });

    await page.setViewportSize({ width: 800, height: 900 });
    await poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
    // Every control stays reachable: the save buttons are inside the viewport's width.
    const save = await page.getByRole('button', { name: 'Save LLM settings of Prog-010' }).boundingBox();
    expect(save!.x + save!.width).toBeLessThanOrEqual(800);
    await page.screenshot({ path: path.join(ARTIFACTS, 'hmi-work-800.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
