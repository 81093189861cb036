/**
 * One job on mixed agents: the demo job's six subtasks run at once on Claude Code, Codex and
 * Gemini CLI (the real binaries from test/agent-clis) and the native editor, every one of them
 * answered by the same scripted model — the native editor in process, the CLIs through PAS's
 * LLM gateway in their own provider's wire format, with per-task credentials — and all six task
 * branches merge into one job branch; the CLI subtasks' receipts carry what the gateway measured.
 */
import type { JsonAnswer } from '../../support/json-answer.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDemoRepo } from '../../../src/cli/demo.ts';
import { loadConfig } from '../../../src/config/load-config.ts';
import { agentDemoConfig } from '../../../src/demo/agent-demo.ts';
import { DEMO_MODULES, DEMO_TASK, demoCassette, documentedSource } from '../../../src/demo/demo-fixture.ts';
import { createScriptedAdapter } from '../../../src/llm/providers/scripted-adapter.ts';
import type { TransitionRecord } from '../../../src/runtime/transition-record.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { executingIntervals, largestOverlap, postJson, untilTerminal } from '../jobs/jobs-support.ts';

let tree: TestTree | undefined;
let scratch: string | undefined;
afterEach(async () => {
  await tree?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  tree = scratch = undefined;
});

describe('a job on mixed agents', () => {
  it('runs its subtasks on Claude Code, Codex, Gemini CLI and the native editor at once and merges them into one branch', async () => {
    const scripted = createScriptedAdapter(demoCassette({ planDelayMs: 0, editDelayMs: 0 }), { source: 'demo cassette' });
    const config = agentDemoConfig(loadConfig(SHIPPED_CONFIGS), {
      executors: ['claude-code', 'codex', 'gemini-cli', 'native'],
      count: DEMO_MODULES.length,
      binaries: { 'claude-code': agentCliBin('claude'), codex: agentCliBin('codex'), 'gemini-cli': agentCliBin('gemini') },
    });
    tree = await startTestTree({ config, services: createDefaultServices({ offline: true, scripted }) });
    const records: TransitionRecord[] = [];
    tree.runtime.onTransition((r) => records.push(r));
    scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-mixed-'));
    const repo = await createDemoRepo(path.join(scratch, 'repo'));

    const accepted = await postJson(`${tree.url}/api/jobs`, { task: DEMO_TASK, lane: 'Code', files: DEMO_MODULES.map((m) => m.file), repo });
    expect(accepted.status).toBe(202);
    const job = await untilTerminal(`${tree.url}/api/jobs/${accepted.body.job_id}`);

    expect(job.status, JSON.stringify(job.tasks.map((t: JsonAnswer) => t.result?.error))).toBe('completed');
    expect(job.tasks).toHaveLength(DEMO_MODULES.length);
    expect(job.tasks.every((t: JsonAnswer) => t.status === 'completed' && t.merged)).toBe(true);
    const executorOf = new Map(config.programmers.map((p) => [p.id, p.executor]));
    const used = new Set(job.tasks.map((t: JsonAnswer) => executorOf.get(t.programmer_id)));
    expect([...used].sort()).toEqual(['claude-code', 'codex', 'gemini-cli', 'native']);
    // The CLI subtasks reached the scripted model through the gateway, which measured each of their calls.
    const cliTasks = job.tasks.filter((t: JsonAnswer) => executorOf.get(t.programmer_id) !== 'native');
    expect(cliTasks.length).toBeGreaterThanOrEqual(3);
    for (const t of cliTasks) {
      expect(t.result.provider).toBe('scripted');
      expect(t.result.tokens.input).toBeGreaterThan(0);
      expect(t.result.tokens.output).toBeGreaterThan(0);
    }

    // Every module documented exactly as the cassette says, on the one job branch.
    for (const m of DEMO_MODULES) expect(`${await gitOut(repo, 'show', `${job.merged_branch}:${m.file}`)}\n`).toBe(documentedSource(m));
    // The three CLIs ran at the same time.
    const cliIntervals = executingIntervals(records).filter((i) => ['claude-code', 'codex', 'gemini-cli'].includes(executorOf.get(i.programmerId) ?? ''));
    expect(largestOverlap(cliIntervals).length).toBeGreaterThanOrEqual(3);
  }, 300_000);
});
