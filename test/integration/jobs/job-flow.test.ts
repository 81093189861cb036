/**
 * The job flow over HTTP with the scripted model and real git: Architect → Director → Manager →
 * plan → pool → merge, with the journal written before the 202.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDemoRepo } from '../../../src/cli/demo.ts';
import { DEMO_MODULES, DEMO_TASK, demoCassette, documentedSource } from '../../../src/demo/demo-fixture.ts';
import { openJournal } from '../../../src/journal/journal.ts';
import type { CassetteEntry } from '../../../src/llm/providers/scripted-adapter.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { executingIntervals, getJson, largestOverlap, postJson, startScriptedTree, untilTerminal, type ScriptedTree } from './jobs-support.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';

const FILES = { 'lib/one.js': 'export const one = 1;\n', 'lib/two.js': 'export const two = 2;\n', 'README.md': '# fixture\n' };

/** A SEARCH/REPLACE edit entry: the subtask whose prompt contains `marker` edits `file`. */
function editEntry(marker: string, file: string, search: string, replace: string, extra: Partial<CassetteEntry> = {}): CassetteEntry {
  return { match: { purpose: 'edit', contains: marker }, reply: `${file}\n<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE\n`, usage: { input: 50, output: 10 }, ...extra };
}

function planEntry(task: string, subtasks: Array<{ instruction: string; files: string[] }>): CassetteEntry {
  return { match: { purpose: 'plan', contains: task }, reply: JSON.stringify({ subtasks }), usage: { input: 100, output: 40 } };
}

async function showFile(repo: string, ref: string, file: string): Promise<string> {
  return `${await gitOut(repo, 'show', `${ref}:${file}`)}\n`;
}

