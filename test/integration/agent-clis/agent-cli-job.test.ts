/**
 * A job through the whole tree (gateway → Architect → Director → Manager → pool → programmers →
 * merge) whose subtasks run on the real Claude Code and Codex binaries: each CLI edits its file
 * through its own tools, PAS commits the task branches and merges them into pas/job-<id>; the
 * feed carries their progress and `pas status JOB` shows it.
 */
import type { JsonAnswer } from '../../support/json-answer.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { describeJob, type JobViewJson } from '../../../src/cli/job-view.ts';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createScriptedAdapter } from '../../../src/llm/providers/scripted-adapter.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { AGENT_TEST_ENV } from '../../support/agent-cli-harness.ts';
import { startFakeAgentProvider, type AgentTurn, type FakeAgentProvider } from '../../support/fake-agent-provider.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { http, openFeed, type FeedClient } from '../gateway/gateway-helpers.ts';

let provider: FakeAgentProvider | undefined;
let fixture: TempRepo | undefined;
let cfg: TempConfig | undefined;
let tree: TestTree | undefined;
let feed: FeedClient | undefined;
afterEach(async () => {
  feed?.close();
  await tree?.close();
  await provider?.close();
  await fixture?.cleanup();
  cfg?.cleanup();
  feed = tree = provider = fixture = cfg = undefined;
});

const named = (text: string) => /- (src\/[a-z]+\.txt)/.exec(text)?.[1] ?? 'src/unknown.txt';

/** Writes the file the prompt names (`- src/x.txt`), then says it is done; Claude Code reads it first, as it must. */
function editNamedFile(who: string): Array<(text: string) => AgentTurn> {
  return [
    ...(who === 'claude' ? [(text: string): AgentTurn => ({ read: named(text), usage: { input: 300, output: 20 } })] : []),
    (text) => {
      const file = named(text);
      return { write: { path: file, content: `${file} written by ${who}\n` }, usage: { input: 500, output: 40 } };
    },
    () => ({ text: `${who} is done.`, usage: { input: 700, output: 10 } }),
  ];
}

