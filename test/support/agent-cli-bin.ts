/**
 * Where the real agent CLIs are for tests: `PAS_AGENT_CLI_BIN_DIR`, else
 * `test/agent-clis/node_modules/.bin` (installed by `.ci/run` with `npm ci --prefix test/agent-clis`).
 * A missing binary fails the test with the command that installs it; nothing is skipped.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export const AGENT_CLI_BIN_DIR = process.env.PAS_AGENT_CLI_BIN_DIR ?? path.resolve(import.meta.dirname, '../agent-clis/node_modules/.bin');

export function agentCliBin(name: 'claude' | 'codex' | 'gemini' | 'opencode'): string {
  const file = path.join(AGENT_CLI_BIN_DIR, name);
  if (!existsSync(file)) {
    throw new Error(`the ${name} CLI is not installed at ${file}: run \`npm ci --prefix test/agent-clis --no-audit --no-fund\` (as .ci/run does) or set PAS_AGENT_CLI_BIN_DIR`);
  }
  return file;
}
