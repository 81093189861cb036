/**
 * The task suite's fixtures and report: a bad task.json is refused naming its file and key, a
 * fixture missing a part is refused, and the bench table marks an unsolved task.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { markdown } from '../../../scripts/bench.ts';
import { tasksTable, type TaskRow } from '../../../scripts/bench-tasks.ts';
import { loadSuite, loadSuiteTask, runSuite, TASKS_DIR } from '../../../scripts/task-suite.ts';

const row: TaskRow = {
  task: 'md-table',
  plays: ['resolver', 'edit-test-loop'],
  solved: true,
  jobStatus: 'completed',
  rounds: '1+2+1',
  subtasks: 3,
  resolvers: 1,
  fixups: 0,
  planner: 'llm',
  tokensIn: 5097,
  tokensOut: 868,
  wallMs: 14_600,
  mergedTests: 'pass 5/5',
};

describe('task suite fixtures and report', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pas-task-fixture-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('loads every fixture of the suite with its plays', () => {
    const suite = loadSuite();
    expect(suite.map((t) => t.name)).toContain('md-table');
    const router = suite.find((t) => t.name === 'tiny-router')!;
    expect(router).toMatchObject({ lane: 'Code', plays: ['repo-map', 'edit-test-loop'], verify: ['node', '--test', 'test/'] });
    expect(router.files).toBeUndefined();
  });

  it('refuses a task.json with a bad key, naming the file and the key', () => {
    const task = path.join(dir, 'broken');
    cpSync(path.join(TASKS_DIR, 'semver-lite'), task, { recursive: true });
    writeFileSync(path.join(task, 'task.json'), JSON.stringify({ title: 't', task: 'x', lane: 'Code', verify: ['node', '--test'], test: ['node', '--test'], plays: ['telepathy'] }));
    expect(() => loadSuiteTask(task)).toThrow(`${path.join(task, 'task.json')}: plays.0:`);
    writeFileSync(path.join(task, 'task.json'), JSON.stringify({ title: 't', task: 'x', lane: 'Code', verify: [], test: ['node', '--test'] }));
    expect(() => loadSuiteTask(task)).toThrow(`${path.join(task, 'task.json')}: verify:`);
  });

  it('refuses a fixture without its held-out tests', () => {
    const task = path.join(dir, 'no-tests');
    cpSync(path.join(TASKS_DIR, 'semver-lite'), task, { recursive: true });
    rmSync(path.join(task, 'tests'), { recursive: true });
    expect(() => loadSuiteTask(task)).toThrow(`${task}: the fixture has no tests`);
  });

  it('reports a task whose run throws as unsolved, with the reason', async () => {
    const task = path.join(dir, 'empty-repo');
    cpSync(path.join(TASKS_DIR, 'semver-lite'), task, { recursive: true });
    rmSync(path.join(task, 'repo'), { recursive: true });
    mkdirSync(path.join(task, 'repo'));
    const [run] = await runSuite([loadSuiteTask(task)]);
    expect(run).toMatchObject({ name: 'empty-repo', solved: false, jobStatus: 'not finished', merged: null });
    expect(run!.error).toMatch(/commit --quiet -m empty-repo: base failed/);
  });

  it('shows each task in the bench table, an unsolved one in bold, and counts the solved ones', () => {
    const unsolved: TaskRow = { ...row, task: 'config-merger', solved: false, jobStatus: 'partial', mergedTests: 'FAIL 4/5' };
    const table = tasksTable([row, unsolved]);
    expect(table).toContain('| md-table | resolver, edit-test-loop | yes | completed | 1+2+1 | 1 | 0 | 5097 / 868 | 14.6 | pass 5/5 |');
    expect(table).toContain('| config-merger | resolver, edit-test-loop | **no** | partial |');
    const report = markdown(
      { date: '2026-01-01T00:00:00.000Z', host: 'h', platform: 'linux x64', cpu: 'CPU', cores: 2, memGiB: 4, node: 'v20', loadAvgAtStart: [1, 1, 1] },
      'npx pas bench --only tasks',
      { tasks: { ok: true, seconds: 60, result: { part: 'tasks', method: { tasks: 2, concurrency: 3, note: '' }, solved: 1, total: 2, makespanMs: 60_000, rows: [row, unsolved], markdown: table } } },
    );
    expect(report).toContain('**6. Task suite** — 1 of 2 tasks solved');
    expect(report).toContain(table);
  });
});
