/**
 * Runs one programmer task through an agent-CLI executor and the real pipeline (worktree →
 * real CLI binary → allowlist check → commit → receipt) against the fake agent provider, with a
 * real breaker registry. Collects receipts and progress events.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { TaskResult, TaskSpec } from '../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../src/config/load-config.ts';
import type { FsAllowlist, ModelsConfigFile } from '../../src/config/schemas.ts';
import { createAgentCliExecutor, type AgentCliExecutorOptions, type AgentCliSettings } from '../../src/executors/agent-cli/agent-cli-executor.ts';
import type { AgentCliSpec } from '../../src/executors/agent-cli/agent-cli-spec.ts';
import type { TaskProgress } from '../../src/executors/executor.ts';
import { runProgrammerTask } from '../../src/executors/run-task.ts';
import type { LlmClient, Receipt } from '../../src/llm/types.ts';
import { BreakerRegistry } from '../../src/runtime/breaker-registry.ts';
import type { CmdAllowlist } from '../../src/config/schemas.ts';
import type { FakeAgentProvider } from './fake-agent-provider.ts';
import type { TempRepo } from './git-fixtures.ts';

export const AGENT_FS_ALLOWLIST: FsAllowlist = { read: ['**/*'], write: ['src/**', '*.md', '*.txt'], deny: ['**/.env'] };
export const AGENT_CMD_ALLOWLIST: CmdAllowlist = { timeout_s: 60, commands: [{ name: 'node-test', program: 'node', args: ['--test'], allow_extra_args: true }] };

/** models.yaml pointing every provider at the fake server; prices so cost can be checked. */
export function agentModels(provider: FakeAgentProvider, deadPort?: number): ModelsConfigFile {
  // `anthropic-down` / `openai-down`: the same protocols on a port where nothing listens.
  const down = deadPort ? `http://127.0.0.1:${deadPort}` : 'http://127.0.0.1:9';
  return {
    providers: {
      'anthropic-down': { kind: 'anthropic', base_url: down, api_key_env: 'TEST_ANTHROPIC_KEY', timeout_s: 60, models: { 'claude-down': { input_per_mtok: 3, output_per_mtok: 15 } } },
      'openai-down': { kind: 'openai', base_url: `${down}/v1`, api_key_env: 'TEST_OPENAI_KEY', timeout_s: 60, models: { 'gpt-down': { input_per_mtok: 2.5, output_per_mtok: 10 } } },
      anthropic: {
        base_url: provider.origin,
        api_key_env: 'TEST_ANTHROPIC_KEY',
        timeout_s: 60,
        models: {
          'claude-primary': { input_per_mtok: 3, output_per_mtok: 15, cache_read_per_mtok: 0.3, cache_write_per_mtok: 3.75 },
          'claude-backup': { input_per_mtok: 1, output_per_mtok: 5 },
        },
      },
      openai: {
        base_url: provider.openaiUrl,
        api_key_env: 'TEST_OPENAI_KEY',
        timeout_s: 60,
        models: {
          'gpt-primary': { input_per_mtok: 2.5, output_per_mtok: 10, cache_read_per_mtok: 1.25 },
          'gpt-backup': { input_per_mtok: 0.15, output_per_mtok: 0.6 },
        },
      },
    },
  };
}

export const AGENT_TEST_ENV = { TEST_ANTHROPIC_KEY: 'sk-ant-agent-test-4f1e', TEST_OPENAI_KEY: 'sk-openai-agent-test-9c2d' };

export interface AgentTaskRun {
  result: TaskResult;
  receipts: Receipt[];
  progress: TaskProgress[];
  breakers: BreakerRegistry;
  runsDir: string;
}

export interface AgentTaskOptions {
  spec: AgentCliSpec;
  binary: string;
  provider: FakeAgentProvider;
  fixture: TempRepo;
  primary: string;
  backup?: string;
  instruction?: string;
  files?: string[];
  settings?: Partial<AgentCliSettings>;
  task?: Partial<TaskSpec>;
  signal?: AbortSignal;
  breakers?: BreakerRegistry;
  onProgress?: (p: TaskProgress) => void;
  /** A port where nothing listens, for the `*-down` providers. */
  deadPort?: number;
  budget?: AgentCliExecutorOptions['budget'];
}

const noLlm: LlmClient = { call: () => Promise.reject(new Error('an agent-CLI executor must not call the LLM client')) };

export function testBreakers(): BreakerRegistry {
  return new BreakerRegistry({ enabled: true, failureThreshold: 3, windowMs: 300_000, cooldownMs: 120_000 });
}

export async function runAgentTask(o: AgentTaskOptions): Promise<AgentTaskRun> {
  const receipts: Receipt[] = [];
  const progress: TaskProgress[] = [];
  const breakers = o.breakers ?? testBreakers();
  const runsDir = path.join(o.fixture.root, 'agent-runs');
  const executor = createAgentCliExecutor({
    spec: o.spec,
    settings: { binary: o.binary, timeout_s: 120, stall_timeout_s: 120, max_turns: 10, max_retries: 0, ...o.settings },
    fsAllowlist: AGENT_FS_ALLOWLIST,
    models: agentModels(o.provider, o.deadPort),
    runsDir,
    breakers,
    env: { PATH: process.env.PATH, LANG: 'C.UTF-8', ...AGENT_TEST_ENV },
    killGraceMs: 300,
    ...(o.budget ? { budget: o.budget } : {}),
  });
  const programmer: ResolvedProgrammer = {
    id: 'Prog-006',
    port: 6156,
    parent: 'Mgr-Code-01',
    primary: o.primary,
    ...(o.backup ? { backup: o.backup } : {}),
    capabilities: [],
    executor: o.spec.name,
    timeoutMs: 300_000,
    free: false,
  };
  const result = await runProgrammerTask({
    task: {
      id: 't1',
      jobId: 'job1',
      managerId: 'Mgr-Code-01',
      replyTo: 'Mgr-Code-01',
      instruction: o.instruction ?? 'Create src/greeting.txt saying hello.',
      files: o.files ?? ['src/greeting.txt'],
      ...o.task,
    },
    programmer,
    repo: o.fixture.repo,
    workspacesDir: o.fixture.workspacesDir,
    executor,
    llm: noLlm,
    receipts: { append: (r) => void receipts.push(r) },
    runId: 'run-agent',
    fsAllowlist: AGENT_FS_ALLOWLIST,
    cmdAllowlist: AGENT_CMD_ALLOWLIST,
    onProgress: (p) => {
      progress.push(p);
      o.onProgress?.(p);
    },
    ...(o.signal ? { signal: o.signal } : {}),
  });
  return { result, receipts, progress, breakers, runsDir };
}

/** What is left in the runs folder (each run's private home must be gone). */
export async function leftoverRuns(runsDir: string): Promise<string[]> {
  return existsSync(runsDir) ? readdir(runsDir) : [];
}
