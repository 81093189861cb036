/**
 * The `pas` command line (CONTRACT §3, §10). Each command returns its exit code; 2 means bad
 * input (a config error names the file and the key path). `--help` answers for every command.
 */
import { parseArgs } from 'node:util';
import { isPasError } from '../errors.ts';
import { COMMANDS, usage } from './commands.ts';
import { expandGreedyOptions } from './greedy-args.ts';
import { argumentError, commandHelp, suggestion, wantsHelp } from './help.ts';

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic && COMMANDS[topic]) {
      process.stdout.write(commandHelp(topic, COMMANDS[topic]));
      return 0;
    }
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    const near = suggestion(name, Object.keys(COMMANDS));
    process.stderr.write(`pas: unknown command "${name}"${near ? `. Did you mean "pas ${near}"?` : ''}\n\n${usage()}`);
    return 2;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(commandHelp(name, command));
    return 0;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: command.greedy ? expandGreedyOptions(rest, command.options, command.greedy) : rest, options: command.options, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(argumentError(name, command.options, err as Error));
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
