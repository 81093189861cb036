/**
 * How a user installs each coding-agent CLI (versions that run on Node 20, the ones the tests
 * pin in test/agent-clis) and its programmer_pool.yaml section: for `pas doctor`, `pas demo
 * --executors` and the README's "Use your coding agent".
 */
import type { AgentCliExecutorName } from './agent-cli-spec.ts';

export const AGENT_CLI_INSTALL: Record<AgentCliExecutorName, { section: 'claude_code' | 'codex' | 'gemini_cli' | 'opencode'; command: string }> = {
  'claude-code': { section: 'claude_code', command: 'npm install -g @anthropic-ai/claude-code@2.1.197' },
  codex: { section: 'codex', command: 'npm install -g @openai/codex@0.171.0' },
  'gemini-cli': { section: 'gemini_cli', command: 'npm install -g @google/gemini-cli@0.61.0' },
  opencode: { section: 'opencode', command: 'npm install -g opencode-ai@1.18.33' },
};
