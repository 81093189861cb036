/**
 * The HMI in a real browser (Debian's headless Chromium through playwright-core) against a real
 * tree: the scripted demo job runs on real git worktrees, the feed is the real /ws, settings are
 * written into a temp copy of the configs.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransitionRecord } from '../../src/runtime/transition-record.ts';
import { tempConfig, type TempConfig } from '../support/test-config.ts';
import { ARTIFACTS, feedCutter, hmiRig, startDemoTree } from './hmi-support.ts';

const { defer, demoTree, hmi } = hmiRig();

/** 0-based numbers of the lines that differ between two texts of the same line count. */
function changedLines(before: string, after: string): number[] {
  const a = before.split('\n');
  const b = after.split('\n');
  expect(b.length).toBe(a.length);
  return a.flatMap((line, i) => (line === b[i] ? [] : [i]));
}

/** Waits for a value in the page or the runtime (bounded, not a timed assertion). */
const poll = <T>(read: () => T | Promise<T>, options: { timeout?: number } = {}) => expect.poll(read, { timeout: 15_000, interval: 50, ...options });
const node = (page: Page, agentId: string) => page.locator(`#tree .node[data-agent-id="${agentId}"]`);

describe('HMI tree', () => {
  it('shows the Architect, 5 Directors, 7 Managers and 10 Programmers, each programmer with its model breakers', async () => {
    const tree = await demoTree();
    const { page, errors } = await hmi(tree.url);

    const tiers = await page.locator('#tree .node').evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.role));
    expect(tiers.filter((r) => r === 'architect')).toHaveLength(1);
    expect(tiers.filter((r) => r === 'director')).toHaveLength(5);
    expect(tiers.filter((r) => r === 'manager')).toHaveLength(7);
    expect(tiers.filter((r) => r === 'programmer')).toHaveLength(10);
    expect(tiers).toHaveLength(23);

    // Every agent the runtime knows is on the page under its parent, in its live state.
    for (const n of tree.runtime.tree().filter((x) => x.role !== 'breaker')) {
      await poll(() => node(page, n.agentId).getAttribute('data-state')).toBe(n.state);
      if (n.role === 'programmer') {
        const pills = await page.locator(`#tree .tile[data-agent-id="${n.agentId}"] .pill`).evaluateAll((els) =>
          els.map((el) => ({ id: (el as HTMLElement).dataset.breaker, state: (el as HTMLElement).dataset.breakerState })),
        );
        expect(pills).toEqual(n.breakers!.map((id) => ({ id, state: 'closed' })));
      }
      if (n.role === 'manager' || n.role === 'director') {
        const parentBranch = page.locator(`#tree li.branch[data-agent-id="${n.parent}"] > ul > li.branch[data-agent-id="${n.agentId}"]`);
        await poll(() => parentBranch.count()).toBe(1);
      }
    }
    await poll(() => page.locator('#exec-count').textContent()).toBe('0');
    // The LLM gateway's adaptive concurrency limit per provider, in flight / limit.
    await poll(() => page.locator('#llm-limits').textContent()).toContain('anthropic 0/8');
    expect(await page.locator('#manager-cards .card').count()).toBe(7);
    expect(await page.locator('#programmer-cards .card').count()).toBe(10);
    // Names users can find: every control is labelled.
    await poll(() => page.getByLabel('Primary LLM of Prog-007').count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Save LLM settings of Mgr-Docs-01' }).count()).toBe(1);
    expect(errors).toEqual([]);
  });

  it('turns programmer nodes EXECUTING in parallel during a scripted job and back to IDLE when it is done', async () => {
    const tree = await demoTree({ editDelayMs: 1500 });
    const { page, errors } = await hmi(tree.url);
    const programmers = page.locator('#tree .node-programmer');
    const executing = page.locator('#tree .node-programmer[data-state="EXECUTING"]');

    const jobId = await tree.submitDemoJob();
    await page.waitForFunction(() => document.querySelectorAll('#tree .node-programmer[data-state="EXECUTING"]').length >= 3);
    // The header says how many run now and on which job.
    await poll(async () => Number(await page.locator('#exec-count').textContent()) >= 3).toBe(true);
    expect(await page.locator('#exec-jobs').textContent()).toContain(`job ${jobId}`);
    expect(await executing.first().locator('.work').textContent()).toContain(`job ${jobId}`);
    await page.locator(`#jobs .job[data-job-id="${jobId}"]`).waitFor();

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'hmi-tree.png') });

    const job = page.locator(`#jobs .job[data-job-id="${jobId}"]`);
    await page.locator(`#jobs .job[data-job-id="${jobId}"][data-status="completed"]`).waitFor({ timeout: 60_000 });
    await poll(() => executing.count()).toBe(0);
    expect(await programmers.evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.state))).toEqual(Array(10).fill('IDLE'));
    await poll(() => page.locator('#exec-count').textContent()).toBe('0');

    // The job's card: progress per subtask and its receipts.
    expect(await job.locator('.progress-text').textContent()).toBe('6/6 subtasks');
    expect(await job.locator('.task[data-status="completed"]').count()).toBe(6);
    expect(await job.locator('.task-receipt').first().textContent()).toMatch(/^Prog-\d{3} · native · scripted\/[\w.:-]+ · \d+ in \/ \d+ out · \$[\d.]+ · [\d.]+ (ms|s) · \+\d+\/−\d+$/);
    expect(await job.locator('.receipts code').textContent()).toBe(`${tree.runtime.dataDir}/receipts/${tree.runtime.runId}.jsonl`);

    // The Manager that planned it shows what the plan cost in tokens today.
    const managerId = tree.runtime.getJob(jobId)!.managerId!;
    await poll(() => page.locator(`#card-${managerId} .kv:has(dt:text("Tokens today")) dd`).textContent()).toBe('310 in · 220 out');
    // Each programmer that worked shows it on its card.
    const worked = tree.runtime.journal.tasksForJob(jobId).map((t) => t.programmerId!);
    const one = worked[0]!;
    await poll(() => page.locator(`#card-${one} .kv:has(dt:text("Tasks")) dd`).textContent()).toMatch(/^[1-9]\d* done · 0 failed$/);
    expect(errors).toEqual([]);
  }, 120_000);
});

