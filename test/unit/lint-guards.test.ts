/**
 * The lint rules that guard the design (eslint.config.js) catch what they are for: I/O, `src/`
 * and the clock in `machines/`, `any` anywhere. Run through ESLint's API on text placed where
 * such code would live.
 */
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const eslint = new ESLint({ cwd: ROOT });

async function rulesBroken(file: string, text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath: path.join(ROOT, file) });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('lint guards', () => {
  it('keeps node:*, src/, I/O libraries, process and Date out of machines/', async () => {
    expect(await rulesBroken('machines/probe.machine.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n")).toContain('no-restricted-imports');
    expect(await rulesBroken('machines/probe.machine.ts', "import { PasError } from '../src/errors.ts';\nexport const x = PasError;\n")).toContain('no-restricted-imports');
    expect(await rulesBroken('machines/probe.machine.ts', "import pino from 'pino';\nexport const x = pino;\n")).toContain('no-restricted-imports');
    expect(await rulesBroken('machines/probe.machine.ts', 'export const x = process.env.HOME;\n')).toContain('no-restricted-globals');
    expect(await rulesBroken('machines/probe.machine.ts', 'export const x = Date.now();\n')).toContain('no-restricted-globals');
    expect(await rulesBroken('machines/probe.machine.ts', "import type { ErrorData } from './error-codes.ts';\nexport const x = (e: ErrorData) => e.code;\n")).toEqual([]);
  });

  it('refuses any, in src/ and in tests alike', async () => {
    expect(await rulesBroken('src/probe.ts', 'export const x = (v: any) => v;\n')).toContain('@typescript-eslint/no-explicit-any');
    expect(await rulesBroken('test/unit/probe.test.ts', 'export const x = (v: any) => v;\n')).toContain('@typescript-eslint/no-explicit-any');
  });
});
