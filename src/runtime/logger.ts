/**
 * The one pino root. Auth headers and key-like fields are redacted by path; secret values from
 * the environment are scrubbed from every message by the formatter.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { terminalLogStream } from './log-line.ts';

export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-goog-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-goog-api-key"]',
  'apiKey',
  'api_key',
  '*.apiKey',
  '*.api_key',
  'token',
  '*.token',
];

/** Values of env vars that look like secrets (…_API_KEY, …_TOKEN, …_SECRET), at least 8 chars. */
export function secretValues(env: NodeJS.ProcessEnv = process.env, extraNames: readonly string[] = []): string[] {
  const names = new Set(extraNames);
  for (const name of Object.keys(env)) if (/(_API_KEY|_TOKEN|_SECRET|_PASSWORD)$/.test(name)) names.add(name);
  return [...names].map((n) => env[n]).filter((v): v is string => typeof v === 'string' && v.length >= 8);
}

export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  return out;
}

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
  secretEnvNames?: readonly string[];
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = secretValues(process.env, options.secretEnvNames);
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
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: {
        // Scrub secret values wherever they appear in the serialized line.
        streamWrite: (line: string) => (secrets.length > 0 ? scrub(line, secrets) : line),
      },
    },
    pino.multistream(streams),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