describe('HMI agent activity', () => {
  it("shows a coding agent's latest progress from the feed on its programmer's card", async () => {
    const tree = await demoTree();
    const { page, errors } = await hmi(tree.url);
    const activity = page.locator('#card-Prog-003 .kv:has(dt:text("Agent activity")) dd');
    expect(await activity.textContent()).toBe('—');
    tree.runtime.progress.report({ agentId: 'Prog-003', jobId: 'job-x', taskId: 'job-x-1' }, { kind: 'file', tool: 'Write', path: 'src/a.ts', change: 'write' });
    await poll(() => activity.textContent()).toMatch(/^\d{2}:\d{2}:\d{2} wrote src\/a\.ts \(Write\)$/);
    tree.runtime.progress.report({ agentId: 'Prog-003', jobId: 'job-x', taskId: 'job-x-1' }, { kind: 'command', tool: 'exec_command', command: 'npm test', exitCode: 1 });
    await poll(() => activity.textContent()).toMatch(/ran npm test → exit 1$/);
    expect(await page.locator('#card-Prog-004 .kv:has(dt:text("Agent activity")) dd').textContent()).toBe('—');
    expect(errors).toEqual([]);
  }, 60_000);
});

describe('HMI jobs', () => {
  it('runs a finished job again with the same task, files, repository, lane and verify command', async () => {
    const tree = await demoTree({ editDelayMs: 10 });
    const { page, errors } = await hmi(tree.url);
    const first = tree.runtime.submitJob({ task: 'Check the greeting', files: ['README.md'], repo: tree.repo, lane: 'Docs', verify: ['git', 'status'] });
    await tree.runtime.waitForJob(first.id, 20_000);
    const before = new Set(tree.runtime.journal.listJobs({}).map((j) => j.id));

    await page.locator(`#jobs .job[data-job-id="${first.id}"] button`, { hasText: 'Run again' }).click();
    await poll(() => tree.runtime.journal.listJobs({}).filter((j) => !before.has(j.id)).length).toBe(1);
    const again = tree.runtime.journal.listJobs({}).find((j) => !before.has(j.id))!;
    expect(again.spec).toMatchObject({ task: 'Check the greeting', files: ['README.md'], repo: tree.repo, lane: 'Docs', verify: ['git', 'status'] });
    expect(errors).toEqual([]);
  });
});

