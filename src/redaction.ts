/**
 * The one redaction policy. Secrets never leave the process: the logger, errors turned into data
 * (task results), receipts, the journal, HTTP error answers and the live feed all scrub through
 * this module, with one list of what a secret is:
 * - the value of every env var models.yaml names as an `api_key_env` (4+ characters), and
 * - the value of every `*_API_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD` env var (8+ characters);
 * plus, for structured log lines, auth headers and key-like fields by path.
 */
import type { LoggerOptions } from 'pino';
import type { ModelsConfigFile } from './config/schemas.ts';

export const REDACTED = '[REDACTED]';

/** Env var names that hold secrets whatever their value length (from models.yaml `api_key_env`). */
const registeredSecretNames = new Set<string>();

/** Remember the `api_key_env` names of a models config so every scrub covers them. */
export function registerSecretEnvNames(models: ModelsConfigFile | readonly string[]): void {
  const names = Array.isArray(models)
    ? (models as readonly string[])
    : Object.values((models as ModelsConfigFile).providers).flatMap((p) => (p.api_key_env ? [p.api_key_env] : []));
  for (const name of names) registeredSecretNames.add(name);
}

const SECRET_NAME = /(_API_KEY|_TOKEN|_SECRET|_PASSWORD)$/;
/** Values this short are too likely to occur by chance to be replaced everywhere. */
const MIN_NAMED_LENGTH = 4;
const MIN_PATTERN_LENGTH = 8;

/** Whether an env var of this name holds a secret (a models.yaml `api_key_env`, or `*_API_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`). */
export function isSecretEnvName(name: string): boolean {
  return registeredSecretNames.has(name) || SECRET_NAME.test(name);
}

/**
 * The names in each env object that have a secret's form, listed at most once per event-loop turn:
 * listing process.env's names costs ~10 µs (every name is copied out of the C environment) and
 * a burst of finishing tasks scrubs hundreds of times in one turn. Values are always read afresh.
 */
let patternNames = new WeakMap<object, readonly string[]>();
let forgetScheduled = false;

function patternNamesOf(env: NodeJS.ProcessEnv): readonly string[] {
  let names = patternNames.get(env);
  if (names) return names;
  names = Object.keys(env).filter((name) => SECRET_NAME.test(name));
  patternNames.set(env, names);
  if (!forgetScheduled) {
    forgetScheduled = true;
    setImmediate(forgetPatternNames).unref();
  }
  return names;
}

function forgetPatternNames(): void {
  patternNames = new WeakMap();
  forgetScheduled = false;
}

/** The last answer per env object: the values as read (in reading order) and them sorted. */
const lastAnswer = new WeakMap<object, { read: string[]; sorted: string[] }>();

/**
 * The secret values currently in `env`, longest first (so a key containing another is replaced
 * whole). A registered name's value, and a changed value of any secret-named variable, count at
 * once; a `*_TOKEN`-style variable newly added to the environment counts from the next
 * event-loop turn on (the names are listed once per turn, see patternNamesOf). Do not mutate
 * the answer: an unchanged environment answers the same array.
 */
export function secretValues(env: NodeJS.ProcessEnv = process.env, names: Iterable<string> = registeredSecretNames): string[] {
  const read: string[] = [];
  for (const name of names) {
    const value = env[name];
    if (value && value.length >= MIN_NAMED_LENGTH && !read.includes(value)) read.push(value);
  }
  for (const name of patternNamesOf(env)) {
    const value = env[name];
    if (value && value.length >= MIN_PATTERN_LENGTH && !read.includes(value)) read.push(value);
  }
  const last = lastAnswer.get(env);
  if (last && last.read.length === read.length && last.read.every((value, i) => value === read[i])) return last.sorted;
  const sorted = Object.freeze([...read].sort((a, b) => b.length - a.length)) as string[];
  lastAnswer.set(env, { read, sorted });
  return sorted;
}

/** Replaces each of `secrets` (longest first, see secretValues) in `text`. */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out;
}

/** `text` with the value of every secret env var replaced by `[REDACTED]`. */
export function redactSecrets(text: string, env: NodeJS.ProcessEnv = process.env, names?: Iterable<string>): string {
  return scrubText(text, secretValues(env, names ?? registeredSecretNames));
}

/** Deep copy of a JSON-ish value with each of `secrets` replaced in every string. */
export function scrubValue<T>(value: T, secrets: readonly string[]): T {
  if (typeof value === 'string') return scrubText(value, secrets) as T;
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, secrets)) as T;
  if (value && typeof value === 'object' && !(value instanceof Error)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = scrubValue(v, secrets);
    return out as T;
  }
  return value;
}

/** The secrets as they appear inside a JSON string literal (a quote or a backslash in one is escaped there). */
const jsonForms = new Map<string, string>();

function jsonForm(secret: string): string {
  let form = jsonForms.get(secret);
  if (form === undefined) {
    form = JSON.stringify(secret).slice(1, -1);
    if (jsonForms.size >= 256) jsonForms.clear();
    jsonForms.set(secret, form);
  }
  return form;
}

/**
 * `JSON.stringify(value)` with every secret value replaced in every string (what receipts and
 * the journal store). The usual value holds no secret: it is serialized once and searched, not
 * copied first; one that holds a secret is scrubbed in its JSON form (parsed back, so what is
 * scrubbed is exactly what is stored) and serialized again.
 */
export function redactedJson(value: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const text = JSON.stringify(value);
  if (text === undefined) return text as unknown as string;
  const secrets = secretValues(env);
  for (const secret of secrets) {
    if (text.includes(jsonForm(secret))) return JSON.stringify(scrubValue(JSON.parse(text) as unknown, secrets));
  }
  return text;
}

/** Deep copy of a JSON-ish value with every string redacted. */
export function redactValue<T>(value: T, env: NodeJS.ProcessEnv = process.env): T {
  const secrets = secretValues(env);
  return secrets.length === 0 ? value : scrubValue(value, secrets);
}

/** pino `redact` paths: auth headers and key-like fields wherever a request or headers object is logged. */
export const REDACT_PATHS: readonly string[] = [
  'authorization',
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
  'api_key',
  '*.apiKey',
  '*.api_key',
  'token',
  '*.token',
];

/**
 * pino options that censor auth headers by path and scrub secret env values from every logged
 * string (message and fields). Merge into the root logger's options.
 */
export function redactingLoggerOptions(env: NodeJS.ProcessEnv = process.env): Pick<LoggerOptions, 'redact' | 'hooks' | 'formatters'> {
  return {
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
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
