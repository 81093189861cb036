/**
 * The offline demonstration's material: a small JavaScript library of six modules and the
 * scripted model replies (a plan, then one SEARCH/REPLACE edit per module) that document it.
 * `configs/cassettes/demo.yaml` is this cassette written out (`npm run demo:cassette`).
 */
import type { CassetteEntry } from '../llm/providers/scripted-adapter.ts';

export interface DemoModule {
  file: string;
  signature: string;
  body: string;
  doc: string;
}

export const DEMO_MODULES: readonly DemoModule[] = [
  { file: 'src/math.js', signature: 'export function add(a, b) {', body: '  return a + b;', doc: 'Adds two numbers.\n * @param {number} a\n * @param {number} b\n * @returns {number} the sum' },
  { file: 'src/strings.js', signature: 'export function capitalize(text) {', body: '  return text.charAt(0).toUpperCase() + text.slice(1);', doc: 'Upper-cases the first letter.\n * @param {string} text\n * @returns {string}' },
  { file: 'src/arrays.js', signature: 'export function chunk(items, size) {', body: '  const out = [];\n  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));\n  return out;', doc: 'Splits a list into lists of at most `size` items.\n * @template T\n * @param {T[]} items\n * @param {number} size\n * @returns {T[][]}' },
  { file: 'src/dates.js', signature: 'export function isoDay(date) {', body: '  return date.toISOString().slice(0, 10);', doc: 'The UTC calendar day of a date, as YYYY-MM-DD.\n * @param {Date} date\n * @returns {string}' },
  { file: 'src/objects.js', signature: 'export function pick(object, keys) {', body: '  return Object.fromEntries(keys.filter((k) => k in object).map((k) => [k, object[k]]));', doc: 'A copy of `object` with only the given keys.\n * @param {Record<string, unknown>} object\n * @param {string[]} keys\n * @returns {Record<string, unknown>}' },
  { file: 'src/numbers.js', signature: 'export function clamp(value, min, max) {', body: '  return Math.min(max, Math.max(min, value));', doc: 'Keeps a number within [min, max].\n * @param {number} value\n * @param {number} min\n * @param {number} max\n * @returns {number}' },
];

export const DEMO_TASK = 'Document the library: add a JSDoc comment above the exported function of every module.';

export function moduleSource(m: DemoModule): string {
  return `${m.signature}\n${m.body}\n}\n`;
}

export function documentedSource(m: DemoModule): string {
  return `/**\n * ${m.doc}\n */\n${moduleSource(m)}`;
}

export interface DemoTiming {
  planDelayMs: number;
  editDelayMs: number;
}

export const DEFAULT_DEMO_TIMING: DemoTiming = { planDelayMs: 300, editDelayMs: 1500 };

export function demoCassette(timing: DemoTiming = DEFAULT_DEMO_TIMING): CassetteEntry[] {
  const plan = {
    subtasks: DEMO_MODULES.map((m) => ({ instruction: `Add a JSDoc comment above the exported function in ${m.file}.`, files: [m.file] })),
  };
  return [
    {
      match: { purpose: 'plan', contains: DEMO_TASK },
      reply: JSON.stringify(plan, null, 2),
      usage: { input: 310, output: 220 },
      delay_ms: timing.planDelayMs,
    },
    ...DEMO_MODULES.map(
      (m): CassetteEntry => ({
        match: { purpose: 'edit', contains: `JSDoc comment above the exported function in ${m.file}.` },
        reply: `${m.file}\n<<<<<<< SEARCH\n${m.signature}\n=======\n/**\n * ${m.doc}\n */\n${m.signature}\n>>>>>>> REPLACE\n`,
        usage: { input: 420 + m.body.length, output: 40 + m.doc.length },
        delay_ms: timing.editDelayMs,
      }),
    ),
    {
      match: { purpose: 'route' },
      reply: 'Code',
      usage: { input: 60, output: 1 },
    },
  ];
}
