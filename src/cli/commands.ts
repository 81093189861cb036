import { agentsCommand } from './agents.ts';
import { benchCommand } from './bench.ts';
import { cancelCommand } from './cancel.ts';
import { demoCommand } from './demo.ts';
import { doctorCommand } from './doctor.ts';
import type { CommandHelp } from './help.ts';
import { mcpCommand } from './mcp.ts';
import { statusCommand } from './status.ts';
import { submitCommand } from './submit.ts';
import { upCommand } from './up.ts';
import { validateCommand } from './validate.ts';
import { workerCommand } from './worker.ts';

export interface Command extends CommandHelp {
  /** Options (declared `multiple`) that take every value up to the next flag: `--files a b c`. */
  greedy?: readonly string[];
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  up: upCommand,
  demo: demoCommand,
  doctor: doctorCommand,
  validate: validateCommand,
  submit: submitCommand,
  status: statusCommand,
  cancel: cancelCommand,
  agents: agentsCommand,
  mcp: mcpCommand,
  bench: benchCommand,
  worker: workerCommand,
};

export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => {
    const flags = Object.keys(c.options).map((o) => `--${o}`).join(' ');
    return `  pas ${name.padEnd(9)} ${c.summary}\n  ${''.padEnd(13)} ${c.usage ? `${c.usage}  ` : ''}${flags ? `[${flags}]` : ''}`.trimEnd();
  });
  return (
    `Usage: pas <command> [options]     (pas <command> --help for its options and an example)\n\nCommands:\n${lines.join('\n')}\n\n` +
    'Environment: PAS_CONFIG_DIR selects another configs folder (default ./configs, else the one shipped with PAS);\n' +
    'PAS_API_TOKEN is sent as a bearer token; PAS_LOG_LEVEL sets the log level (info).\n'
  );
}
