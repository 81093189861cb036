/**
 * The one pino root. By the redaction policy (src/redaction.ts): auth headers and key-like
 * fields are censored by path, and secret values from the environment are scrubbed from every
 * serialized line.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { REDACT_PATHS, REDACTED, registerSecretEnvNames, scrubText, secretValues } from '../redaction.ts';
import { terminalLogStream } from './log-line.ts';

export interface LoggerOptions {
  level?: string;
  /** Write NDJSON here (artifacts/logs/pas-<run>.ndjson); stdout when omitted. */
  file?: string;
  /** Also mirror to stdout when logging to a file. */
  stdout?: boolean;
  /** How the stdout copy looks: one readable line per entry (default), or the NDJSON itself. */
  stdoutFormat?: 'pretty' | 'json';
  /** Colour the readable lines (default: stdout is a terminal and NO_COLOR is unset). */
  colour?: boolean;
  /** Env var names whose values are secrets whatever their name (registered with the redaction policy). */
  secretEnvNames?: readonly string[];
}

export function createLogger(options: LoggerOptions = {}): Logger {
  if (options.secretEnvNames) registerSecretEnvNames(options.secretEnvNames);
  const secrets = secretValues(process.env);
  const streams: pino.StreamEntry[] = [];
  if (options.file) {
    mkdirSync(path.dirname(options.file), { recursive: true });
    streams.push({ stream: pino.destination({ dest: options.file, sync: false, mkdir: true }) });
  }
  if (!options.file || options.stdout) {
    const colour = options.colour ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
    streams.push({ stream: options.stdoutFormat === 'pretty' ? terminalLogStream({ colour }) : process.stdout });
  }
  return pino(
    {
      level: options.level ?? process.env.PAS_LOG_LEVEL ?? 'info',
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      hooks: {
        // Scrub secret values wherever they appear in the serialized line.
        streamWrite: (line: string) => (secrets.length > 0 ? scrubText(line, secrets) : line),
      },
    },
    pino.multistream(streams),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
