/** Writes docs/errors.md from the error registry. */
import { writeFileSync } from 'node:fs';
import { errorDocsMarkdown } from '../src/error-docs.ts';

writeFileSync(new URL('../docs/errors.md', import.meta.url), errorDocsMarkdown());
