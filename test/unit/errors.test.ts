import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { asErrorData } from '../../machines/domain.ts';
import { errorDocsMarkdown } from '../../src/error-docs.ts';
import { ERRORS, PasError, toErrorData } from '../../src/errors.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return /\.(ts|js)$/.test(name) ? [full] : [];
  });
}

describe('the error registry', () => {
  it('gives every code the PAS_ERR_ form, a sentence of documentation and an HTTP status', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^PAS_ERR_[A-Z][A-Z_]*[A-Z]$/);
      expect(spec.doc.length, code).toBeGreaterThan(10);
      expect(spec.doc.endsWith('.'), code).toBe(true);
      expect(spec.status >= 400 && spec.status < 600, code).toBe(true);
    }
  });

  it('documents every code in docs/errors.md, exactly as generated from the registry', () => {
    expect(readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8')).toBe(errorDocsMarkdown());
  });

  it('knows every code the sources name, and every code it holds is used somewhere', () => {
    const text = [...sources(path.join(ROOT, 'src')), ...sources(path.join(ROOT, 'machines'))].map((f) => readFileSync(f, 'utf8')).join('\n');
    const named = new Set([...text.matchAll(/PAS_ERR_[A-Z_]*[A-Z]\b/g)].map((m) => m[0]));
    const prefixes = new Set(['PAS_ERR_CONFIG', 'PAS_ERR_LLM']); // used in startsWith checks
    expect([...named].filter((c) => !(c in ERRORS) && !prefixes.has(c))).toEqual([]);
    expect(Object.keys(ERRORS).filter((c) => !named.has(c) || text.split(c).length < 3)).toEqual([]);
  });

  it('turns errors into the plain data machines hold, keeping code, retryable and details', () => {
    const err = new PasError('PAS_ERR_LLM_RATE_LIMITED', 'slow down', { details: { retryAfterMs: 1000 } });
    expect(toErrorData(err)).toEqual({ code: 'PAS_ERR_LLM_RATE_LIMITED', retryable: true, message: 'slow down', details: { retryAfterMs: 1000 } });
    expect(asErrorData(err)).toEqual(toErrorData(err));
    expect(toErrorData(new Error('boom'))).toEqual({ code: 'PAS_ERR_EXECUTOR_CRASHED', retryable: true, message: 'boom' });
    expect(JSON.parse(JSON.stringify(toErrorData(err)))).toEqual(toErrorData(err));
  });
});
