/**
 * A job's `executor` (CONTRACT §8's names) runs every one of its subtasks, conflict resolvers and
 * fix-ups included, whatever executor the programmers are configured with: here every programmer
 * is configured for aider with no aider installed, so only the job's `native` gets work done.
 * Unknown names are refused with 400 naming the field, on the API and on an agent's port.
 */
import { describe, expect, it } from 'vitest';
import type { JsonAnswer } from '../../support/json-answer.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { oneReleaseProgrammer, resolverFixupCassette, RF_FILES, RF_TASK, RF_VERIFY, RF_WANT } from '../../support/resolver-fixup-job.ts';
import { postJson, scriptedJobRig, untilTerminal } from './jobs-support.ts';

describe('a job that names its executor', () => {
  const rig = scriptedJobRig();
  const boot = () =>
    rig.start(resolverFixupCassette(), RF_FILES, (cfg) =>
      cfg.edit('programmer_pool.yaml', (doc) => {
        doc.setIn(['defaults', 'executor'], 'aider');
        doc.setIn(['aider', 'binary'], '/nonexistent/pas-test-aider');
        oneReleaseProgrammer(doc);
      }),
    );

  it("runs every subtask, resolver and fix-up with the job's executor, not the programmers' own, and shows it", async () => {
    const { tree, repo } = await boot();
    const res = await postJson(`${tree.url}/api/jobs`, { task: RF_TASK, lane: 'Code', repo: repo.repo, verify: RF_VERIFY, executor: 'native' });
    expect(res.status).toBe(202);
    const job = await untilTerminal(`${tree.url}/api/jobs/${res.body.job_id}`);
    const id = job.job_id as string;

    expect(job.error).toBeNull();
    expect(job).toMatchObject({ status: 'completed', executor: 'native', verification: { passed: true, fixup_rounds: 1 } });
    // By id: both resolvers are created by the same merge.
    const tasks = [...job.tasks].sort((a: JsonAnswer, b: JsonAnswer) => (a.task_id < b.task_id ? -1 : 1));
    expect(tasks.map((t: JsonAnswer) => [t.task_id, t.status, t.merged, t.executor])).toEqual([
      [`${id}-fix1`, 'completed', true, 'native'],
      [`${id}-t1`, 'completed', true, 'native'],
      [`${id}-t2`, 'completed', false, 'native'],
      [`${id}-t2-r1`, 'completed', true, 'native'],
      [`${id}-t3`, 'completed', false, 'native'],
      [`${id}-t3-r1`, 'completed', true, 'native'],
    ]);
    // The journal holds it on the job and on each subtask (a restart resumes with it).
    expect(tree.runtime.journal.getJob(id)!.spec.executor).toBe('native');
    expect(tree.runtime.journal.tasksForJob(id).map((t) => t.spec.executor)).toEqual(Array(6).fill('native'));
    for (const [file, text] of Object.entries(RF_WANT)) expect(await gitOut(repo.repo, 'show', `pas/job-${id}:${file}`)).toBe(text);
  }, 120_000);

  it("without an executor each programmer's own runs (here aider, not installed), and an unknown name is a 400 naming the field", async () => {
    const { tree, repo } = await boot();
    const res = await postJson(`${tree.url}/api/jobs`, { task: 'Tidy math', lane: 'Code', repo: repo.repo, files: ['src/math.mjs'] });
    const job = await untilTerminal(`${tree.url}/api/jobs/${res.body.job_id}`);
    expect(job.executor).toBeNull();
    expect(job.tasks.map((t: JsonAnswer) => [t.executor, t.error?.code])).toEqual([['aider', 'PAS_ERR_AIDER_NOT_FOUND']]);

    for (const url of [`${tree.url}/api/jobs`, `${tree.url}/agents/Architect/submit`, `${tree.url}/agents/Mgr-Code-01/submit`]) {
      const refused = await postJson(url, { task: 'Tidy math', lane: 'Code', repo: repo.repo, executor: 'cursor' });
      expect({ url, status: refused.status, code: refused.body.error?.code }).toEqual({ url, status: 400, code: 'PAS_ERR_BAD_REQUEST' });
      expect(JSON.stringify(refused.body.error)).toContain('executor');
    }
    expect(tree.runtime.journal.countJobs()).toBe(1);
  }, 60_000);
});
