/**
 * Options that take several values in a row (`pas submit "task" --files a b c`): node:util
 * parseArgs takes one value per flag, so `--files a b c` is rewritten to `--files=a --files=b
 * --files=c` before parsing. Values run up to the next argument that starts with `-`, or `--`
 * (after which everything is positional, as parseArgs has it).
 */
import type { ParseArgsConfig } from 'node:util';

export function expandGreedyOptions(args: readonly string[], options: NonNullable<ParseArgsConfig['options']>, greedy: readonly string[]): string[] {
  const flags = new Map<string, string>();
  for (const name of greedy) {
    flags.set(`--${name}`, name);
    const short = options[name]?.short;
    if (short) flags.set(`-${short}`, name);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = flags.get(arg);
    if (!name) {
      out.push(arg);
      continue;
    }
    let taken = 0;
    while (i + 1 < args.length && !args[i + 1]!.startsWith('-')) {
      out.push(`--${name}=${args[i + 1]!}`);
      i++;
      taken++;
    }
    // No value: left as it was, so parseArgs reports the missing argument.
    if (taken === 0) out.push(arg);
  }
  return out;
}