describe('HMI feed connection', () => {
  it('shows the feed as disconnected when the gateway drops it, then catches up from the last seq it saw', async () => {
    const tree = await demoTree();
    const cutter = feedCutter(tree);
    defer(() => cutter.dispose());
    const transitions: TransitionRecord[] = [];
    defer(tree.runtime.onTransition((r) => transitions.push(r)));
    const { page, errors } = await hmi(tree.url);
    await poll(() => page.locator('#feed-seq').getAttribute('data-seq')).toBe(String(tree.gateway!.hub.stats().seq));
    const seenBefore = tree.gateway!.hub.stats().seq;

    cutter.cut();
    await page.locator('#conn[data-conn="disconnected"]').waitFor();
    expect(await page.locator('#conn-text').textContent()).toMatch(/^Disconnected/);

    // While the page is away, Prog-004 fails.
    const fault = await fetch(`${tree.url}/api/agents/Prog-004/fault`, { method: 'POST' });
    expect(fault.status).toBe(202);
    await poll(() => transitions.some((r) => r.agentId === 'Prog-004' && r.to === 'FAILED')).toBe(true);
    expect(tree.gateway!.hub.stats().seq).toBeGreaterThan(seenBefore);

    cutter.unblock();
    await page.locator('#conn[data-conn="live"]').waitFor({ timeout: 15_000 });
    // It asked for what it missed, and got it replayed.
    expect(cutter.urls.at(-1)).toBe(`/ws?since=${seenBefore}`);
    await page.locator('#activity .act[data-replayed="true"][data-state="FAILED"]', { hasText: 'Prog-004' }).waitFor();
    await poll(() => page.locator('#feed-seq').getAttribute('data-seq')).toBe(String(tree.gateway!.hub.stats().seq));
    await poll(async () => (await node(page, 'Prog-004').getAttribute('data-state')) === tree.runtime.tree().find((n) => n.agentId === 'Prog-004')!.state).toBe(true);

    // And it is live again: the next failure shows at once, not as a replay.
    await fetch(`${tree.url}/api/agents/Prog-005/fault`, { method: 'POST' });
    await page.locator('#activity .act[data-replayed="false"][data-state="FAILED"]', { hasText: 'Prog-005' }).waitFor();
    expect(errors).toEqual([]);
  });
});

