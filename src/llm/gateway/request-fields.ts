/**
 * The one field of a request body the gateway routes on — the top-level `"model"` — read from the
 * raw bytes without parsing the body (an agent's request is its whole conversation: tens to
 * hundreds of KB the gateway passes on untouched). Every SDK writes `model` among the first
 * keys, so the scan walks the top-level keys and skips string, number and literal values with a
 * byte search. It parses the body instead when a nested object or array comes before `model`,
 * or when `"model"` is a key again further on (a duplicate top-level key is the one the provider
 * obeys; the parse sees it the same way). The rest of the body's syntax is the provider's to
 * check: it answers a malformed body with its own 400, as it would without PAS.
 */
import { isJsonSpace, skipSpace, stringEnd } from './json-bytes.ts';

export type ModelField =
  | { ok: true; model: string; /** The byte range of the model's JSON string, quotes included. */ start: number; end: number }
  | { ok: false; reason: 'not_object' | 'no_model' };

const QUOTE = 0x22;
const MODEL_KEY = Buffer.from('"model"');

/** The index just past a number or literal (`true`, `null`, …) starting at `i`. */
function scalarEnd(body: Buffer, i: number): number {
  while (i < body.length) {
    const b = body[i]!;
    if (b === 0x2c || b === 0x7d || b === 0x5d || isJsonSpace(b)) break;
    i++;
  }
  return i;
}

/** A string's JSON text decoded, or undefined when it is not a valid JSON string. */
function decodeString(body: Buffer, start: number, end: number): string | undefined {
  // A model name has no escapes: its bytes between the quotes are the name.
  let plain = true;
  for (let i = start + 1; i < end - 1 && plain; i++) plain = body[i]! !== 0x5c && body[i]! >= 0x20;
  if (plain) return body.toString('utf8', start + 1, end - 1);
  try {
    const value: unknown = JSON.parse(body.toString('utf8', start, end));
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The model of a body the scan could not settle, by parsing it (the last `model` key wins, as for the provider). */
function parsed(body: Buffer): ModelField {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not_object' };
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return { ok: false, reason: 'not_object' };
  const model = (json as Record<string, unknown>).model;
  return typeof model === 'string' ? { ok: true, model, start: -1, end: -1 } : { ok: false, reason: 'no_model' };
}

/**
 * Whether `"model"` appears as a key anywhere after `from`. Inside a JSON string its quotes
 * would be escaped, so an unescaped `"model"` followed by a colon is a key at some depth. A
 * second top-level model would be the one the provider obeys: such a body is parsed instead.
 */
function anotherModelKey(body: Buffer, from: number): boolean {
  for (let at = body.indexOf(MODEL_KEY, from); at >= 0; at = body.indexOf(MODEL_KEY, at + MODEL_KEY.length)) {
    if (body[skipSpace(body, at + MODEL_KEY.length)] === 0x3a) return true;
  }
  return false;
}

export function readModelField(body: Buffer): ModelField {
  let i = skipSpace(body, 0);
  if (body[i] !== 0x7b) return { ok: false, reason: 'not_object' };
  i = skipSpace(body, i + 1);
  if (body[i] === 0x7d) return { ok: false, reason: 'no_model' };
  for (;;) {
    if (body[i] !== QUOTE) return parsed(body);
    const keyEnd = stringEnd(body, i);
    if (keyEnd < 0) return { ok: false, reason: 'not_object' };
    const isModel = keyEnd - i === MODEL_KEY.length && body.compare(MODEL_KEY, 0, MODEL_KEY.length, i, keyEnd) === 0;
    const colon = skipSpace(body, keyEnd);
    if (body[colon] !== 0x3a) return parsed(body);
    const start = skipSpace(body, colon + 1);
    const first = body[start];
    // A nested value before the model: cheaper to let the JSON parser find it.
    if (first === 0x7b || first === 0x5b) return parsed(body);
    const end = first === QUOTE ? stringEnd(body, start) : scalarEnd(body, start);
    if (end < 0 || end === start) return parsed(body);
    if (isModel) {
      const model = first === QUOTE ? decodeString(body, start, end) : undefined;
      if (model === undefined || anotherModelKey(body, end)) return parsed(body);
      return { ok: true, model, start, end };
    }
    i = skipSpace(body, end);
    if (body[i] === 0x7d) return { ok: false, reason: 'no_model' };
    if (body[i] !== 0x2c) return parsed(body);
    i = skipSpace(body, i + 1);
  }
}

/** The body with its model renamed (failover to a backup of another name); every other byte kept. */
export function withModel(body: Buffer, field: Extract<ModelField, { ok: true }>, model: string): Buffer {
  if (field.start < 0) {
    const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    return Buffer.from(JSON.stringify({ ...json, model }));
  }
  return Buffer.concat([body.subarray(0, field.start), Buffer.from(JSON.stringify(model)), body.subarray(field.end)]);
}
