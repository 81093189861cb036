/**
 * `pas up` killed with SIGKILL in the middle of a job, then started again on the same data dir:
 * the job is still listed and finishes (requeue) or is reported (interrupt), finished subtasks
 * are not redone, no receipt is written twice, and the worktrees the killed run left are removed.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig } from '../../../src/config/load-config.ts';
import { openJournal } from '../../../src/journal/journal.ts';
import type { CassetteEntry } from '../../../src/llm/providers/scripted-adapter.ts';
import { buildTopology } from '../../../src/runtime/topology.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { freePortOffset } from '../../support/ports.ts';
import { kill9 as killNow, startPasUp, type PasProcess } from '../../support/pas-process.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';
import { getJson, postJson, until, untilTerminal } from './jobs-support.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';

const TASK = 'Bump all four counters';
const NAMES = ['fast1', 'fast2', 'slow1', 'slow2'] as const;
const FILES = Object.fromEntries(NAMES.map((n) => [`src/${n}.js`, `export const ${n} = 1;\n`]));

/**
 * The plan gives each counter its own subtask; the slow ones take `slowMs` to answer. With
 * `failing`, fast2's edit never applies (its SEARCH matches nothing), so that subtask fails fast.
 */
function cassette(slowMs: number, failing = false): CassetteEntry[] {
  return [
    {
      match: { purpose: 'plan', contains: TASK },
      reply: JSON.stringify({ subtasks: NAMES.map((n) => ({ instruction: `Set ${n} to 2 [${n}].`, files: [`src/${n}.js`] })) }),
      usage: { input: 80, output: 30 },
    },
    ...NAMES.map(
      (n): CassetteEntry => ({
        match: { purpose: 'edit', contains: `[${n}]` },
        reply: `src/${n}.js\n<<<<<<< SEARCH\nexport const ${failing && n === 'fast2' ? 'missing' : n} = 1;\n=======\nexport const ${n} = 2;\n>>>>>>> REPLACE\n`,
        usage: { input: 30, output: 8 },
        delay_ms: n.startsWith('slow') ? slowMs : 50,
      }),
    ),
  ];
}

type Running = PasProcess;

