/**
 * Branches merge as their subtasks finish (the merge queue), so a conflict and a failing verify of
 * the merged branch surface while another subtask still runs. The model is scripted; the slow
 * subtask's reply is held by the test until it has seen what it checks (no wall clock decides the
 * order). Real runtime, git, `node --test` and /ws feed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CassetteEntry } from '../../../src/llm/providers/scripted-adapter.ts';
import type { MergeRecord } from '../../../src/runtime/merge-board.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';
import { openFeed, type FeedClient } from '../gateway/gateway-helpers.ts';
import { getJson, HELD, heldReplies, postJson, startScriptedTree, until, untilTerminal, type HeldReplies, type ScriptedTree } from './jobs-support.ts';

const block = (file: string, search: string, replace: string) => `${file}\n<<<<<<< SEARCH\n${search}${search ? '\n' : ''}=======\n${replace}\n>>>>>>> REPLACE\n`;

function plan(task: string, subtasks: Array<{ tag: string; files: string[]; creates?: string[] }>): CassetteEntry {
  return {
    match: { purpose: 'plan', contains: task },
    reply: JSON.stringify({ subtasks: subtasks.map((s) => ({ instruction: `Do part ${s.tag} [${s.tag}]`, files: s.files, ...(s.creates ? { creates: s.creates } : {}) })) }),
  };
}

/** The slow subtask: it creates src/notes.mjs once the test lets it go. */
const NOTES: CassetteEntry = { match: { purpose: 'edit', contains: '[notes]' }, reply: block('src/notes.mjs', '', 'export const notes = 1;'), delay_ms: HELD + 9 };

