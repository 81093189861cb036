/** `pas doctor` checks the binary of every coding-agent CLI a programmer runs, with its install command. */
import { describe, expect, it } from 'vitest';
import { loadConfig, type PasConfig } from '../../../src/config/load-config.ts';
import { runDoctor } from '../../../src/doctor/doctor-checks.ts';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';

function withExecutors(base: PasConfig, executors: Record<string, 'gemini-cli' | 'opencode'>, binaries: { gemini: string; opencode: string }): PasConfig {
  return {
    ...base,
    programmers: base.programmers.map((p) => (executors[p.id] ? { ...p, executor: executors[p.id]! } : p)),
    pool: { ...base.pool, gemini_cli: { ...base.pool.gemini_cli, binary: binaries.gemini }, opencode: { ...base.pool.opencode, binary: binaries.opencode } },
  };
}

describe('pas doctor on agent-CLI programmers', () => {
  it('passes an installed CLI and fails a missing one with the command that installs it', async () => {
    const config = withExecutors(loadConfig(SHIPPED_CONFIGS), { 'Prog-001': 'gemini-cli', 'Prog-002': 'gemini-cli', 'Prog-003': 'opencode' }, { gemini: agentCliBin('gemini'), opencode: 'opencode-not-installed-here' });
    const rows = await runDoctor(config, { offline: true, timeoutMs: 60_000 });
    expect(rows.find((r) => r.check === 'executor gemini-cli (2 programmers)')).toMatchObject({ status: 'ok' });
    expect(rows.find((r) => r.check === 'executor opencode (1 programmer)')).toMatchObject({
      status: 'fail',
      detail: 'opencode-not-installed-here is not on PATH',
      fix: 'npm install -g opencode-ai@1.18.33, or set opencode.binary in programmer_pool.yaml',
    });
  }, 120_000);
});
