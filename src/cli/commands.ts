import type { ParseArgsConfig } from 'node:util';
import { agentsCommand } from './agents.ts';
import { benchCommand } from './bench.ts';
import { demoCommand } from './demo.ts';
import { statusCommand } from './status.ts';
import { submitCommand } from './submit.ts';
import { upCommand } from './up.ts';
import { validateCommand } from './validate.ts';

export interface Command {
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Options (declared `multiple`) that take every value up to the next flag: `--files a b c`. */
  greedy?: readonly string[];
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  up: upCommand,
  demo: demoCommand,
  validate: validateCommand,
  submit: submitCommand,
  status: statusCommand,
  agents: agentsCommand,
  bench: benchCommand,
};

export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  pas ${name.padEnd(10)} ${c.summary}`);
  return `Usage: pas <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nPAS_CONFIG_DIR selects another configs folder (default ./configs).\n`;
}
