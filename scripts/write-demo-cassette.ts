/** Writes configs/cassettes/demo.yaml from the demo fixture (the scripted model's replies). */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { demoCassette } from '../src/demo/demo-fixture.ts';

const header = '# Replies of the offline `scripted` model for the demo job (written by `npm run demo:cassette`).\n# `pas up --offline` uses this cassette; `pas demo` builds the same entries in memory.\n';
writeFileSync(new URL('../configs/cassettes/demo.yaml', import.meta.url), header + stringify({ entries: demoCassette() }));