describe('a job over HTTP with the scripted model', () => {
  let tree: ScriptedTree | undefined;
  let repo: TempRepo | undefined;
  let scratch: string | undefined;

  afterEach(async () => {
    await tree?.close();
    await repo?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    tree = repo = scratch = undefined;
  });

  it('runs a 6-file job on at least 6 programmers at once and merges every edit into pas/job-<id>', async () => {
    tree = await startScriptedTree(demoCassette({ planDelayMs: 50, editDelayMs: 1200 }));
    scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-demo-repo-'));
    const demoRepo = await createDemoRepo(path.join(scratch, 'repo'));

    const accepted = await postJson(`${tree.url}/api/jobs`, { task: DEMO_TASK, lane: 'Code', files: DEMO_MODULES.map((m) => m.file), repo: demoRepo });
    expect(accepted.status).toBe(202);
    const jobId = accepted.body.job_id as string;
    const job = await untilTerminal(`${tree.url}/api/jobs/${jobId}`);

    expect(job.status).toBe('completed');
    expect(job.merged_branch).toBe(`pas/job-${jobId}`);
    expect(job.tasks).toHaveLength(6);
    expect(job.tasks.every((t: JsonAnswer) => t.status === 'completed' && t.merged)).toBe(true);
    // Tokens and cost summed over the plan and the six edits; the duration measured.
    const editTokens = job.tasks.reduce((n: number, t: JsonAnswer) => n + t.result.tokens.input, 0);
    expect(job.tokens.input).toBe(310 + editTokens);
    expect(job.cost_usd).toBe(0);
    expect(job.duration_ms).toBeGreaterThan(0);

    const intervals = executingIntervals(tree.records).filter((i) => i.jobId === jobId);
    expect(intervals).toHaveLength(6);
    const together = largestOverlap(intervals);
    expect(together.length).toBeGreaterThanOrEqual(6);
    expect(new Set(together.map((i) => i.programmerId)).size).toBe(together.length);

    for (const m of DEMO_MODULES) expect(await showFile(demoRepo, `pas/job-${jobId}`, m.file)).toBe(documentedSource(m));
    // The user's checkout is untouched.
    expect(await gitOut(demoRepo, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
    expect(await gitOut(demoRepo, 'status', '--porcelain')).toBe('');
  });

  it('answers 202 only after the job is in the journal on disk', async () => {
    // A plan that never comes keeps the job open: what is checked is the journal at the 202.
    tree = await startScriptedTree([{ match: { purpose: 'plan' }, reply: '{}', delay_ms: 60_000 }]);
    repo = await createTempRepo(FILES);
    const reader = openJournal(path.join(tree.dataDir, 'pas.db'));
    try {
      for (const url of [`${tree.url}/api/jobs`, `${tree.url}/agents/Dir-Code/submit`, `${tree.url}/agents/Mgr-Code-02/submit`]) {
        const res = await postJson(url, { task: `journal first via ${url}`, files: ['lib/one.js'], repo: repo.repo });
        expect(res.status).toBe(202);
        // A second connection sees it: committed to pas.db, not just held in memory.
        const stored = reader.getJob(res.body.job_id);
        expect(stored?.spec.task).toBe(`journal first via ${url}`);
        expect(stored?.spec.files).toEqual(['lib/one.js']);
        expect(['accepted', 'running']).toContain(stored?.status);
      }
    } finally {
      reader.close();
    }
  });

  it('takes jobs on /submit of a Director and of a Manager, on the gateway and on the agent port', async () => {
    tree = await startScriptedTree([
      planEntry('via the director', [{ instruction: 'Set one to 11 [d1].', files: ['lib/one.js'] }, { instruction: 'Set two to 22 [d2].', files: ['lib/two.js'] }]),
      planEntry('via the manager', [{ instruction: 'Set one to 111 [m1].', files: ['lib/one.js'] }]),
      editEntry('[d1]', 'lib/one.js', 'export const one = 1;', 'export const one = 11;'),
      editEntry('[d2]', 'lib/two.js', 'export const two = 2;', 'export const two = 22;'),
      editEntry('[m1]', 'lib/one.js', 'export const one = 1;', 'export const one = 111;'),
    ]);
    repo = await createTempRepo(FILES);

    const viaDirector = await postJson(`${tree.url}/agents/Dir-Docs/submit`, { task: 'Bump the constants via the director', files: ['lib/one.js', 'lib/two.js'], repo: repo.repo });
    const managerPort = tree.gateway!.agentPorts.get('Mgr-Code-03')!;
    const viaManager = await postJson(`http://127.0.0.1:${managerPort}/submit`, { task: 'Bump one via the manager', files: ['lib/one.js'], repo: repo.repo });
    expect(viaDirector.status).toBe(202);
    expect(viaManager.status).toBe(202);
    expect(viaManager.body.status_url).toBe(`/status/${viaManager.body.job_id}`);

    const d = await untilTerminal(`${tree.url}/agents/Dir-Docs/status/${viaDirector.body.job_id}`);
    const m = await untilTerminal(`http://127.0.0.1:${managerPort}/status/${viaManager.body.job_id}`);
    expect([d.status, d.lane, d.manager_id]).toEqual(['completed', 'Docs', 'Mgr-Docs-01']);
    expect([m.status, m.lane, m.manager_id]).toEqual(['completed', 'Code', 'Mgr-Code-03']);
    expect(await showFile(repo.repo, `pas/job-${d.job_id}`, 'lib/one.js')).toBe('export const one = 11;\n');
    expect(await showFile(repo.repo, `pas/job-${d.job_id}`, 'lib/two.js')).toBe('export const two = 22;\n');
    expect(await showFile(repo.repo, `pas/job-${m.job_id}`, 'lib/one.js')).toBe('export const one = 111;\n');
  });

  it('asks the Architect LLM for the lane when the job names none, and routes it there', async () => {
    tree = await startScriptedTree([
      { match: { purpose: 'route', contains: 'Write the changelog' }, reply: 'Docs.', usage: { input: 30, output: 1 } },
      planEntry('Write the changelog', [{ instruction: 'Add a changelog line [c1].', files: ['README.md'] }]),
      editEntry('[c1]', 'README.md', '# fixture', '# fixture\n\n## Changelog\n- first release'),
    ]);
    repo = await createTempRepo(FILES);

    const res = await postJson(`${tree.url}/api/jobs`, { task: 'Write the changelog', files: ['README.md'], repo: repo.repo });
    const job = await untilTerminal(`${tree.url}/api/jobs/${res.body.job_id}`);

    expect(job.status).toBe('completed');
    expect(job.lane).toBe('Docs');
    expect(job.manager_id).toBe('Mgr-Docs-01');
    const route = tree.scripted.calls.filter((c) => c.purpose === 'route');
    expect(route.map((c) => c.agent)).toEqual(['Architect']);
    expect(await showFile(repo.repo, `pas/job-${job.job_id}`, 'README.md')).toBe('# fixture\n\n## Changelog\n- first release\n');
  });

  it('falls back to one subtask per file when the plan reply is unusable', async () => {
    const task = 'Bump every constant';
    tree = await startScriptedTree([
      // Gives lib/one.js to two subtasks: parsePlan refuses it.
      planEntry(task, [{ instruction: 'a', files: ['lib/one.js'] }, { instruction: 'b', files: ['lib/one.js', 'lib/two.js'] }]),
      editEntry('This subtask covers only lib/one.js.', 'lib/one.js', 'export const one = 1;', 'export const one = 10;'),
      editEntry('This subtask covers only lib/two.js.', 'lib/two.js', 'export const two = 2;', 'export const two = 20;'),
    ]);
    repo = await createTempRepo(FILES);

    const res = await postJson(`${tree.url}/api/jobs`, { task, lane: 'Code', files: ['lib/one.js', 'lib/two.js'], repo: repo.repo });
    const job = await untilTerminal(`${tree.url}/api/jobs/${res.body.job_id}`);

    expect(job.status).toBe('completed');
    expect(job.tasks.map((t: JsonAnswer) => t.files)).toEqual([['lib/one.js'], ['lib/two.js']]);
    expect(job.tasks.map((t: JsonAnswer) => t.task_id)).toEqual([`${job.job_id}-t1`, `${job.job_id}-t2`]);
    expect(await showFile(repo.repo, `pas/job-${job.job_id}`, 'lib/one.js')).toBe('export const one = 10;\n');
    expect(await showFile(repo.repo, `pas/job-${job.job_id}`, 'lib/two.js')).toBe('export const two = 20;\n');
  });

  it('answers 400 naming the field for a job body without a task, and 404 for an unknown job', async () => {
    tree = await startScriptedTree([]);
    const bad = await postJson(`${tree.url}/api/jobs`, { lane: 'Code' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.error)).toContain('task');
    const missing = await getJson(`${tree.url}/api/jobs/nope123`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('PAS_ERR_JOB_NOT_FOUND');
    expect(tree.runtime.journal.countJobs()).toBe(0);
  });
});