describe('a job whose subtasks run on real coding-agent CLIs', { timeout: 180_000 }, () => {
  it('runs Claude Code and Codex subtasks through the whole tree, commits and merges their edits, and streams their progress', async () => {
    const claude = agentCliBin('claude');
    const codex = agentCliBin('codex');
    Object.assign(process.env, AGENT_TEST_ENV);
    provider = await startFakeAgentProvider({ 'claude-primary': editNamedFile('claude'), 'gpt-primary': editNamedFile('codex') });
    fixture = await createTempRepo({ 'README.md': '# job\n', 'src/alpha.txt': 'alpha\n', 'src/beta.txt': 'beta\n' });

    cfg = tempConfig();
    cfg.edit('models.yaml', (doc) => {
      doc.setIn(['providers', 'anthropic', 'base_url'], provider!.origin);
      doc.setIn(['providers', 'anthropic', 'api_key_env'], 'TEST_ANTHROPIC_KEY');
      doc.setIn(['providers', 'anthropic', 'base_url_env'], 'PAS_TEST_UNSET_ANTHROPIC_URL');
      doc.setIn(['providers', 'anthropic', 'models', 'claude-primary'], doc.createNode({ input_per_mtok: 3, output_per_mtok: 15 }));
      doc.setIn(['providers', 'openai', 'base_url'], provider!.openaiUrl);
      doc.setIn(['providers', 'openai', 'api_key_env'], 'TEST_OPENAI_KEY');
      doc.setIn(['providers', 'openai', 'base_url_env'], 'PAS_TEST_UNSET_OPENAI_URL');
      doc.setIn(['providers', 'openai', 'models', 'gpt-primary'], doc.createNode({ input_per_mtok: 2.5, output_per_mtok: 10 }));
    });
    cfg.edit('programmer_pool.yaml', (doc) => {
      doc.set('pool_size', 2);
      doc.set(
        'programmers',
        doc.createNode([
          { id: 'Prog-001', port: 6151, parent: 'Mgr-Code-01', primary_llm: 'anthropic/claude-primary', capabilities: ['premium', 'claude'], executor: 'claude-code' },
          { id: 'Prog-002', port: 6152, parent: 'Mgr-Code-01', primary_llm: 'openai/gpt-primary', capabilities: ['premium', 'codex'], executor: 'codex' },
        ]),
      );
      doc.set('capability_routing', doc.createNode({}));
      doc.set('claude_code', doc.createNode({ binary: claude, timeout_s: 120 }));
      doc.set('codex', doc.createNode({ binary: codex, timeout_s: 120 }));
    });
    const config = loadConfig(cfg.dir);
    // The Manager's plan comes from a cassette (in process); the programmers' CLIs reach the fake
    // provider through PAS's LLM gateway (offline, the gateway would answer them from the cassette).
    const scripted = createScriptedAdapter(
      [
        {
          match: { purpose: 'plan' },
          reply: JSON.stringify({
            subtasks: [
              { instruction: 'Rewrite src/alpha.txt', files: ['src/alpha.txt'], requires: ['claude'] },
              { instruction: 'Rewrite src/beta.txt', files: ['src/beta.txt'], requires: ['codex'] },
            ],
          }),
          usage: { input: 10, output: 10 },
        },
      ],
      { source: 'agent-cli job test' },
    );
    tree = await startTestTree({ config, services: createDefaultServices({ adapters: { google: scripted, anthropic: scripted, openai: scripted, ollama: scripted } }) });
    feed = await openFeed(tree.url);

    const accepted = await http(`${tree.url}/api/jobs`, { body: { task: 'Rewrite the two text files', lane: 'Code', files: ['src/alpha.txt', 'src/beta.txt'], repo: fixture.repo } });
    expect(accepted.status).toBe(202);
    const jobId = accepted.body.job_id as string;
    await tree.runtime.waitForJob(jobId, 120_000);
    const job = (await http(`${tree.url}/api/jobs/${jobId}`)).body as JobViewJson & { tasks: JsonAnswer[] };

    expect(job.status).toBe('completed');
    expect(job.merged_branch).toBe(`pas/job-${jobId}`);
    expect(job.tasks.every((t) => t.status === 'completed' && t.merged)).toBe(true);
    const alpha = await gitOut(fixture.repo, 'show', `pas/job-${jobId}:src/alpha.txt`);
    const beta = await gitOut(fixture.repo, 'show', `pas/job-${jobId}:src/beta.txt`);
    // Each file was written by the CLI its subtask required.
    expect(alpha).toBe('src/alpha.txt written by claude');
    expect(beta).toBe('src/beta.txt written by codex');
    expect(provider.callsTo('claude-primary').length).toBeGreaterThan(0);
    expect(provider.callsTo('gpt-primary').length).toBeGreaterThan(0);

    // Receipts carry exactly what the server sent to each model.
    const byProgrammer = new Map<string | null, JsonAnswer>(job.tasks.map((t) => [t.programmer_id, t]));
    expect(byProgrammer.get('Prog-001')?.result.tokens).toMatchObject({ input: provider.sentUsage('claude-primary').input, output: provider.sentUsage('claude-primary').output });
    expect(byProgrammer.get('Prog-002')?.result.tokens).toMatchObject({ input: provider.sentUsage('gpt-primary').input, output: provider.sentUsage('gpt-primary').output });

    // The feed carried each CLI's file change as a progress message, in the same seq series.
    const progress = feed.messages.filter((m) => (m as { type: string }).type === 'progress') as unknown as Array<Record<string, unknown>>;
    expect(progress).toContainEqual(expect.objectContaining({ v: 1, type: 'progress', agentId: 'Prog-001', jobId, kind: 'file', tool: 'Write' }));
    expect(progress).toContainEqual(expect.objectContaining({ v: 1, type: 'progress', agentId: 'Prog-002', jobId, kind: 'file', tool: 'apply_patch' }));
    const seqs = feed.messages.filter((m) => m.type !== 'hello').map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
    expect(JSON.stringify(feed.messages)).not.toContain(AGENT_TEST_ENV.TEST_ANTHROPIC_KEY);
    expect(JSON.stringify(feed.messages)).not.toContain(AGENT_TEST_ENV.TEST_OPENAI_KEY);

    // `pas status JOB` shows what each agent did.
    const text = describeJob(job);
    expect(text).toContain('ACTIVITY');
    expect(text).toMatch(/Prog-001 .* file src\/alpha\.txt .*\(Write\)/);
    expect(text).toMatch(/Prog-002 .* file src\/beta\.txt .*\(apply_patch\)/);
  });
});
