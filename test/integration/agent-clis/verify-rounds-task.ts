/**
 * The task both edit–verify round suites give a CLI (verify-resume, verify-new-run): a repository
 * whose test wants src/greeting.txt and src/name.txt; the scripted first round writes only the
 * greeting, so `node --test` fails until the round PAS starts with the failure output.
 */
export const VERIFY_INSTRUCTION = 'Create src/greeting.txt saying hello and src/name.txt saying pas.';
export const VERIFY_TASK_FILES = ['src/greeting.txt', 'src/name.txt'];

/** The repository the task starts from. */
export const VERIFY_REPO_FILES: Record<string, string> = {
  'README.md': '# demo\n',
  'src/check.test.mjs': [
    "import test from 'node:test';",
    "import assert from 'node:assert';",
    "import { readFileSync } from 'node:fs';",
    "const read = (f) => readFileSync(new URL(f, import.meta.url), 'utf8');",
    "test('greets by name', () => { assert.equal(read('./greeting.txt'), 'hello\\n'); assert.equal(read('./name.txt'), 'pas\\n'); });",
    '',
  ].join('\n'),
};

/** Only the prompt PAS writes after a failed verify says this. */
export const FOLLOW_UP = 'fails on your edits';
