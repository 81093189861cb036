/**
 * A plan whose subtasks each own their files but whose edits also touch one shared line: the
 * first merges, the others conflict, each conflicting subtask is re-run once on top of what is
 * merged as a resolver (shown both sides of each conflicting hunk and the merged subtasks'
 * instructions), and a conflict that remains is reported with its files.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CassetteEntry } from '../../../src/llm/providers/scripted-adapter.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { HELD, heldReplies, postJson, startScriptedTree, until, untilTerminal, type ScriptedTree } from './jobs-support.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';

const FILES = {
  'src/a.js': 'export const a = 1;\n',
  'src/b.js': 'export const b = 1;\n',
  'src/c.js': 'export const c = 1;\n',
  'src/version.js': '// the release\nexport const VERSION = 1;\n',
};

function block(file: string, search: string, replace: string): string {
  return `${file}\n<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE\n`;
}

/** Subtask `name` edits its own file and sets VERSION from `from` to `to` (once, or every time). */
function edit(name: string, from: number, to: number, times?: number, held?: number): CassetteEntry {
  return {
    match: { purpose: 'edit', contains: `[${name}]` },
    reply: block(`src/${name}.js`, `export const ${name} = 1;`, `export const ${name} = 2;`) + block('src/version.js', `export const VERSION = ${from};`, `export const VERSION = ${to};`),
    usage: { input: 40, output: 12 },
    ...(times ? { times } : {}),
    ...(held ? { delay_ms: held } : {}),
  };
}

/**
 * The re-run of a conflicting subtask `name` as a resolver: only a prompt that shows both sides of
 * the VERSION hunk (merged `from`, this subtask's `mine`) and the merged subtask `other`'s
 * instruction gets the reply, which edits the merged head.
 */
function resolve(name: string, other: string, from: number, mine: number, to: number, held?: number): CassetteEntry {
  return {
    match: {
      purpose: 'edit',
      regex: `Resolve a merge conflict[\\s\\S]*This subtask's instruction: Set ${name} to 2[\\s\\S]*- \\S+: Set ${other} to 2[\\s\\S]*<<<<<<< \\S+\\nexport const VERSION = ${from};\\n=======\\nexport const VERSION = ${mine};\\n>>>>>>> pas/`,
    },
    reply: block(`src/${name}.js`, `export const ${name} = 1;`, `export const ${name} = 2;`) + block('src/version.js', `export const VERSION = ${from};`, `export const VERSION = ${to};`),
    usage: { input: 40, output: 12 },
    ...(held ? { delay_ms: held } : {}),
  };
}

function plan(task: string, names: string[]): CassetteEntry {
  return {
    match: { purpose: 'plan', contains: task },
    reply: JSON.stringify({ subtasks: names.map((n) => ({ instruction: `Set ${n} to 2 and bump the release [${n}].`, files: [`src/${n}.js`] })) }),
    usage: { input: 90, output: 30 },
  };
}

/** The job's task branches left in the repository, sorted. */
async function taskBranches(repo: string, jobId: string): Promise<string[]> {
  const out = await gitOut(repo, 'for-each-ref', '--format=%(refname:short)', `refs/heads/pas/${jobId}/`);
  return out.split('\n').filter(Boolean).sort();
}

async function show(repo: string, ref: string, file: string): Promise<string> {
  return gitOut(repo, 'show', `${ref}:${file}`);
}

