/**
 * A job that goes through both repair phases (scripted model, real git, real `node --test`):
 * three subtasks; [meta] also bumps src/version.mjs and src/codename.mjs, which the plan gives to
 * [rename] and [total], so both conflict with [meta]'s merge and re-run as resolvers on its head. Each resolver passes the
 * tests alone; merged together they break them ([total]'s module imports `add`, which [rename]
 * renamed to `sum`), so the merged branch's verify fails and a fix-up subtask repairs it. The
 * model's replies are chosen by what each prompt shows, not by call count, so they are the same
 * after any restart.
 *
 * The job merges each branch as it finishes (completion order), and the replies assume [meta]
 * merges first: every subtask requires RF_CAPABILITY, which one programmer alone has
 * (`oneReleaseProgrammer`), so the subtasks run one after another in plan order, whatever the
 * machine's speed. (Run in parallel, [rename] can finish first; [meta]'s resolver then sees
 * VERSION = 4, which no reply here fits, and the job ends partial.)
 */
import type { Document } from 'yaml';
import type { CassetteEntry } from '../../src/llm/providers/scripted-adapter.ts';

export const RF_TASK = 'Release 2: rename add to sum, add total(), and bump the metadata';
export const RF_VERIFY = ['node', '--test', 'test/'];
export const RF_CAPABILITY = 'release-train';

/** Gives RF_CAPABILITY to the pool's first programmer only (programmer_pool.yaml). */
export function oneReleaseProgrammer(doc: Document): void {
  const caps = (doc.getIn(['programmers', 0, 'capabilities']) as { toJSON(): string[] }).toJSON();
  doc.setIn(['programmers', 0, 'capabilities'], [...caps, RF_CAPABILITY]);
}


export const RF_FILES: Record<string, string> = {
  'src/math.mjs': 'export function add(a, b) {\n  return a + b;\n}\n',
  'CHANGELOG.md': '# Changes\n',
  'src/version.mjs': 'export const VERSION = 1;\n',
  'src/codename.mjs': "export const CODENAME = 'a';\n",
  'test/math.test.mjs': "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { add } from '../src/math.mjs';\ntest('adds', () => assert.equal(add(2, 3), 5));\n",
};

/** What the job branch holds once the job completed (`git show` output, no final newline). */
export const RF_WANT: Record<string, string> = {
  'CHANGELOG.md': '# Changes\n\n- Release 2',
  'src/version.mjs': 'export const VERSION = 3;',
  'src/codename.mjs': "export const CODENAME = 'c';",
  'src/math.mjs': 'export function sum(a, b) {\n  return a + b;\n}',
  'src/total.mjs': "import { sum } from './math.mjs';\n\nexport function total(list) {\n  return list.reduce(sum, 0);\n}",
};

const block = (file: string, search: string, replace: string) => `${file}\n<<<<<<< SEARCH\n${search}${search ? '\n' : ''}=======\n${replace}\n>>>>>>> REPLACE\n`;

const RENAME =
  block('src/math.mjs', 'export function add(a, b) {', 'export function sum(a, b) {') +
  block('test/math.test.mjs', "import { add } from '../src/math.mjs';\ntest('adds', () => assert.equal(add(2, 3), 5));", "import { sum } from '../src/math.mjs';\ntest('sums', () => assert.equal(sum(2, 3), 5));");
const TOTAL =
  block('src/total.mjs', '', "import { add } from './math.mjs';\n\nexport function total(list) {\n  return list.reduce(add, 0);\n}") +
  block('test/total.test.mjs', '', "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { total } from '../src/total.mjs';\ntest('totals', () => assert.equal(total([1, 2, 3]), 6));");

/** `delayMs` slows each edit (a kill test aims inside them); 0 for a plain run. */
export function resolverFixupCassette(delayMs = 0): CassetteEntry[] {
  const usage = { input: 50, output: 20 };
  const edit = (regex: string, reply: string): CassetteEntry => ({ match: { purpose: 'edit', regex }, reply, usage, ...(delayMs ? { delay_ms: delayMs } : {}) });
  return [
    {
      match: { purpose: 'plan', contains: RF_TASK },
      reply: JSON.stringify({
        subtasks: [
          { instruction: 'Note release 2 in the changelog, and bump the release number and codename [meta]', files: ['CHANGELOG.md'], requires: [RF_CAPABILITY] },
          { instruction: 'Rename add to sum everywhere, and bump the release number [rename]', files: ['src/math.mjs', 'test/math.test.mjs', 'src/version.mjs'], requires: [RF_CAPABILITY] },
          {
            instruction: 'Add total(list) in src/total.mjs built on the adder, with a test, and set the codename [total]',
            files: ['src/total.mjs', 'test/total.test.mjs', 'src/codename.mjs'],
            creates: ['src/total.mjs', 'test/total.test.mjs'],
            requires: [RF_CAPABILITY],
          },
        ],
      }),
      usage: { input: 90, output: 30 },
      ...(delayMs ? { delay_ms: Math.min(delayMs, 200) } : {}),
    },
    // The fix-up: the merged branch fails because total.mjs imports add, which is now sum.
    edit(
      "Fix-up round 1 of job[\\s\\S]*does not provide an export named 'add'",
      block('src/total.mjs', "import { add } from './math.mjs';", "import { sum } from './math.mjs';") + block('src/total.mjs', '  return list.reduce(add, 0);', '  return list.reduce(sum, 0);'),
    ),
    // Resolvers see [meta]'s merge (VERSION 2, codename b) and quote [meta]'s instruction: matched first.
    edit('\\[rename\\][\\s\\S]*export const VERSION = 2;', RENAME + block('src/version.mjs', 'export const VERSION = 2;', 'export const VERSION = 3;')),
    edit("\\[total\\][\\s\\S]*export const CODENAME = 'b';", TOTAL + block('src/codename.mjs', "export const CODENAME = 'b';", "export const CODENAME = 'c';")),
    // The first runs, on the base.
    edit('\\[rename\\][\\s\\S]*export const VERSION = 1;', RENAME + block('src/version.mjs', 'export const VERSION = 1;', 'export const VERSION = 4;')),
    edit("\\[total\\][\\s\\S]*export const CODENAME = 'a';", TOTAL + block('src/codename.mjs', "export const CODENAME = 'a';", "export const CODENAME = 'd';")),
    edit(
      '\\[meta\\]',
      block('CHANGELOG.md', '# Changes', '# Changes\n\n- Release 2') +
        block('src/version.mjs', 'export const VERSION = 1;', 'export const VERSION = 2;') +
        block('src/codename.mjs', "export const CODENAME = 'a';", "export const CODENAME = 'b';"),
    ),
  ];
}
