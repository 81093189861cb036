/**
 * The `pas` command line (CONTRACT §3). Each command returns its exit code; 2 means bad input
 * (a config error names the file and the key path).
 */
import { parseArgs } from 'node:util';
import { isPasError } from '../errors.ts';
import { COMMANDS, usage } from './commands.ts';
import { expandGreedyOptions } from './greedy-args.ts';

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`pas: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: command.greedy ? expandGreedyOptions(rest, command.options, command.greedy) : rest, options: command.options, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`pas ${name}: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    return await command.run(parsed.values as Record<string, unknown>, parsed.positionals);
  } catch (err) {
    if (isPasError(err) && (err.code.startsWith('PAS_ERR_CONFIG') || err.status === 400)) {
      process.stderr.write(`pas ${name}: ${err.message}\n`);
      return 2;
    }
    if (isPasError(err)) {
      process.stderr.write(`pas ${name}: ${err.code}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`pas ${name}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
