/**
 * A program PAS starts loses its LLM gateway credential the moment PAS decides to kill it (its
 * executor's timeout), not once its process tree is finally gone: a child that ignores SIGTERM
 * and lives through the kill grace can make no more model calls in that time. Checked for aider
 * (the fake aider binary) and for the agent-CLI runner (a stand-in CLI that ignores SIGTERM).
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { FsAllowlist, ModelsConfigFile } from '../../../src/config/schemas.ts';
import { createAgentCliExecutor } from '../../../src/executors/agent-cli/agent-cli-executor.ts';
import { claudeCodeSpec } from '../../../src/executors/agent-cli/claude-code.ts';
import { createAiderExecutor } from '../../../src/executors/aider-executor.ts';
import type { Executor } from '../../../src/executors/executor.ts';
import { runProgrammerTask } from '../../../src/executors/run-task.ts';
import { LlmGateway } from '../../../src/llm/gateway/llm-gateway.ts';
import { createMemorySpendStore } from '../../../src/llm/spend-store.ts';
import type { LlmClient, Receipt } from '../../../src/llm/types.ts';
import { BreakerRegistry } from '../../../src/runtime/breaker-registry.ts';
import { environsIn } from '../../support/child-environ.ts';
import { createTempRepo, FAKE_AIDER_DIR, isRunning, waitFor, type TempRepo } from '../../support/git-fixtures.ts';
import { readPidFile } from '../../support/pidfile.ts';

const fsAllowlist: FsAllowlist = { read: ['**/*'], write: ['src/**'], deny: [] };
const models: ModelsConfigFile = {
  providers: {
    openai: { base_url: 'http://127.0.0.1:9/v1', api_key_env: 'OPENAI_API_KEY', timeout_s: 30, models: { 'gpt-4o': { input_per_mtok: 2.5, output_per_mtok: 10 } } },
    anthropic: { base_url: 'http://127.0.0.1:9', api_key_env: 'ANTHROPIC_API_KEY', timeout_s: 30, models: { 'claude-sonnet-4': { input_per_mtok: 3, output_per_mtok: 15 } } },
  },
};
const ENV = { PATH: `${FAKE_AIDER_DIR}${path.delimiter}${process.env.PATH}`, OPENAI_API_KEY: 'sk-openai-real-0001', ANTHROPIC_API_KEY: 'sk-ant-real-0002' };
const noLlm: LlmClient = { call: () => Promise.reject(new Error('not used')) };

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

function gateway(): LlmGateway {
  const gw = new LlmGateway({
    models,
    costOptimization: { enabled: false, max_daily_spend_usd: 0 },
    failoverEnabled: true,
    breakers: new BreakerRegistry({ enabled: true, failureThreshold: 3, windowMs: 60_000, cooldownMs: 60_000 }),
    spend: createMemorySpendStore(),
    env: ENV,
  });
  // Issuing credentials needs only the origin the children are given; nothing is called here.
  gw.setOrigin('http://127.0.0.1:9');
  return gw;
}

function run(f: TempRepo, executor: Executor, primary: string, kind: ResolvedProgrammer['executor']) {
  const receipts: Receipt[] = [];
  const result = runProgrammerTask({
    task: { id: 't1', jobId: 'job1', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: 'append line b', files: ['src/a.ts'] },
    programmer: { id: 'Prog-006', port: 6156, parent: 'Mgr-Code-01', primary, capabilities: [], executor: kind, timeoutMs: 30_000, free: false },
    repo: f.repo,
    workspacesDir: f.workspacesDir,
    executor,
    llm: noLlm,
    receipts: { append: (r) => void receipts.push(r) },
    runId: 'run-kill',
    fsAllowlist,
  });
  return { result, receipts };
}

/** Waits until the credential stops working; says whether the child was still alive at that moment. */
async function aliveWhenRevoked(gw: LlmGateway, credential: string, pid: number): Promise<boolean> {
  expect(gw.credentials.lookup(credential).ok).toBe(true);
  let alive = false;
  const ended = await waitFor(async () => {
    if (gw.credentials.lookup(credential).ok) return false;
    alive = await isRunning(pid);
    return true;
  }, 15_000, 20);
  expect(ended).toBe(true);
  return alive;
}

describe('the credential of a killed run', { timeout: 60_000 }, () => {
  it('ends the moment aider times out, while aider (ignoring SIGTERM) is still alive', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const gw = gateway();
    const pidfile = path.join(f.root, 'pids');
    const executor = createAiderExecutor({
      fsAllowlist,
      models,
      aider: { binary: 'aider', edit_format: 'diff', timeout_s: 1 },
      env: ENV,
      extraEnv: { FAKE_AIDER_MODE: 'hang', FAKE_AIDER_PIDFILE: pidfile, FAKE_AIDER_IGNORE_TERM: '1' },
      killGraceMs: 3_000,
      gateway: gw,
    });
    const { result, receipts } = run(f, executor, 'openai/gpt-4o', 'aider');
    const pid = (await readPidFile(pidfile, 2))[0]!;
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const credential = env.find((e) => e.startsWith('OPENAI_API_KEY='))!.slice('OPENAI_API_KEY='.length);
    expect(credential).toMatch(/^pas-task-/);
    expect(env.join('\n')).not.toContain(ENV.OPENAI_API_KEY);

    expect(await aliveWhenRevoked(gw, credential, pid)).toBe(true);
    expect(await result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_TASK_TIMEOUT' } });
    expect(receipts[0]).toMatchObject({ status: 'failed' });
  });

  it('ends the moment an agent CLI run times out, while the CLI (ignoring SIGTERM) is still alive', async () => {
    const f = (fixture = await createTempRepo({ 'src/a.ts': 'a\n' }));
    const gw = gateway();
    const cli = path.join(f.root, 'stubborn-cli');
    writeFileSync(cli, `#!${process.execPath}\nprocess.on('SIGTERM', () => {});\nsetInterval(() => {}, 1000);\n`);
    chmodSync(cli, 0o755);
    const executor = createAgentCliExecutor({
      spec: claudeCodeSpec,
      settings: { binary: cli, timeout_s: 1, stall_timeout_s: 60, max_turns: 5, max_retries: 0 },
      fsAllowlist,
      models,
      runsDir: path.join(f.root, 'agent-runs'),
      breakers: new BreakerRegistry({ enabled: true, failureThreshold: 3, windowMs: 60_000, cooldownMs: 60_000 }),
      env: ENV,
      killGraceMs: 3_000,
      gateway: gw,
    });
    const { result } = run(f, executor, 'anthropic/claude-sonnet-4', 'claude-code');
    let child: { pid: number; env: string[] } | undefined;
    expect(await waitFor(() => (child = environsIn(f.workspacesDir, 'ANTHROPIC_API_KEY')[0]) !== undefined, 10_000)).toBe(true);
    const credential = child!.env.find((e) => e.startsWith('ANTHROPIC_API_KEY='))!.slice('ANTHROPIC_API_KEY='.length);
    expect(credential).toMatch(/^pas-task-/);
    expect(child!.env).toContain('ANTHROPIC_BASE_URL=http://127.0.0.1:9/llm/anthropic');
    expect(child!.env.join('\n')).not.toContain(ENV.ANTHROPIC_API_KEY);

    expect(await aliveWhenRevoked(gw, credential, child!.pid)).toBe(true);
    expect(await result).toMatchObject({ status: 'failed', error: { code: 'PAS_ERR_TASK_TIMEOUT' } });
  });
});
