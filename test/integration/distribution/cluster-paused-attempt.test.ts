/**
 * A worker paused past the detection time (SIGSTOP, a frozen VM) and then resumed runs on the
 * attempt the central process gave up meanwhile; that attempt spends nothing more: its next model
 * call is refused centrally (the ask names the attempt) and the worker stops it. A real
 * nats-server, the central `pas up`, two `pas worker` processes and a paid model in OpenAI's format.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import { GREET, http, waitForTask } from '../programmer/programmer-harness.ts';
import type { Cluster } from './cluster-harness.ts';
import { startPaidCluster } from './paid-cluster.ts';

const USAGE = { input: 1200, output: 340 };
/** An edit whose SEARCH is not in the file: the programmer asks the model once more to correct it. */
const MISSING_SEARCH = 'export const nothing = 0;';
const MISSING_EDIT = ['src/greet.ts', '```ts', '<<<<<<< SEARCH', MISSING_SEARCH, '=======', 'export const nothing = 1;', '>>>>>>> REPLACE', '```'].join('\n');
const OFFLINE_AFTER_MS = 1_500;
/** The first answer comes this late: the worker is paused while it waits, and reads it when resumed. */
const FIRST_ANSWER_MS = 4_000;

let cluster: Cluster;
let openai: FakeProvider;
let ollama: FakeProvider;
let repo: TempRepo;

beforeAll(async () => {
  openai = await startFakeProvider({ kind: 'openai', latencyMs: FIRST_ANSWER_MS, script: [{ reply: MISSING_EDIT, usage: USAGE }], usage: USAGE });
  ollama = await startFakeProvider({ kind: 'ollama', usage: { input: 300, output: 40 } });
  repo = await createTempRepo({ 'src/greet.ts': GREET });
  cluster = await startPaidCluster(openai, ollama, { offlineAfterMs: OFFLINE_AFTER_MS, workerKey: 'sk-paused-attempt-7c2e' });
}, 90_000);

afterAll(async () => {
  for (const w of cluster?.workers.values() ?? []) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGCONT');
  await cluster?.close();
  await Promise.all([openai, ollama].map((s) => s?.close()));
  await repo?.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('an attempt the central process gave up', () => {
  it('gets no model call admitted once its paused worker resumes: the ask naming it is refused and the worker stops it, so nothing more is spent', async () => {
    const programmer = [...cluster.hostOf].find(([, worker]) => worker === 'w1')![0];
    const base = cluster.agentUrl(programmer);
    const taskId = 'paused-paid-1';
    const accepted = await http(`${base}/execute`, { body: { task_id: taskId, instruction: "Say 'hi' and add a farewell.", files: ['src/greet.ts'], repo: repo.repo } });
    expect(accepted.status, accepted.text).toBe(202);

    // Paused while its first (paid) call waits for the answer.
    const deadline = Date.now() + 30_000;
    while (openai.requests.length === 0) {
      if (Date.now() > deadline) throw new Error('the first model call never came');
      await sleep(10);
    }
    const askedAt = Date.now();
    const w1 = cluster.workers.get('w1')!.child;
    w1.kill('SIGSTOP');
    openai.setLatency(0);
    const task = (await waitForTask(base, taskId, 30_000)) as { status: string; result: { error?: { code: string } } };
    expect(task.status).toBe('failed');
    expect(task.result.error?.code).toBe('PAS_ERR_DIST_WORKER_OFFLINE');

    // Resumed once the answer is waiting for it: the edit does not apply, and the correction it asks for is refused.
    await sleep(Math.max(0, askedAt + FIRST_ANSWER_MS + 300 - Date.now()));
    w1.kill('SIGCONT');
    const stoppedLog = (e: Record<string, unknown>) => e.msg === 'attempt given up by the central process: stopped' && e.taskId === taskId;
    const corrections = () => openai.requests.filter((r) => r.raw.includes(MISSING_SEARCH));
    // Whichever comes first: the worker stops the attempt, or the correction reaches the paid model.
    const until = Date.now() + 30_000;
    while (!cluster.workerLog('w1').some(stoppedLog) && corrections().length === 0 && Date.now() < until) await sleep(25);
    expect(corrections()).toEqual([]);
    const stopped = await cluster.waitWorkerLog('w1', stoppedLog, 1_000);
    const refused = await cluster.waitLog((e) => e.msg === 'worker call refused: its attempt is over' && e.attemptId === stopped.attemptId, 10_000);
    expect(refused.code).toBe('PAS_ERR_TASK_CANCELLED');
    // Neither model heard from the given-up attempt again: one call in all, no correction, no backup.
    await sleep(500);
    expect(openai.requests).toHaveLength(1);
    expect(corrections()).toEqual([]);
    expect(ollama.requests.filter((r) => r.method === 'POST')).toEqual([]);
  }, 120_000);
});
