/**
 * The task suite (test/fixtures/tasks/): every task's held-out tests fail on its base commit, and
 * a sample covering every play — an edit–test loop that needs round 2, a conflict only the
 * resolver settles (plan reversed, so the other side resolves), a merged branch that fails its
 * verify until a fix-up, a job planned from the repository map — ends `completed` with a merged branch whose tests pass,
 * the receipts showing the rounds. `pas bench --only tasks` runs the whole suite the same way.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { judgeBase, loadSuite, loadSuiteTask, runSuite, type SuiteRun, type SuiteTask } from '../../../scripts/task-suite.ts';

const suite = loadSuite();
const byName = (name: string) => suite.find((t) => t.name === name)!;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'pas-task-suite-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A copy of a task whose plan lists its subtasks in reverse, so the other side of a conflict merges first. */
function reversedPlan(task: SuiteTask): SuiteTask {
  const dir = path.join(scratch, `${task.name}-reversed`);
  cpSync(task.dir, dir, { recursive: true });
  const file = path.join(dir, 'cassette.yaml');
  const doc = parse(readFileSync(file, 'utf8')) as { entries: Array<{ match: { purpose?: string }; reply: string }> };
  const plan = doc.entries.find((e) => e.match.purpose === 'plan')!;
  const json = JSON.parse(plan.reply.slice(plan.reply.indexOf('{'))) as { subtasks: unknown[] };
  plan.reply = JSON.stringify({ subtasks: [...json.subtasks].reverse() });
  writeFileSync(file, stringify(doc));
  return { ...loadSuiteTask(dir), name: `${task.name} (plan reversed)` };
}

/** What each play must leave in the receipts and the run. */
function expectPlays(task: SuiteTask, run: SuiteRun): void {
  const looped = run.subtasks.filter((s) => s.rounds > 1);
  if (task.plays.includes('edit-test-loop')) {
    expect(looped.length, `${task.name}: a subtask needed a second round`).toBeGreaterThan(0);
    for (const s of looped) {
      expect(s.verifyExitCodes[0]).not.toBe(0);
      expect(s.verifyExitCodes.at(-1)).toBe(0);
    }
    expect(run.calls['edit.verify']).toBeGreaterThan(0);
  } else {
    expect(looped, `${task.name}: every subtask right in round 1`).toEqual([]);
  }
  if (task.plays.includes('resolver')) {
    expect(run.resolvers).toHaveLength(1);
    expect(run.subtasks.find((s) => s.taskId === run.resolvers[0])).toMatchObject({ status: 'completed' });
  } else {
    expect(run.reruns).toEqual([]);
  }
  if (task.plays.includes('fixup')) {
    expect(run.fixups).toHaveLength(1);
    expect(run.verification).toEqual({ passed: true, fixups: 1 });
    expect(run.subtasks.find((s) => s.taskId === run.fixups[0])).toMatchObject({ status: 'completed' });
  } else {
    expect(run.fixups).toEqual([]);
  }
  if (task.plays.includes('repo-map')) expect(task.files).toBeUndefined();
  expect(run.planner).toBe('llm');
}

// The two checks share no state: they run side by side.
describe.concurrent('the task suite', () => {
  it('has ten tasks covering every play, each with held-out tests that fail on its base commit', async () => {
    expect(suite.length).toBeGreaterThanOrEqual(10);
    const count = (play: string) => suite.filter((t) => (t.plays as string[]).includes(play)).length;
    expect(count('edit-test-loop')).toBeGreaterThanOrEqual(3);
    expect(count('resolver')).toBeGreaterThanOrEqual(2);
    expect(count('fixup')).toBeGreaterThanOrEqual(1);
    expect(count('repo-map')).toBeGreaterThanOrEqual(2);
    const bases = await Promise.all(suite.map(async (task) => ({ name: task.name, run: await judgeBase(task, path.join(scratch, `base-${task.name}`)) })));
    for (const { name, run } of bases) expect({ name, passed: run.passed, failed: run.failed > 0 }).toEqual({ name, passed: false, failed: true });
  });

  it('ends each sampled task completed with passing merged-branch tests, the receipts showing the rounds, the resolvers and the fix-up', async () => {
    // md-table's plan reversed: merged in plan order, the escapeCell side is now the resolver (the bench runs the plan as written).
    const sample = [reversedPlan(byName('md-table')), byName('config-merger'), byName('event-emitter')];
    const runs = await runSuite(sample, { concurrency: sample.length });
    for (const [i, run] of runs.entries()) {
      const task = sample[i]!;
      expect({ task: task.name, status: run.jobStatus, error: run.error, merged: run.merged?.passed }).toEqual({ task: task.name, status: 'completed', error: undefined, merged: true });
      expect(run.solved).toBe(true);
      expect(run.merged!.failed).toBe(0);
      expectPlays(task, run);
    }
  }, 120_000);
});