describe('merge conflicts in a job', () => {
  let tree: ScriptedTree | undefined;
  let repo: TempRepo | undefined;
  let held = heldReplies();
  beforeEach(() => {
    held = heldReplies();
  });

  /** Waits until the job's merge queue shows `taskId` in `state` (the runtime's merge board). */
  const mergeStep = (jobId: string, taskId: string, state: string) =>
    until(() => tree!.runtime.merges.ofJob(jobId).some((m) => m.taskId === `${jobId}-${taskId}` && m.state === state));

  afterEach(async () => {
    await tree?.close();
    await repo?.cleanup();
    tree = repo = undefined;
  });

  it('re-runs a conflicting subtask once on top of what is merged as a resolver shown both sides of the hunk, and the job completes', async () => {
    const task = 'Release with a and b';
    tree = await startScriptedTree([
      plan(task, ['a', 'b']),
      // b's first edit conflicts with a's on the VERSION line; its re-run is a resolver that starts
      // from a's merge and is shown both sides of the hunk and a's instruction.
      resolve('b', 'a', 2, 3, 3),
      edit('a', 1, 2),
      // b finishes once a is merged (the test lets it go)
      edit('b', 1, 3, 1, HELD + 1),
    ], {}, held);
    repo = await createTempRepo(FILES);

    const res = await postJson(`${tree.url}/api/jobs`, { task, lane: 'Code', files: ['src/a.js', 'src/b.js'], repo: repo.repo });
    await mergeStep(res.body.job_id, 't1', 'merged');
    held.release(HELD + 1);
    const job = await untilTerminal(`${tree.url}/api/jobs/${res.body.job_id}`);
    const id = job.job_id as string;

    expect(job.status).toBe('completed');
    expect(job.conflicts).toEqual([]);
    expect(job.tasks.map((t: JsonAnswer) => [t.task_id, t.status, t.merged])).toEqual([
      [`${id}-t1`, 'completed', true],
      [`${id}-t2`, 'completed', false],
      [`${id}-t2-r1`, 'completed', true],
    ]);
    const branch = `pas/job-${id}`;
    expect(await show(repo.repo, branch, 'src/a.js')).toBe('export const a = 2;');
    expect(await show(repo.repo, branch, 'src/b.js')).toBe('export const b = 2;');
    expect(await show(repo.repo, branch, 'src/version.js')).toBe('// the release\nexport const VERSION = 3;');
    // The re-run was based on the job branch after a's merge.
    const t1Commit = job.tasks[0].result.commit as string;
    const rerunCommit = job.tasks[2].result.commit as string;
    expect(await gitOut(repo.repo, 'merge-base', '--is-ancestor', t1Commit, rerunCommit).then(() => true)).toBe(true);
    // Merged task branches are deleted (the job branch holds their work); the conflicting original is kept.
    expect(await taskBranches(repo.repo, id)).toEqual([`pas/${id}/${id}-t2`]);
  });

  it('reports the files of a conflict that remains after the re-run, and the job ends partial', async () => {
    const task = 'Release with a, b and c';
    tree = await startScriptedTree([
      plan(task, ['a', 'b', 'c']),
      // b and c both conflict with a; both re-run as resolvers on top of a's merge, and then c's
      // resolution conflicts with b's: re-run once only, so that conflict is reported.
      // The test lets them finish in this order: a merges; b, then c conflict; b's resolver merges; c's conflicts.
      resolve('b', 'a', 2, 3, 3, HELD + 3),
      resolve('c', 'a', 2, 4, 4, HELD + 4),
      edit('a', 1, 2),
      edit('b', 1, 3, 1, HELD + 1),
      edit('c', 1, 4, 1, HELD + 2),
    ], {}, held);
    repo = await createTempRepo(FILES);

    const res = await postJson(`${tree.url}/api/jobs`, { task, lane: 'Code', files: ['src/a.js', 'src/b.js', 'src/c.js'], repo: repo.repo });
    const jobId = res.body.job_id as string;
    await mergeStep(jobId, 't1', 'merged');
    held.release(HELD + 1);
    await mergeStep(jobId, 't2', 'conflict');
    held.release(HELD + 2);
    await mergeStep(jobId, 't3', 'conflict');
    held.release(HELD + 3);
    await mergeStep(jobId, 't2-r1', 'merged');
    held.release(HELD + 4);
    const job = await untilTerminal(`${tree.url}/api/jobs/${res.body.job_id}`);
    const id = job.job_id as string;

    expect(job.status).toBe('partial');
    expect(job.conflicts).toEqual(['src/version.js']);
    const byId = Object.fromEntries(job.tasks.map((t: JsonAnswer) => [t.task_id, t]));
    expect(Object.keys(byId).sort()).toEqual([`${id}-t1`, `${id}-t2`, `${id}-t2-r1`, `${id}-t3`, `${id}-t3-r1`]);
    expect(byId[`${id}-t1`].merged).toBe(true);
    expect(byId[`${id}-t2-r1`].merged).toBe(true);
    expect(byId[`${id}-t3-r1`].merged).toBe(false);
    // Exactly one re-run per conflicting subtask: no -r2.
    expect(tree.scripted.calls.filter((c) => c.purpose === 'edit')).toHaveLength(5);

    const branch = `pas/job-${id}`;
    expect(await show(repo.repo, branch, 'src/a.js')).toBe('export const a = 2;');
    expect(await show(repo.repo, branch, 'src/b.js')).toBe('export const b = 2;');
    expect(await show(repo.repo, branch, 'src/c.js')).toBe('export const c = 1;');
    expect(await show(repo.repo, branch, 'src/version.js')).toBe('// the release\nexport const VERSION = 3;');
    // The outcome keeps every subtask's final result (a re-run in place of its original).
    const outcome = tree.runtime.getJob(id)!.outcome!;
    expect(outcome.tasks.map((t) => t.taskId)).toEqual([`${id}-t1`, `${id}-t2-r1`, `${id}-t3-r1`]);
    expect(outcome.status).toBe('partial');
    // Only the branches whose work is not in the job branch are kept.
    expect(await taskBranches(repo.repo, id)).toEqual([`pas/${id}/${id}-t2`, `pas/${id}/${id}-t3`, `pas/${id}/${id}-t3-r1`]);
  });
});
