import type { ParseArgsConfig } from 'node:util';
import { demoCommand } from './demo.ts';
import { upCommand } from './up.ts';
import { validateCommand } from './validate.ts';

export interface Command {
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  up: upCommand,
  demo: demoCommand,
  validate: validateCommand,
};

export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  pas ${name.padEnd(10)} ${c.summary}`);
  return `Usage: pas <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nPAS_CONFIG_DIR selects another configs folder (default ./configs).\n`;
}
