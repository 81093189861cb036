/**
 * A job's verify command runs on the merged job branch. Two subtasks that each pass the job's
 * tests on their own can break them together (one renames a function the other's new module
 * imports): the Manager plans a fix-up subtask on the merged branch with the failing output, and
 * the job completes only once the merged branch passes; otherwise it ends partial with
 * PAS_ERR_VERIFY_FAILED and the last output. Real git, real `node --test`, scripted model.
 */
import type { JsonAnswer } from '../../support/json-answer.ts';
import { describe, expect, it } from 'vitest';
import type { CassetteEntry } from '../../../src/llm/providers/scripted-adapter.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { postJson, scriptedJobRig, untilTerminal } from './jobs-support.ts';

const FILES = {
  'src/math.mjs': 'export function add(a, b) {\n  return a + b;\n}\n',
  'test/math.test.mjs': "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { add } from '../src/math.mjs';\ntest('adds', () => assert.equal(add(2, 3), 5));\n",
};
const TASK = 'Rename add to sum, and add a total() helper over lists';

const block = (file: string, search: string, replace: string) => `${file}\n<<<<<<< SEARCH\n${search}${search ? '\n' : ''}=======\n${replace}\n>>>>>>> REPLACE\n`;

const PLAN: CassetteEntry = {
  match: { purpose: 'plan', contains: TASK },
  reply: JSON.stringify({
    subtasks: [
      { instruction: 'Rename add to sum everywhere [rename]', files: ['src/math.mjs', 'test/math.test.mjs'] },
      { instruction: 'Add total(list) in src/total.mjs built on the adder, with a test [total]', files: ['src/total.mjs', 'test/total.test.mjs'], creates: ['src/total.mjs', 'test/total.test.mjs'] },
    ],
  }),
};
const RENAME: CassetteEntry = {
  match: { purpose: 'edit', contains: '[rename]' },
  reply: block('src/math.mjs', 'export function add(a, b) {', 'export function sum(a, b) {') + block('test/math.test.mjs', "import { add } from '../src/math.mjs';\ntest('adds', () => assert.equal(add(2, 3), 5));", "import { sum } from '../src/math.mjs';\ntest('sums', () => assert.equal(sum(2, 3), 5));"),
  usage: { input: 50, output: 20 },
};
// Written against the base, where add still exists: passes alone, breaks once the rename is merged.
const TOTAL: CassetteEntry = {
  match: { purpose: 'edit', contains: '[total]' },
  reply:
    block('src/total.mjs', '', "import { add } from './math.mjs';\n\nexport function total(list) {\n  return list.reduce(add, 0);\n}") +
    block('test/total.test.mjs', '', "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { total } from '../src/total.mjs';\ntest('totals', () => assert.equal(total([1, 2, 3]), 6));"),
  usage: { input: 60, output: 30 },
};
/** The fix-up sees the failure (the missing export) and the merged total.mjs. */
const FIXUP: CassetteEntry = {
  match: { purpose: 'edit', regex: "Fix-up round 1 of job[\\s\\S]*does not provide an export named 'add'[\\s\\S]*src/total.mjs\\n```\\nimport \\{ add \\}" },
  reply: block('src/total.mjs', "import { add } from './math.mjs';", "import { sum } from './math.mjs';") + block('src/total.mjs', '  return list.reduce(add, 0);', '  return list.reduce(sum, 0);'),
  usage: { input: 300, output: 25 },
  times: 1,
};
const WRONG_FIXUP: CassetteEntry = {
  match: { purpose: 'edit', contains: 'Fix-up round 1 of job' },
  reply: block('src/total.mjs', '  return list.reduce(add, 0);', '  return list.reduce((a, b) => a + b, 0);'),
  times: 1,
};

describe('verify on the merged job branch', { timeout: 90_000 }, () => {
  const rig = scriptedJobRig();

  it('plans a fix-up on the merged branch with the failing output, and completes once the merged branch passes', async () => {
    const { tree, repo } = await rig.start([PLAN, FIXUP, RENAME, TOTAL], FILES);
    const res = await postJson(`${tree.url}/api/jobs`, { task: TASK, lane: 'Code', repo: repo.repo, verify: ['node', '--test', 'test/'] });
    expect(res.status).toBe(202);
    const job = await untilTerminal(`${tree.url}/api/jobs/${res.body.job_id}`);
    const id = job.job_id as string;

    expect(job.error).toBeNull();
    expect(job.status).toBe('completed');
    expect(job.verification).toMatchObject({ command: 'node-test', passed: true, exit_code: 0, fixup_rounds: 1 });
    expect(job.tasks.map((t: JsonAnswer) => [t.task_id, t.status, t.merged])).toEqual([
      [`${id}-t1`, 'completed', true],
      [`${id}-t2`, 'completed', true],
      [`${id}-fix1`, 'completed', true],
    ]);
    const branch = `pas/job-${id}`;
    expect(await gitOut(repo.repo, 'show', `${branch}:src/total.mjs`)).toContain("import { sum } from './math.mjs';");
    expect(job.verification.head).toBe(await gitOut(repo.repo, 'rev-parse', branch));
    // The fix-up started from the merged head of both subtasks.
    const t1 = job.tasks[0].result.commit as string;
    const t2 = job.tasks[1].result.commit as string;
    const fix = job.tasks[2].result.commit as string;
    for (const c of [t1, t2]) await gitOut(repo.repo, 'merge-base', '--is-ancestor', c, fix);
    expect(tree.scripted.calls.filter((c) => c.purpose === 'edit')).toHaveLength(3);
  });

  it("runs the lane's default verify when the job names none, and ends partial with PAS_ERR_VERIFY_FAILED and the last output after fixup_rounds", async () => {
    const { tree, repo } = await rig.start([PLAN, WRONG_FIXUP, RENAME, TOTAL], FILES, (cfg) => {
      cfg.edit('pas.yaml', (doc) => doc.setIn(['verify', 'lanes'], doc.createNode({ Code: ['node', '--test', 'test/'] })));
      cfg.edit('programmer_pool.yaml', (doc) => doc.setIn(['defaults', 'verify_rounds'], 1));
    });
    const res = await postJson(`${tree.url}/api/jobs`, { task: TASK, lane: 'Code', repo: repo.repo });
    const job = await untilTerminal(`${tree.url}/api/jobs/${res.body.job_id}`);
    const id = job.job_id as string;

    expect(job.status).toBe('partial');
    expect(job.error).toMatchObject({ code: 'PAS_ERR_VERIFY_FAILED', details: { command: 'node-test', exitCode: 1, fixups: 1 } });
    expect(job.error.details.output).toContain("does not provide an export named 'add'");
    expect(job.error.message).toContain('after 1 fix-up round');
    expect(job.verification).toMatchObject({ passed: false, exit_code: 1, fixup_rounds: 1 });
    // The fix-up ran its own verify (the lane's command), failed it, and was not merged.
    const fix = job.tasks.find((t: JsonAnswer) => t.task_id === `${id}-fix1`);
    expect(fix).toMatchObject({ status: 'failed', merged: false, error: { code: 'PAS_ERR_VERIFY_FAILED' } });
    expect(job.verification.head).toBe(await gitOut(repo.repo, 'rev-parse', `pas/job-${id}`));
  });
});
