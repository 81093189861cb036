/**
 * Drives one agent-CLI executor through the whole programmer pipeline (worktree → the real CLI
 * binary → allowlist check → commit → receipt) against a local scripted wire server
 * (scripted-wire-server.ts), recording progress, receipts and what the breakers heard, with
 * any models.yaml and environment the test gives. The CLIs: agent-cli-bin.ts.
 */
import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { ErrorData, TaskResult, TaskSpec } from '../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../src/config/load-config.ts';
import type { CmdAllowlist, FsAllowlist, ModelsConfigFile } from '../../src/config/schemas.ts';
import { createAgentCliExecutor, type AgentCliSettings } from '../../src/executors/agent-cli/agent-cli-executor.ts';
import type { AgentCliSpec } from '../../src/executors/agent-cli/agent-cli-spec.ts';
import type { TaskProgress } from '../../src/executors/executor.ts';
import { runProgrammerTask } from '../../src/executors/run-task.ts';
import type { BreakerGate, LlmClient, Receipt } from '../../src/llm/types.ts';
import type { TempRepo } from './git-fixtures.ts';

/**
 * Pids of processes whose working directory is inside `dir` (the task checkouts: where a CLI runs;
 * the repository itself keeps PAS's long-lived `git cat-file --batch`).
 */
export async function processesUnder(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cwd = await readlink(`/proc/${name}/cwd`);
      if (cwd === dir || cwd.startsWith(dir + path.sep)) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

export interface BreakerRecord {
  ref: string;
  outcome: 'success' | 'failure';
  error?: ErrorData;
}

export function recordingBreakers(): BreakerGate & { records: BreakerRecord[] } {
  const records: BreakerRecord[] = [];
  return {
    records,
    admit: () => 'allow',
    record: (ref, outcome, _probe, error) => void records.push({ ref, outcome, ...(error ? { error } : {}) }),
    abandonProbe: () => {},
    state: () => 'closed',
    failures: (ref) => records.filter((r) => r.ref === ref && r.outcome === 'failure').length,
  };
}

const noLlm: LlmClient = {
  call: () => Promise.reject(new Error('an agent-CLI executor must not call the LLM client')),
};

export interface AgentTaskOptions {
  spec: AgentCliSpec;
  settings: AgentCliSettings;
  fixture: TempRepo;
  models: ModelsConfigFile;
  fsAllowlist: FsAllowlist;
  /** What the task's `verify` may be (needed when the task has one). */
  cmdAllowlist?: CmdAllowlist;
  programmer: ResolvedProgrammer;
  env: NodeJS.ProcessEnv;
  task?: Partial<TaskSpec> & { instruction: string; files: string[] };
  signal?: AbortSignal;
  runsDir: string;
}

export interface AgentTaskRun {
  result: TaskResult;
  receipts: Receipt[];
  progress: TaskProgress[];
  breakers: BreakerRecord[];
}

export async function runAgentTask(options: AgentTaskOptions): Promise<AgentTaskRun> {
  const receipts: Receipt[] = [];
  const progress: TaskProgress[] = [];
  const breakers = recordingBreakers();
  const executor = createAgentCliExecutor({
    spec: options.spec,
    settings: options.settings,
    fsAllowlist: options.fsAllowlist,
    models: options.models,
    runsDir: options.runsDir,
    breakers,
    env: options.env,
    failover: true,
    killGraceMs: 500,
  });
  const { instruction, files, ...taskRest } = options.task ?? { instruction: 'Edit the file.', files: [] };
  const result = await runProgrammerTask({
    task: { id: 't1', jobId: 'job1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction, files, ...taskRest },
    programmer: options.programmer,
    repo: options.fixture.repo,
    workspacesDir: options.fixture.workspacesDir,
    executor,
    llm: noLlm,
    receipts: { append: (r) => void receipts.push(r) },
    runId: 'run-cli',
    fsAllowlist: options.fsAllowlist,
    onProgress: (p) => void progress.push(p),
    ...(options.cmdAllowlist ? { cmdAllowlist: options.cmdAllowlist } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { result, receipts, progress, breakers: breakers.records };
}
