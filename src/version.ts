/** The PAS version this build is (package.json's `version`), read once. */
import { readFileSync } from 'node:fs';

export const PAS_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