describe('HMI LLM settings', () => {
  let cfg: TempConfig;
  beforeAll(() => {
    cfg = tempConfig('pas-hmi-config-');
  });
  afterAll(() => cfg.cleanup());

  async function choose(page: Page, agentId: string, primary: string, backup: string) {
    await page.getByLabel(`Primary LLM of ${agentId}`).selectOption(primary);
    await page.getByLabel(`Backup LLM of ${agentId}`).selectOption(backup);
    await page.getByRole('button', { name: `Save LLM settings of ${agentId}` }).click();
  }
  const message = (page: Page, agentId: string) => page.locator(`#card-${agentId} .form-msg`);
  const selected = (page: Page, agentId: string) =>
    Promise.all([page.getByLabel(`Primary LLM of ${agentId}`).inputValue(), page.getByLabel(`Backup LLM of ${agentId}`).inputValue()]);

  it('saves a Programmer and a Manager choice into the YAML with its comments, applies it live, and keeps it across a reload and a restart', async () => {
    const first = await startDemoTree({ configDir: cfg.dir });
    defer(() => first.close().catch(() => undefined));
    const poolBefore = cfg.read('programmer_pool.yaml');
    const pasBefore = cfg.read('pas.yaml');
    const { page, errors } = await hmi(first.url);
    await poll(() => selected(page, 'Prog-003')).toEqual(['ollama/qwen2.5-coder:7b-instruct', 'ollama/qwen2.5-coder:14b-instruct']);

    await choose(page, 'Prog-003', 'anthropic/claude-sonnet-4', 'ollama/deepseek-coder-v3:7b');
    await poll(() => message(page, 'Prog-003').textContent()).toMatch(/^Saved to programmer_pool\.yaml/);
    await choose(page, 'Mgr-Code-02', 'openai/gpt-4o-mini', 'google/gemini-2.5-pro');
    await poll(() => message(page, 'Mgr-Code-02').textContent()).toMatch(/^Saved to pas\.yaml/);

    // Written where a user would look, comments and layout kept: only the chosen lines differ.
    const pool = cfg.read('programmer_pool.yaml');
    expect(changedLines(poolBefore, pool)).toEqual([poolBefore.split('\n').findIndex((l) => l.includes('{ id: Prog-003,'))]);
    expect(changedLines(pasBefore, cfg.read('pas.yaml')).length).toBe(2);
    expect(pool).toContain('# Local, free, fast');
    expect(pool).toContain('# Premium, paid');
    expect(pool).toContain('max_queue_per_programmer: 5     # the pool queues up to this × pool_size tasks, then refuses');
    expect(pool).toMatch(/^ {2}- \{ id: Prog-003, port: 6153, parent: Mgr-Code-01, primary_llm: anthropic\/claude-sonnet-4, backup_llm: ollama\/deepseek-coder-v3:7b, capabilities: \[fast, free\] \}$/m);
    expect(pool).toMatch(/^ {2}- \{ id: Prog-002, port: 6152, parent: Mgr-Code-01, primary_llm: ollama\/qwen2\.5-coder:7b-instruct, backup_llm: ollama\/qwen2\.5-coder:14b-instruct, capabilities: \[fast, free\] \}$/m);
    const pas = cfg.read('pas.yaml');
    expect(pas).toContain('# Every Manager breaks a job into subtasks with its LLM and runs them on the pool.');
    expect(pas).toContain('host: 127.0.0.1        # bind address of every PAS port');
    const mgr2 = pas.slice(pas.indexOf('agent_id: Mgr-Code-02'), pas.indexOf('agent_id: Mgr-Code-03'));
    expect(mgr2).toContain('primary: { provider: openai, model: gpt-4o-mini, temperature: 0.2, max_tokens: 4096 }');
    expect(mgr2).toContain('backup: { provider: google, model: gemini-2.5-pro, temperature: 0.2, max_tokens: 4096 }');

    // Applied to the live agents without a restart.
    expect(first.runtime.llmSettings.get('Prog-003')).toEqual({ primary: 'anthropic/claude-sonnet-4', backup: 'ollama/deepseek-coder-v3:7b' });
    expect(first.runtime.llmSettings.get('Mgr-Code-02')).toEqual({ primary: 'openai/gpt-4o-mini', backup: 'google/gemini-2.5-pro' });
    await poll(() => page.locator('#card-Prog-003 .llm-current').textContent()).toBe('anthropic/claude-sonnet-4');
    await poll(() => page.locator('#card-Mgr-Code-02 .llm-current').textContent()).toBe('openai/gpt-4o-mini');
    await poll(() => page.locator('#tree .tile[data-agent-id="Prog-003"] .pill').evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.breaker)))
      .toEqual(['breaker:anthropic/claude-sonnet-4', 'breaker:ollama/deepseek-coder-v3:7b']);

    // A reload shows the saved choice.
    await page.reload();
    await page.locator('#conn[data-conn="live"]').waitFor();
    await poll(() => selected(page, 'Prog-003')).toEqual(['anthropic/claude-sonnet-4', 'ollama/deepseek-coder-v3:7b']);
    await poll(() => selected(page, 'Mgr-Code-02')).toEqual(['openai/gpt-4o-mini', 'google/gemini-2.5-pro']);

    // A restart on the same configs folder and ports: the open page reconnects by itself.
    const portOffset = first.portOffset;
    await first.close();
    await page.locator('#conn[data-conn="disconnected"]').waitFor();
    const second = await startDemoTree({ configDir: cfg.dir, portOffset });
    defer(() => second.close());
    await page.locator('#conn[data-conn="live"]').waitFor({ timeout: 15_000 });
    // It fetched everything again from the new runtime.
    await poll(() => page.locator('#run-id').textContent()).toBe(`run ${second.runtime.runId}`);
    expect(second.runtime.llmSettings.get('Prog-003')).toEqual({ primary: 'anthropic/claude-sonnet-4', backup: 'ollama/deepseek-coder-v3:7b' });
    await page.reload();
    await page.locator('#conn[data-conn="live"]').waitFor();
    await poll(() => selected(page, 'Prog-003')).toEqual(['anthropic/claude-sonnet-4', 'ollama/deepseek-coder-v3:7b']);
    await poll(() => selected(page, 'Mgr-Code-02')).toEqual(['openai/gpt-4o-mini', 'google/gemini-2.5-pro']);
    await poll(() => page.locator('#card-Prog-003 .llm-current').textContent()).toBe('anthropic/claude-sonnet-4');
    expect(cfg.read('programmer_pool.yaml')).toContain('# Local, free, experimental');
    expect(errors).toEqual([]);
  }, 90_000);

  it('refuses an invalid choice with the reason and leaves the file byte-identical', async () => {
    const tree = await demoTree({ configDir: cfg.dir });
    const { page } = await hmi(tree.url);
    const before = readFileSync(path.join(cfg.dir, 'programmer_pool.yaml'));
    await poll(() => selected(page, 'Prog-002')).toEqual(['ollama/qwen2.5-coder:7b-instruct', 'ollama/qwen2.5-coder:14b-instruct']);

    // Backup equal to primary.
    await choose(page, 'Prog-002', 'ollama/qwen2.5-coder:7b-instruct', 'ollama/qwen2.5-coder:7b-instruct');
    await poll(() => message(page, 'Prog-002').textContent()).toBe('Not saved: backup: must differ from primary');
    expect(await message(page, 'Prog-002').getAttribute('role')).toBe('alert');
    expect(readFileSync(path.join(cfg.dir, 'programmer_pool.yaml')).equals(before)).toBe(true);

    // A model models.yaml does not have (as a stale page could offer), through the page's own save.
    await page.getByLabel('Primary LLM of Prog-002').evaluate((select: HTMLSelectElement) => {
      const option = document.createElement('option');
      option.value = 'ollama/not-a-model:1b';
      option.textContent = 'ollama/not-a-model:1b';
      select.append(option);
    });
    await choose(page, 'Prog-002', 'ollama/not-a-model:1b', 'ollama/qwen2.5-coder:14b-instruct');
    await poll(() => message(page, 'Prog-002').textContent()).toBe('Not saved: primary: model "ollama/not-a-model:1b" is not in models.yaml');
    expect(readFileSync(path.join(cfg.dir, 'programmer_pool.yaml')).equals(before)).toBe(true);
    expect(tree.runtime.llmSettings.get('Prog-002')).toEqual({ primary: 'ollama/qwen2.5-coder:7b-instruct', backup: 'ollama/qwen2.5-coder:14b-instruct' });

    // Revert brings back what the file says.
    await page.getByRole('button', { name: 'Revert LLM settings of Prog-002' }).click();
    expect(await selected(page, 'Prog-002')).toEqual(['ollama/qwen2.5-coder:7b-instruct', 'ollama/qwen2.5-coder:14b-instruct']);
  });
});