describe('the merge queue of a job', { timeout: 120_000 }, () => {
  let tree: ScriptedTree | undefined;
  let repo: TempRepo | undefined;
  let feed: FeedClient | undefined;
  let held: HeldReplies;
  beforeEach(() => {
    held = heldReplies();
  });
  afterEach(async () => {
    feed?.ws.terminate();
    await tree?.close();
    await repo?.cleanup();
    tree = repo = feed = undefined;
  });

  const merges = () => feed!.messages.filter((m) => (m as { type: string }).type === 'merge') as unknown as MergeRecord[];
  const step = (jobId: string, taskId: string, state: string) => merges().findIndex((m) => m.taskId === `${jobId}-${taskId}` && m.state === state);
  const taskStatus = async (jobId: string, taskId: string) =>
    ((await getJson(`${tree!.url}/api/jobs/${jobId}`)).body.tasks as JsonAnswer[]).find((t) => t.task_id === `${jobId}-${taskId}`)?.status;

  it('resolves a conflict on the job branch while another subtask is still running, and merges that one when it finishes', async () => {
    const task = 'Release a and b, and write notes';
    const version = (from: number, to: number) => block('src/version.js', `export const VERSION = ${from};`, `export const VERSION = ${to};`);
    tree = await startScriptedTree(
      [
        plan(task, [{ tag: 'a', files: ['src/a.js'] }, { tag: 'b', files: ['src/b.js'] }, { tag: 'notes', files: ['src/notes.mjs'], creates: ['src/notes.mjs'] }]),
        // b's resolver: shown both sides of the VERSION hunk on top of a's merge.
        { match: { purpose: 'edit', regex: 'Resolve a merge conflict[\\s\\S]*<<<<<<< \\S+\\nexport const VERSION = 2;\\n=======\\nexport const VERSION = 3;' }, reply: block('src/b.js', 'export const b = 1;', 'export const b = 2;') + version(2, 3) },
        { match: { purpose: 'edit', contains: '[a]' }, reply: block('src/a.js', 'export const a = 1;', 'export const a = 2;') + version(1, 2) },
        { match: { purpose: 'edit', contains: '[b]' }, reply: block('src/b.js', 'export const b = 1;', 'export const b = 2;') + version(1, 3), delay_ms: HELD + 1, times: 1 },
        NOTES,
      ],
      {},
      held,
    );
    repo = await createTempRepo({ 'src/a.js': 'export const a = 1;\n', 'src/b.js': 'export const b = 1;\n', 'src/version.js': '// the release\nexport const VERSION = 1;\n' });
    feed = await openFeed(tree.url);

    const res = await postJson(`${tree.url}/api/jobs`, { task, lane: 'Code', repo: repo.repo });
    const id = res.body.job_id as string;
    await until(() => step(id, 't1', 'merged') >= 0);
    held.release(HELD + 1);
    // b conflicts with a's merge, its resolver runs on the job branch and merges — notes still runs.
    await until(() => step(id, 't2-r1', 'merged') >= 0);
    expect(await taskStatus(id, 't3')).toBe('running');
    expect(step(id, 't2', 'conflict')).toBeGreaterThan(step(id, 't1', 'merged'));
    expect(merges()[step(id, 't2', 'conflict')]).toMatchObject({ v: 1, type: 'merge', role: 'manager', jobId: id, files: ['src/version.js'] });
    expect(step(id, 't3', 'queued')).toBe(-1);
    expect(await gitOut(repo.repo, 'show', `pas/job-${id}:src/version.js`)).toBe('// the release\nexport const VERSION = 3;');

    held.release(HELD + 9);
    const job = await untilTerminal(`${tree.url}/api/jobs/${id}`);
    expect(job.status).toBe('completed');
    expect(step(id, 't3', 'merged')).toBeGreaterThan(step(id, 't2-r1', 'merged'));
    // The merge queue in completion order, as GET /api/jobs/{id} (and so `pas status JOB`) shows it.
    expect(job.merges.map((m: JsonAnswer) => [m.task_id, m.state])).toEqual([
      [`${id}-t1`, 'merged'],
      [`${id}-t2`, 'conflict'],
      [`${id}-t2-r1`, 'merged'],
      [`${id}-t3`, 'merged'],
    ]);
    // The feed's seq has no gaps with the merge messages among the transitions.
    const seqs = feed.messages.slice(1).map((m) => (m as { seq: number }).seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
  });

  it('surfaces a failing verify of the merged branch while another subtask is still running, and starts the fix-up once it has merged', async () => {
    const task = 'Rename add to sum, add total(), and write notes';
    const FILES = {
      'src/math.mjs': 'export function add(a, b) {\n  return a + b;\n}\n',
      'test/math.test.mjs': "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { add } from '../src/math.mjs';\ntest('adds', () => assert.equal(add(2, 3), 5));\n",
    };
    tree = await startScriptedTree(
      [
        plan(task, [
          { tag: 'rename', files: ['src/math.mjs', 'test/math.test.mjs'] },
          { tag: 'total', files: ['src/total.mjs', 'test/total.test.mjs'], creates: ['src/total.mjs', 'test/total.test.mjs'] },
          { tag: 'notes', files: ['src/notes.mjs'], creates: ['src/notes.mjs'] },
        ]),
        // The fix-up is shown the failure of the merged branch.
        {
          match: { purpose: 'edit', regex: "Fix-up round 1 of job[\\s\\S]*does not provide an export named 'add'" },
          reply: block('src/total.mjs', "import { add } from './math.mjs';", "import { sum } from './math.mjs';") + block('src/total.mjs', '  return list.reduce(add, 0);', '  return list.reduce(sum, 0);'),
          times: 1,
        },
        {
          match: { purpose: 'edit', contains: '[rename]' },
          reply: block('src/math.mjs', 'export function add(a, b) {', 'export function sum(a, b) {') + block('test/math.test.mjs', "import { add } from '../src/math.mjs';\ntest('adds', () => assert.equal(add(2, 3), 5));", "import { sum } from '../src/math.mjs';\ntest('sums', () => assert.equal(sum(2, 3), 5));"),
        },
        // Written against the base, where add still exists: passes alone, fails once the rename is merged.
        {
          match: { purpose: 'edit', contains: '[total]' },
          reply:
            block('src/total.mjs', '', "import { add } from './math.mjs';\n\nexport function total(list) {\n  return list.reduce(add, 0);\n}") +
            block('test/total.test.mjs', '', "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { total } from '../src/total.mjs';\ntest('totals', () => assert.equal(total([1, 2, 3]), 6));"),
        },
        NOTES,
      ],
      {},
      held,
    );
    repo = await createTempRepo(FILES);
    feed = await openFeed(tree.url);

    const res = await postJson(`${tree.url}/api/jobs`, { task, lane: 'Code', repo: repo.repo, verify: ['node', '--test', 'test/'] });
    const id = res.body.job_id as string;
    // Both merge and the second verify fails, while notes still runs: surfaced, no fix-up yet.
    await until(() => merges().some((m) => m.state === 'verify_failed'));
    const failed = merges().find((m) => m.state === 'verify_failed')!;
    expect(failed).toMatchObject({ jobId: id, exitCode: 1 });
    expect(await taskStatus(id, 't3')).toBe('running');
    expect(((await getJson(`${tree.url}/api/jobs/${id}`)).body.tasks as JsonAnswer[]).map((t) => t.task_id)).not.toContain(`${id}-fix1`);

    held.release(HELD + 9);
    const job = await untilTerminal(`${tree.url}/api/jobs/${id}`);
    expect(job.error).toBeNull();
    expect(job.status).toBe('completed');
    expect(job.verification).toMatchObject({ passed: true, fixup_rounds: 1 });
    // notes merged (verify still failing), then the fix-up ran on that head, merged and passed.
    expect(step(id, 't3', 'verify_failed')).toBeGreaterThan(merges().indexOf(failed));
    expect(step(id, 'fix1', 'verified')).toBeGreaterThan(step(id, 't3', 'verify_failed'));
    expect(await gitOut(repo.repo, 'show', `pas/job-${id}:src/notes.mjs`)).toBe('export const notes = 1;');
  });
});
