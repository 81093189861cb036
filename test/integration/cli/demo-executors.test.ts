/**
 * `pas demo --executors …` the way a user runs it: a CLI that is not installed stops the demo
 * with exit 2 and its install command; installed ones run the demo job offline against the
 * scripted model served over their providers' wire formats, and the summary says which
 * executor ran which subtask.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { buildTopology } from '../../../src/runtime/topology.ts';
import { AGENT_CLI_BIN_DIR } from '../../support/agent-cli-bin.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';
import { freePortOffset } from '../../support/ports.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let dataDir: string | undefined;
afterEach(() => {
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

function pas(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/pas.mjs', ...args], { cwd: ROOT, env: { ...process.env, PAS_CONFIG_DIR: SHIPPED_CONFIGS, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** PATH without any folder that holds an agent CLI. */
function pathWithoutClis(): string {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => !['claude', 'codex', 'gemini', 'opencode'].some((bin) => spawnableIn(dir, bin)))
    .join(path.delimiter);
}

function spawnableIn(dir: string, bin: string): boolean {
  try {
    return existsSync(path.join(dir, bin));
  } catch {
    return false;
  }
}

// Each case starts `pas` as a child process; on a loaded machine that alone takes seconds.
describe('pas demo --executors', { timeout: 120_000 }, () => {
  it('exits 2 with the install command when a requested CLI is not installed, before starting anything', async () => {
    const { code, stderr, stdout } = await pas(['demo', '--executors', 'gemini-cli,native'], { PATH: pathWithoutClis() });
    expect(code).toBe(2);
    expect(stderr).toContain('gemini-cli is not installed');
    expect(stderr).toContain('npm install -g @google/gemini-cli@0.61.0');
    expect(stdout).not.toContain('PAS demo');
  });

  it('exits 2 naming an executor it does not know', async () => {
    const { code, stderr } = await pas(['demo', '--executors', 'claude-code,cursor'], {});
    expect(code).toBe(2);
    expect(stderr).toContain('unknown executor "cursor"');
  });

  it('runs the demo job on Claude Code and Codex offline and says which executor ran which subtask', async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-demo-cli-'));
    const topology = buildTopology(loadConfig(SHIPPED_CONFIGS));
    const offset = await freePortOffset([topology.gatewayPort, ...topology.agents.map((a) => a.port)]);
    const { code, stdout, stderr } = await pas(['demo', '--executors', 'claude-code,codex', '--port-offset', String(offset), '--data-dir', dataDir], {
      PATH: `${AGENT_CLI_BIN_DIR}${path.delimiter}${pathWithoutClis()}`,
    });
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toContain('6/6 modules documented');
    expect(stdout).toMatch(/executors: .*claude-code ran .*t\d/);
    expect(stdout).toMatch(/executors: .*codex ran .*t\d/);
    expect(stdout).toMatch(/cost \$0\.000000/);

    // The CLIs reached the scripted model through PAS's LLM gateway: each subtask's receipt holds the
    // usage the gateway measured, and the log attributes every call to its task and programmer.
    const lines = (dir: string) => readdirSync(dir).flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonAnswer));
    const receipts = lines(path.join(dataDir, 'receipts'));
    expect(receipts).toHaveLength(6);
    const calls = lines(path.join(dataDir, 'logs')).filter((l) => l.msg === 'llm gateway call');
    for (const r of receipts) {
      expect(r).toMatchObject({ status: 'completed', provider: 'scripted', cost_usd: 0 });
      const mine = calls.filter((c) => c.taskId === r.task_id);
      expect(mine.length, r.task_id).toBeGreaterThanOrEqual(2);
      expect(mine.every((c) => c.agentId === r.agent_id && c.jobId === r.job_id)).toBe(true);
      expect(r.tokens.input).toBe(mine.reduce((n, c) => n + c.usage.input, 0));
      expect(r.tokens.output).toBe(mine.reduce((n, c) => n + c.usage.output, 0));
    }
  }, 300_000);
});