describe('crash recovery of `pas up`', () => {
  let cfg: TempConfig | undefined;
  let dataDir: string | undefined;
  let repo: TempRepo | undefined;
  const children: ChildProcess[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    }
    cfg?.cleanup();
    await repo?.cleanup();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    cfg = repo = dataDir = undefined;
  });

  const pasUp = (portOffset: number): Promise<Running> =>
    startPasUp({ configDir: cfg!.dir, dataDir: dataDir!, portOffset, track: (child) => children.push(child) });

  async function kill9(child: ChildProcess): Promise<void> {
    expect(await killNow(child)).toBe('SIGKILL');
  }

  /** Boots, submits the job, and SIGKILLs the tree once the fast subtasks are done and the slow ones run. */
  async function crashMidJob(failing = false): Promise<{ jobId: string; portOffset: number; before: JsonAnswer }> {
    cfg = tempConfig();
    writeFileSync(path.join(cfg.dir, 'cassettes', 'demo.yaml'), stringify({ entries: cassette(600_000, failing) }));
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-crash-data-'));
    repo = await createTempRepo(FILES);
    const top = buildTopology(loadConfig(cfg.dir));
    const portOffset = await freePortOffset([top.gatewayPort, ...top.agents.map((a) => a.port)]);

    const first = await pasUp(portOffset);
    const res = await postJson(`${first.url}/api/jobs`, { task: TASK, lane: 'Code', files: NAMES.map((n) => `src/${n}.js`), repo: repo.repo });
    expect(res.status).toBe(202);
    const jobId = res.body.job_id as string;
    let before: JsonAnswer;
    await until(async () => {
      before = (await getJson(`${first.url}/api/jobs/${jobId}`)).body;
      const by = (status: string) => before.tasks.filter((t: JsonAnswer) => t.status === status).length;
      const executing = (await getJson(`${first.url}/api/agents`)).body.agents.filter((a: JsonAnswer) => a.role === 'programmer' && a.state === 'EXECUTING').length;
      return by('completed') + by('failed') === 2 && by('running') === 2 && executing === 2;
    }, 100);
    await kill9(first.child);
    return { jobId, portOffset, before };
  }

  function receiptsByTask(): Map<string, number> {
    const counts = new Map<string, number>();
    const dir = path.join(dataDir!, 'receipts');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
      for (const line of readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean)) {
        const receipt = JSON.parse(line) as { task_id: string };
        counts.set(receipt.task_id, (counts.get(receipt.task_id) ?? 0) + 1);
      }
    }
    return counts;
  }

  async function taskBranches(jobId: string): Promise<string[]> {
    const out = await gitOut(repo!.repo, 'for-each-ref', '--format=%(refname:short)', `refs/heads/pas/${jobId}/`);
    return out.split('\n').filter(Boolean).sort();
  }

  /**
   * Each fast subtask's work survived the kill: on its task branch, or already merged into the job
   * branch (branches merge as they finish) with the task branch deleted. No other branch exists.
   */
  async function expectFastWorkKept(jobId: string, before: JsonAnswer, fast: string[]): Promise<void> {
    const branches = await taskBranches(jobId);
    expect(branches.every((b) => fast.some((id) => b === `pas/${jobId}/${id}`))).toBe(true);
    for (const id of fast) {
      if (branches.includes(`pas/${jobId}/${id}`)) continue;
      const commit = before.tasks.find((t: JsonAnswer) => t.task_id === id).result.commit as string;
      await gitOut(repo!.repo, 'merge-base', '--is-ancestor', commit, `pas/job-${jobId}`);
    }
  }

  function taskDirs(jobId: string): string[] {
    const dir = path.join(dataDir!, 'workspaces', jobId);
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  it('finishes the job after a SIGKILL and a restart (requeue), redoing only what was running', async () => {
    const { jobId, portOffset, before } = await crashMidJob();
    const ids = (prefix: string) => before.tasks.filter((t: JsonAnswer) => t.task_id && t.instruction.includes(`[${prefix}`)).map((t: JsonAnswer) => t.task_id as string);
    const fast = ids('fast');
    const slow = ids('slow');
    expect([fast.length, slow.length]).toEqual([2, 2]);
    // The killed run wrote receipts for the fast subtasks only, and left nothing of the slow ones:
    // native edits need no checkout, and a task branch exists only once its commit does.
    expect(taskDirs(jobId)).toEqual([]);
    await expectFastWorkKept(jobId, before, fast);
    expect([...receiptsByTask().keys()].sort()).toEqual([...fast].sort());

    // The second run answers the slow edits quickly.
    writeFileSync(path.join(cfg!.dir, 'cassettes', 'demo.yaml'), stringify({ entries: cassette(50) }));
    const second = await pasUp(portOffset);
    const job = await untilTerminal(`${second.url}/api/jobs/${jobId}`);

    expect(job.status).toBe('completed');
    const list = (await getJson(`${second.url}/api/jobs`)).body;
    expect(list.jobs.map((j: JsonAnswer) => j.job_id)).toEqual([jobId]);
    // Finished subtasks kept their first result; the running ones ran again, once.
    for (const id of fast) {
      const t = job.tasks.find((x: JsonAnswer) => x.task_id === id);
      const b = before.tasks.find((x: JsonAnswer) => x.task_id === id);
      expect([t.status, t.finished_at, t.programmer_id]).toEqual(['completed', b.finished_at, b.programmer_id]);
    }
    for (const id of slow) expect(job.tasks.find((x: JsonAnswer) => x.task_id === id).status).toBe('completed');
    expect(job.tasks.every((t: JsonAnswer) => t.merged)).toBe(true);
    const receipts = receiptsByTask();
    expect([...receipts.keys()].sort()).toEqual([...fast, ...slow].sort());
    expect([...receipts.values()]).toEqual([1, 1, 1, 1]);

    for (const n of NAMES) expect(await gitOut(repo!.repo, 'show', `pas/job-${jobId}:src/${n}.js`)).toBe(`export const ${n} = 2;`);
    expect(taskDirs(jobId)).toEqual([]);
    expect((await gitOut(repo!.repo, 'worktree', 'list', '--porcelain')).split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);
    await kill9(second.child);
  }, 90_000);

  it('marks running subtasks interrupted after a restart in interrupt mode and reports the job partial', async () => {
    const { jobId, portOffset, before } = await crashMidJob();
    cfg!.edit('pas.yaml', (doc) => doc.setIn(['runtime', 'on_restart'], 'interrupt'));
    const slow = before.tasks.filter((t: JsonAnswer) => t.status === 'running').map((t: JsonAnswer) => t.task_id as string);
    const fast = before.tasks.filter((t: JsonAnswer) => t.status === 'completed').map((t: JsonAnswer) => t.task_id as string);
    expect(taskDirs(jobId)).toEqual([]);
    await expectFastWorkKept(jobId, before, fast);

    const second = await pasUp(portOffset);
    const job = await untilTerminal(`${second.url}/api/jobs/${jobId}`);

    expect(job.status).toBe('partial');
    for (const id of slow) {
      const t = job.tasks.find((x: JsonAnswer) => x.task_id === id);
      expect([t.status, t.error?.code, t.merged]).toEqual(['interrupted', 'PAS_ERR_TASK_INTERRUPTED', false]);
    }
    for (const id of fast) expect(job.tasks.find((x: JsonAnswer) => x.task_id === id).merged).toBe(true);
    const outcome = openJournalOutcome(jobId);
    expect(outcome.tasks.filter((t: JsonAnswer) => t.error?.code === 'PAS_ERR_TASK_INTERRUPTED').map((t: JsonAnswer) => t.taskId).sort()).toEqual([...slow].sort());
    // Nothing ran again: receipts only for the fast subtasks, once each.
    expect([...receiptsByTask().entries()].sort()).toEqual(fast.sort().map((id: string) => [id, 1]));
    for (const n of NAMES) {
      expect(await gitOut(repo!.repo, 'show', `pas/job-${jobId}:src/${n}.js`)).toBe(`export const ${n} = ${n.startsWith('fast') ? 2 : 1};`);
    }
    // The interrupted subtasks' worktrees, left by the killed run, are gone.
    expect(taskDirs(jobId)).toEqual([]);
    expect((await gitOut(repo!.repo, 'worktree', 'list', '--porcelain')).split('\n').filter((l) => l.startsWith('worktree '))).toHaveLength(1);
    await kill9(second.child);
  }, 90_000);

  it('keeps a subtask that failed before the kill failed after a restart, without running it again', async () => {
    const { jobId, portOffset, before } = await crashMidJob(true);
    const failed = before.tasks.find((t: JsonAnswer) => t.status === 'failed');
    expect(failed?.instruction).toContain('[fast2]');
    expect(receiptsByTask().get(failed.task_id)).toBe(1);

    writeFileSync(path.join(cfg!.dir, 'cassettes', 'demo.yaml'), stringify({ entries: cassette(50, true) }));
    const second = await pasUp(portOffset);
    const job = await untilTerminal(`${second.url}/api/jobs/${jobId}`);

    expect(job.status).toBe('partial');
    const after = job.tasks.find((t: JsonAnswer) => t.task_id === failed.task_id);
    expect([after.status, after.finished_at, after.error?.code]).toEqual(['failed', failed.finished_at, failed.error.code]);
    expect(job.tasks.filter((t: JsonAnswer) => t.merged)).toHaveLength(3);
    const receipts = receiptsByTask();
    expect(receipts.get(failed.task_id)).toBe(1);
    expect([...receipts.values()]).toEqual([1, 1, 1, 1]);
    await kill9(second.child);
  }, 90_000);

  function openJournalOutcome(jobId: string): JsonAnswer {
    const journal = openJournal(path.join(dataDir!, 'pas.db'));
    try {
      return journal.getJob(jobId)!.outcome;
    } finally {
      journal.close();
    }
  }
});
