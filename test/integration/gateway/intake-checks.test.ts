/**
 * Input checked at the door: what would fail later (a NUL or an over-long task, a file name no
 * editor can name, a repository that is missing, not git, a subfolder or empty, an id git refuses
 * in a branch name, a lane that is not the agent's own, a verify command the allowlist refuses)
 * gets 400 naming the field before anything is accepted, on the gateway and on the agents' own
 * ports; files that do not exist yet are accepted with a note that they will be created.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTempRepo, gitOut } from '../../support/git-fixtures.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import type { TestTree } from '../../support/test-tree.ts';
import { http, useCleanup, type HttpAnswer } from './gateway-helpers.ts';

function expectRefused(answer: HttpAnswer, field: string, what: string): void {
  expect(answer.status, `${what}: ${answer.text}`).toBe(400);
  expect(answer.body.error.code, what).toBe('PAS_ERR_BAD_REQUEST');
  expect(answer.body.error.details.field, what).toBe(field);
  expect(answer.body.error.message, what).toContain(field);
}

describe('input checked at the door', () => {
  const cleanup = useCleanup();
  const agentUrl = (tree: TestTree, id: string) => `http://127.0.0.1:${tree.gateway!.agentPorts.get(id)}`;
  const journaled = (tree: TestTree) => tree.runtime.journal.countJobs();

  it('refuses a NUL in the task, a task over 100,000 bytes (50k emoji) and bad file names with 400, accepting nothing', async () => {
    const tree = await cleanup.tree({ services: inProcessServices() });
    const prog = agentUrl(tree, 'Prog-001');
    const emoji = '😀'.repeat(50_000); // 50,000 characters, 200,000 bytes
    for (const [url, body, field] of [
      [`${tree.url}/api/jobs`, { task: 'add\u0000docs' }, 'task'],
      [`${agentUrl(tree, 'Dir-Code')}/submit`, { task: 'x\u0000' }, 'task'],
      [`${prog}/execute`, { instruction: 'edit\u0000', files: ['a.txt'] }, 'instruction'],
      [`${prog}/aider/edit`, { message: 'edit\u0000', files: ['a.txt'] }, 'message'],
      [`${tree.url}/api/jobs`, { task: emoji }, 'task'],
      [`${prog}/execute`, { instruction: emoji, files: ['a.txt'] }, 'instruction'],
      [`${tree.url}/api/jobs`, { task: 'x', files: ['my notes.md'] }, 'files[0]'],
      [`${tree.url}/api/jobs`, { task: 'x', files: ['ok.md', 'tab\there.md'] }, 'files[1]'],
      [`${tree.url}/api/jobs`, { task: 'x', files: [`src/${'a'.repeat(256)}.js`] }, 'files[0]'],
      [`${tree.url}/api/jobs`, { task: 'x', files: [`${'é'.repeat(128)}.md`] }, 'files[0]'], // 256 bytes
      [`${prog}/execute`, { instruction: 'x', files: ['a b.txt'] }, 'files[0]'],
    ] as const) {
      expectRefused(await http(url, { body }), field, `${url} ${JSON.stringify(body).slice(0, 60)}`);
    }
    expect(journaled(tree)).toBe(0);
    // A long task within the byte bound is accepted.
    expect((await http(`${tree.url}/api/jobs`, { body: { task: '😀'.repeat(20_000) } })).status).toBe(202);
  });

  it('refuses a repo that does not exist, is a file, is not git, is a subfolder of one or has no commit, naming the reason', async () => {
    const tree = await cleanup.tree({ services: inProcessServices() });
    const repo = await createTempRepo({ 'src/a.js': 'a\n', 'README.md': '# r\n' });
    cleanup.defer(() => repo.cleanup());
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-intake-'));
    cleanup.defer(() => rmSync(scratch, { recursive: true, force: true }));
    const plain = path.join(scratch, 'plain');
    mkdirSync(plain);
    const file = path.join(scratch, 'file.txt');
    writeFileSync(file, 'x');
    const empty = path.join(scratch, 'empty');
    mkdirSync(empty);
    execFileSync('git', ['init', '--quiet', empty]);
    const cases: Array<[string, string]> = [
      [path.join(scratch, 'missing'), 'missing'],
      [file, 'not_a_directory'],
      [plain, 'not_a_repository'],
      [path.join(repo.repo, 'src'), 'subfolder'],
      [empty, 'no_commit'],
    ];
    for (const [dir, reason] of cases) {
      for (const [url, body] of [
        [`${tree.url}/api/jobs`, { task: 'x', repo: dir }],
        [`${agentUrl(tree, 'Mgr-Code-01')}/submit`, { task: 'x', repo: dir }],
        [`${agentUrl(tree, 'Prog-002')}/execute`, { instruction: 'x', files: ['a.js'], repo: dir }],
      ] as const) {
        const answer = await http(url, { body });
        expectRefused(answer, 'repo', `${reason} via ${url}`);
        expect(answer.body.error.details.reason, url).toBe(reason);
      }
    }
    expect(journaled(tree)).toBe(0);
    expect(tree.runtime.journal.getTask).toBeDefined();
  });

  it('accepts files that do not exist yet with a note that they will be created, and no note when they all exist', async () => {
    const tree = await cleanup.tree({ services: inProcessServices() });
    const repo = await createTempRepo({ 'src/a.js': 'a\n' });
    cleanup.defer(() => repo.cleanup());
    const fresh = await http(`${tree.url}/api/jobs`, { body: { task: 'x', repo: repo.repo, files: ['src/a.js', 'src/new.js', 'docs/NEW.md'] } });
    expect(fresh.status).toBe(202);
    expect(fresh.body.notes).toHaveLength(1);
    expect(fresh.body.notes[0]).toContain('src/new.js, docs/NEW.md');
    expect(fresh.body.notes[0]).not.toContain('src/a.js');
    const known = await http(`${tree.url}/api/jobs`, { body: { task: 'x', repo: repo.repo, files: ['src/a.js'] } });
    expect(known.status).toBe(202);
    expect(known.body.notes).toBeUndefined();
    const direct = await http(`${agentUrl(tree, 'Prog-003')}/execute`, { body: { instruction: 'x', repo: repo.repo, files: ['lib/b.js'] } });
    expect(direct.status).toBe(202);
    expect(direct.body.notes[0]).toContain('lib/b.js');
  });

  it('refuses a job whose lane is not the Director’s or Manager’s own on its port, and takes its own lane or none', async () => {
    const tree = await cleanup.tree({ services: inProcessServices() });
    for (const [id, lane] of [['Dir-Data', 'Code'], ['Mgr-Models-01', 'Code'], ['Dir-Code', 'Docs']] as const) {
      for (const url of [`${agentUrl(tree, id)}/submit`, `${tree.url}/agents/${id}/submit`]) {
        const answer = await http(url, { body: { task: 'x', lane } });
        expectRefused(answer, 'lane', `${lane} job to ${url}`);
      }
    }
    expect(journaled(tree)).toBe(0);
    const own = await http(`${agentUrl(tree, 'Dir-Data')}/submit`, { body: { task: 'x', lane: 'Data' } });
    expect(own.status).toBe(202);
    const none = await http(`${agentUrl(tree, 'Mgr-Models-01')}/submit`, { body: { task: 'x' } });
    expect(none.status).toBe(202);
    expect(tree.runtime.getJob(none.body.job_id)?.lane).toBe('Models');
    expect((await http(`${agentUrl(tree, 'Architect')}/submit`, { body: { task: 'x', lane: 'Docs' } })).status).toBe(202);
  });

  it('refuses task and job ids git would refuse in a branch name (":" and the rest of check-ref-format), and every id it takes is a valid branch', async () => {
    const tree = await cleanup.tree({ services: inProcessServices() });
    const prog = agentUrl(tree, 'Prog-004');
    const refused = ['a:b', 'a..b', 'x.lock', 'x.LOCK', 'ends.', 'a~b', 'a^b', 'a?b', 'a*b', 'a[b', 'a\\b', 'a b', 'a@{b', 'a/b', '.hidden', '-dash'];
    for (const id of refused) {
      expectRefused(await http(`${prog}/execute`, { body: { instruction: 'x', files: ['a.txt'], task_id: id } }), 'task_id', id);
      expectRefused(await http(`${prog}/aider/edit`, { body: { message: 'x', files: ['a.txt'], task_id: id } }), 'task_id', id);
      expectRefused(await http(`${prog}/execute`, { body: { instruction: 'x', files: ['a.txt'], job_id: id } }), 'job_id', id);
    }
    const repo = await createTempRepo({ 'a.txt': 'a\n' });
    cleanup.defer(() => repo.cleanup());
    for (const id of ['a.b', 'A_1-2', 'v1.2.3', 'x'.repeat(128), '9lock']) {
      const answer = await http(`${prog}/execute`, { body: { instruction: 'x', files: ['a.txt'], task_id: id, job_id: `job-${id}`.slice(0, 128) } });
      expect(answer.status, `${id}: ${answer.text}`).toBe(202);
      await gitOut(repo.repo, 'check-ref-format', `refs/heads/pas/job-${id}/${id}`);
    }
  });

  it('refuses a verify command cmd_allowlist.yaml does not allow', async () => {
    const tree = await cleanup.tree({ services: inProcessServices() });
    const answer = await http(`${tree.url}/api/jobs`, { body: { task: 'x', verify: ['rm', '-rf', '/'] } });
    expectRefused(answer, 'verify', 'rm -rf');
    expect(journaled(tree)).toBe(0);
  });
});
