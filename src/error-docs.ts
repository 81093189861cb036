/** The error reference (docs/errors.md) as generated from the table in machines/error-codes.ts. */
import { ERRORS } from './errors.ts';

export function errorDocsMarkdown(): string {
  const rows = Object.entries(ERRORS).map(([code, spec]) => `| \`${code}\` | ${spec.retryable ? 'yes' : 'no'} | ${spec.status} | ${spec.doc} |`);
  return [
    '# PAS error codes',
    '',
    'Every failure that crosses a module boundary carries one of these codes (`machines/error-codes.ts`).',
    'HTTP answers put it in `{"error": {"code", "message", "details"}}`; receipts and task results',
    'keep it as `{code, retryable, message}`. This file is generated: `npm run docs:errors`.',
    '',
    '| code | retryable | HTTP | meaning |',
    '|---|---|---:|---|',
    ...rows,
    '',
  ].join('\n');
}
