/**
 * `pas <command> --help` and the "did you mean" answer to a mistyped command or flag. Every
 * command declares its options with a one-line `help` (and the value's name in `arg`), a usage
 * line and at least one example; this file turns those into the text users read.
 */
import type { ParseArgsConfig } from 'node:util';
import { closest, distance } from 'fastest-levenshtein';

/** A node:util parseArgs option plus what `--help` says about it. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & {
  help: string;
  /** The value's name in help (`N`, `PATH`); boolean flags have none. */
  arg?: string;
};

export interface CommandHelp {
  summary: string;
  /** `pas submit "<task>" [options]` without the leading `pas <name>`. */
  usage: string;
  options: Record<string, OptionSpec>;
  examples: readonly string[];
  /** Extra paragraphs after the options. */
  notes?: readonly string[];
}

const HELP_FLAG: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' };

function optionLabel(name: string, spec: OptionSpec): string {
  const short = spec.short ? `-${spec.short}, ` : '    ';
  const value = spec.type === 'string' ? ` ${spec.arg ?? 'VALUE'}${spec.multiple ? ' …' : ''}` : '';
  return `${short}--${name}${value}`;
}

/** The full help of one command. */
export function commandHelp(name: string, command: CommandHelp): string {
  const entries = Object.entries({ ...command.options, help: HELP_FLAG });
  const labels = entries.map(([n, spec]) => optionLabel(n, spec));
  const width = Math.max(...labels.map((l) => l.length));
  const lines = [
    `Usage: pas ${name}${command.usage ? ` ${command.usage}` : ''}`,
    '',
    command.summary,
    '',
    'Options:',
    ...entries.map(([, spec], i) => `  ${labels[i]!.padEnd(width)}  ${spec.help}`),
  ];
  if (command.notes && command.notes.length > 0) lines.push('', ...command.notes);
  lines.push('', command.examples.length > 1 ? 'Examples:' : 'Example:', ...command.examples.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

/** True when the arguments ask for help (`--help` or `-h` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** The nearest candidate within a small edit distance, or null. */
export function suggestion(input: string, candidates: readonly string[]): string | null {
  if (candidates.length === 0) return null;
  const best = closest(input, candidates as string[]);
  const limit = Math.max(2, Math.floor(input.length / 3));
  return distance(input, best) <= limit || best.startsWith(input) ? best : null;
}

/**
 * parseArgs' error rewritten for people: an unknown `--flag` gets the nearest real one and a
 * pointer to `--help`; other errors keep their message without Node's boilerplate.
 */
export function argumentError(name: string, options: Record<string, OptionSpec>, err: Error & { code?: string }): string {
  const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(err.message);
  if (unknown) {
    const flag = `${unknown[1]}${unknown[2]}`;
    const names = Object.keys(options).map((n) => `--${n}`);
    const near = unknown[1] === '--' ? suggestion(flag, names) : null;
    const hint = near ? ` Did you mean ${near}?` : '';
    return `pas ${name}: unknown option ${flag}.${hint} (pas ${name} --help lists the options)\n`;
  }
  const message = err.message.replace(/\. To specify a positional argument.*$/s, '');
  return `pas ${name}: ${message} (pas ${name} --help lists the options)\n`;
}
