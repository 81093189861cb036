/**
 * Secrets never leave the process: every error message and log line of the LLM layer passes
 * through `redactSecrets`, and loggers get `LLM_REDACT_PATHS` for auth headers.
 */
import type { LoggerOptions } from 'pino';
import type { ModelsConfigFile } from '../config/schemas.ts';

export const REDACTED = '[REDACTED]';

/** Env var names that hold secrets whatever their value length (from models.yaml `api_key_env`). */
const registeredSecretNames = new Set<string>();

/** Remember the `api_key_env` names of a models config so `redactSecrets` always covers them. */
export function registerSecretEnvNames(models: ModelsConfigFile | readonly string[]): void {
  const names = Array.isArray(models)
    ? (models as readonly string[])
    : Object.values((models as ModelsConfigFile).providers).flatMap((p) => (p.api_key_env ? [p.api_key_env] : []));
  for (const name of names) registeredSecretNames.add(name);
}

const SECRET_NAME = /(_API_KEY|_TOKEN)$/;
/** Values this short are too likely to occur by chance to be replaced everywhere. */
const MIN_NAMED_LENGTH = 4;
const MIN_PATTERN_LENGTH = 8;

/** The secret values currently in `env`, longest first (so a key containing another is replaced whole). */
export function secretValues(env: NodeJS.ProcessEnv = process.env, names: Iterable<string> = registeredSecretNames): string[] {
  const values = new Set<string>();
  for (const name of names) {
    const value = env[name];
    if (value && value.length >= MIN_NAMED_LENGTH) values.add(value);
  }
  for (const [name, value] of Object.entries(env)) {
    if (value && value.length >= MIN_PATTERN_LENGTH && SECRET_NAME.test(name)) values.add(value);
  }
  return [...values].sort((a, b) => b.length - a.length);
}

/**
 * Replaces the value of every secret env var (models.yaml `api_key_env` names, plus any
 * `*_API_KEY` / `*_TOKEN` of 8+ characters) with `[REDACTED]`.
 */
export function redactSecrets(text: string, env: NodeJS.ProcessEnv = process.env, names?: Iterable<string>): string {
  let out = text;
  for (const value of secretValues(env, names ?? registeredSecretNames)) {
    if (out.includes(value)) out = out.split(value).join(REDACTED);
  }
  return out;
}

/** Deep copy of a JSON-ish value with every string redacted. */
export function redactValue<T>(value: T, env: NodeJS.ProcessEnv = process.env): T {
  if (typeof value === 'string') return redactSecrets(value, env) as T;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, env)) as T;
  if (value && typeof value === 'object' && !(value instanceof Error)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, env);
    return out as T;
  }
  return value;
}

/** pino `redact` paths for auth headers wherever a request/headers object is logged. */
export const LLM_REDACT_PATHS: readonly string[] = [
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-goog-api-key"]',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers["x-goog-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-goog-api-key"]',
  'apiKey',
  '*.apiKey',
];

/**
 * pino options that censor auth headers and scrub secret env values from every logged string
 * (message and fields). Merge into the root logger's options.
 */
export function redactingLoggerOptions(env: NodeJS.ProcessEnv = process.env): Pick<LoggerOptions, 'redact' | 'hooks' | 'formatters'> {
  return {
    redact: { paths: [...LLM_REDACT_PATHS], censor: REDACTED },
    formatters: {
      log: (object) => redactValue(object, env),
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? redactSecrets(a, env) : a)) as typeof args;
        method.apply(this, scrubbed);
      },
    },
  };
}
