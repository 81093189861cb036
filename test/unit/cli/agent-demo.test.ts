import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { executorList } from '../../../src/cli/demo.ts';
import { loadConfig } from '../../../src/config/load-config.ts';
import { agentDemoConfig, AGENT_CLI_INSTALL, findExecutable, missingAgentClis, scriptedModelRef } from '../../../src/demo/agent-demo.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('executorList (--executors)', () => {
  it('reads a comma list of known executors and names the unknown ones', () => {
    expect(executorList(undefined)).toBeUndefined();
    expect(executorList('claude-code, codex')).toEqual(['claude-code', 'codex']);
    expect(executorList('claude-code,cursor')).toContain('unknown executor "cursor"');
    expect(executorList(',')).toContain('at least one');
  });
});

describe('agentDemoConfig', () => {
  const base = loadConfig(SHIPPED_CONFIGS);

  it('gives the first programmers their executors in turn, each CLI on the scripted model it reaches through the LLM gateway', () => {
    const config = agentDemoConfig(base, { executors: ['claude-code', 'codex', 'gemini-cli', 'native'], count: 6 });
    expect(config.programmers.map((p) => [p.id, p.executor, p.primary])).toEqual([
      ['Prog-001', 'claude-code', 'scripted/scripted'],
      ['Prog-002', 'codex', 'scripted/scripted'],
      ['Prog-003', 'gemini-cli', 'scripted/scripted'],
      ['Prog-004', 'native', base.programmers[3]!.primary],
      ['Prog-005', 'claude-code', 'scripted/scripted'],
      ['Prog-006', 'codex', 'scripted/scripted'],
    ]);
    expect(config.programmers.filter((p) => p.executor !== 'native').every((p) => p.backup === undefined && p.free)).toBe(true);
    expect(config.pool.pool_size).toBe(6);
    expect(config.pool.programmers.map((p) => p.executor)).toEqual(config.programmers.map((p) => p.executor));
    // No made-up providers or keys: the models are the configured ones.
    expect(config.models).toBe(base.models);
  });

  it('stops with a config error naming models.yaml when there is no scripted provider', () => {
    const { scripted: _s, ...providers } = base.models.providers;
    expect(() => scriptedModelRef({ ...base, models: { providers } })).toThrow(/models\.yaml.*kind "scripted"/);
  });

  it('points a CLI at the binary it is given', () => {
    const config = agentDemoConfig(base, { executors: ['gemini-cli'], count: 1, binaries: { 'gemini-cli': '/opt/gemini' } });
    expect(config.pool.gemini_cli.binary).toBe('/opt/gemini');
  });
});

describe('missingAgentClis', () => {
  it('finds a CLI on PATH and names the install command of one it cannot find', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pas-bin-'));
    writeFileSync(path.join(dir, 'codex'), '#!/bin/sh\n');
    chmodSync(path.join(dir, 'codex'), 0o755);
    writeFileSync(path.join(dir, 'claude'), 'not executable');
    const config = loadConfig(SHIPPED_CONFIGS);
    expect(findExecutable('codex', dir)).toBe(path.join(dir, 'codex'));
    expect(missingAgentClis(config, ['codex', 'claude-code', 'native'], dir)).toEqual([{ name: 'claude-code', binary: 'claude', install: AGENT_CLI_INSTALL['claude-code'].command }]);
  });
});
