/** Every agent CLI PAS can run, by executor name (CONTRACT §8). Adding a CLI: its spec file, one line here. */
import type { AgentCliExecutorName, AgentCliSpec } from './agent-cli-spec.ts';
import { claudeCodeSpec } from './claude-code.ts';
import { codexSpec } from './codex.ts';
import { geminiCliSpec } from './gemini-cli.ts';
import { opencodeSpec } from './opencode.ts';

export const AGENT_CLI_SPECS: Partial<Record<AgentCliExecutorName, AgentCliSpec>> = {
  'claude-code': claudeCodeSpec,
  codex: codexSpec,
  'gemini-cli': geminiCliSpec,
  opencode: opencodeSpec,
};
