/**
 * Failure paths of the central side of remote programmers (remote-programmers.ts), each on a real
 * nats-server, SQLite journal and git repository, with a scripted worker speaking pas.v1.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleObjectName, deleteBundle, getBundle, putBundle } from '../../../src/distribution/bundles.ts';
import type { ResultMessage } from '../../../src/distribution/messages.ts';
import { objectStoreFor } from '../../../src/executors/object-store.ts';
import { gitOut, waitFor } from '../../support/git-fixtures.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';
import { PROGRAMMER, settled, startBench, WORKER, type Bench } from './central-harness.ts';

let server: NatsServerHandle;
let bench: Bench | undefined;

beforeAll(async () => {
  server = await startNatsServer();
}, 30_000);

afterEach(async () => {
  await bench?.close();
  bench = undefined;
});

afterAll(async () => {
  await server?.close();
});

const branchExists = async (repo: string, branch: string) => (await gitOut(repo, 'for-each-ref', '--format=%(refname)', `refs/heads/${branch}`)) !== '';
describe('remote programmers, central side, when things fail', () => {
  it('a task whose publish acknowledgement is lost is published again under the same message id: the broker keeps it once, the worker gets it once, and the task completes', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t1');
    // The broker stores the task but its acknowledgement is lost (what a broker restart mid-publish looks like).
    const js = b.link.nats.js as { publish: (...args: unknown[]) => Promise<unknown> };
    const publish = js.publish.bind(js);
    let lost = 0;
    js.publish = async (...args: unknown[]) => {
      const stored = await publish(...args);
      if (args[0] !== b.link.names.subjects.task('Prog-011') || lost++ > 0) return stored;
      throw Object.assign(new Error('TIMEOUT'), { name: 'TimeoutError' });
    };
    const result = b.execute(task);
    const got = await b.nextTask();
    // Published again (the same message id) after the lost acknowledgement.
    expect(await waitFor(() => lost >= 2, 10_000)).toBe(true);
    js.publish = publish;
    await b.complete(got!.task);
    got!.msg.ack();
    expect((await settled(result, 'execute')).status).toBe('completed');
    expect(await b.nextTask('Prog-011', 1_000), 'the task was stored twice').toBeNull();
  });

  it('a task stopped while its publish keeps failing is forgotten: its attempt leaves KV, it does not complete, and a result of it that reached a worker anyway is fenced, never merged', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t1b');
    const js = b.link.nats.js as { publish: (...args: unknown[]) => Promise<unknown> };
    const publish = js.publish.bind(js);
    let tries = 0;
    js.publish = async (...args: unknown[]) => {
      const stored = await publish(...args);
      if (args[0] !== b.link.names.subjects.task('Prog-011')) return stored;
      tries++;
      throw Object.assign(new Error('TIMEOUT'), { name: 'TimeoutError' });
    };
    const stop = new AbortController();
    const running = b.execute(task, stop.signal);
    expect(await waitFor(() => tries >= 2, 10_000)).toBe(true);
    stop.abort();
    const result = await settled(running, 'execute');
    expect(await waitFor(() => b.logs.some((l) => l.msg === 'remote dispatch failed' && l.taskId === 't1b'), 10_000)).toBe(true);
    js.publish = publish;
    expect(result.status).not.toBe('completed');
    expect(await b.currentAttempt('t1b')).toBeUndefined();
    // A worker got the message anyway and sends its result: it is fenced.
    const got = await b.nextTask();
    expect(got).not.toBeNull();
    got!.msg.ack();
    const sent = await b.complete(got!.task, { costUsd: 0.5 });
    expect(await waitFor(() => b.logs.some((l) => l.code === 'PAS_ERR_DIST_STALE_RESULT' && l.attemptId === sent.attempt_id), 10_000)).toBe(true);
    // The attempt's one receipt is the one booked when it ended here; the fenced result adds none.
    expect(b.receipts).toHaveLength(1);
    expect(b.receipts[0]).toMatchObject({ task_id: 't1b', status: result.status, cost_usd: 0 });
    expect(await branchExists(b.repo.repo, 'pas/job-t1b/t1b')).toBe(false);
  });

  it('a base bundle the object store dropped (bundle_ttl_s, or deleted) is made anew for the next task on the same base, which then completes', async () => {
    const b = (bench = await startBench(server.url));
    const first = b.addTask('t2a');
    const stopFirst = new AbortController();
    const running = b.execute(first, stopFirst.signal);
    const one = await b.nextTask();
    expect(one!.task.bundle_object).toBeTruthy();
    // The bundle expires while the host still has nothing of the repository.
    await deleteBundle(b.link.bundles, one!.task.bundle_object!);
    const second = b.addTask('t2b');
    const result = b.execute(second, undefined, 'Prog-012');
    const two = await b.nextTask('Prog-012');
    expect(two!.task.bundle_object).toBeTruthy();
    await expect(getBundle(b.link.bundles, two!.task.bundle_object!)).resolves.toBeInstanceOf(Uint8Array);
    await b.complete(two!.task);
    two!.msg.ack();
    expect((await settled(result, 'second task')).status).toBe('completed');
    expect(await branchExists(b.repo.repo, 'pas/job-t2b/t2b')).toBe(true);
    one!.msg.ack();
    stopFirst.abort();
    expect((await settled(running, 'first task')).status).toBe('cancelled');
  });

  it('a result that cannot be applied (its receipt cannot be written) fails its task with the cause instead of leaving it hanging', async () => {
    const b = (bench = await startBench(server.url, {
      appendReceipt: () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    }));
    const task = b.addTask('t3');
    const result = b.execute(task);
    const got = await b.nextTask();
    await b.complete(got!.task);
    got!.msg.ack();
    const done = await settled(result, 'execute');
    expect(done.status).toBe('failed');
    expect(done.error?.message).toContain('ENOSPC');
    expect(b.logs.some((l) => l.msg === 'applying a remote result failed' && l.taskId === 't3')).toBe(true);
  });

  it('a result redelivered after the central process restarted books no second receipt', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t4');
    const result = b.execute(task);
    const got = await b.nextTask();
    const sent = await b.complete(got!.task, { costUsd: 0.25 });
    got!.msg.ack();
    expect((await settled(result, 'execute')).status).toBe('completed');
    expect(b.receipts).toHaveLength(1);
    // Killed before the journal had the task's finish; the broker brings the result back (an ack lost in a restart).
    await b.restart();
    await b.publishResult(sent, `${sent.attempt_id}-again`);
    const again = await settled(b.execute(task), 're-dispatch');
    expect(again.status).toBe('completed');
    expect(again.commit).toBe(sent.outcome.status === 'ok' ? sent.outcome.commit : undefined);
    expect(b.receipts).toHaveLength(1);
    expect(b.receipts[0]).toMatchObject({ task_id: 't4', cost_usd: 0.25, status: 'completed' });
  });

  it('a failed result the pool already heard, delivered again after the central process restarted before its retry went out, is fenced: the retry runs as a new attempt and the failure is not counted twice', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t19');
    const result = b.execute(task);
    const got = await b.nextTask();
    const now = new Date().toISOString();
    const sent: ResultMessage = {
      kind: 'pas.v1.result',
      attempt_id: got!.task.attempt_id,
      job_id: got!.task.job_id,
      task_id: got!.task.task_id,
      programmer_id: got!.task.programmer_id,
      worker_id: WORKER,
      outcome: { status: 'error', error: { code: 'PAS_ERR_VERIFY_FAILED', message: 'the tests failed', retryable: true } },
      receipt: { provider: 'ollama', model: 'qwen2.5-coder:7b-instruct', used_backup: false, tokens: { input: 100, output: 20 }, cost_usd: 0.25, duration_ms: 5, kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 }, started_at: now, finished_at: now },
    };
    await b.publishResult(sent);
    got!.msg.ack();
    expect((await settled(result, 'execute')).status).toBe('failed');
    // The pool heard the failure (it journals the attempt's end) and queued a retry; the process
    // was killed before the retry went out, and the broker brings the result back.
    b.journal.attemptEnded('t19');
    await b.restart();
    await b.publishResult(sent, `${sent.attempt_id}-again`);
    b.journal.upsertTask({ ...task, attempt: 2 }, 'running');
    const retry = b.execute({ ...task, attempt: 2 });
    const two = await b.nextTask(PROGRAMMER, 5_000);
    expect(two, 'the old failure was applied again instead of a retry going out').not.toBeNull();
    expect(two!.task.attempt_id).not.toBe(sent.attempt_id);
    await b.complete(two!.task);
    two!.msg.ack();
    expect((await settled(retry, 'retry')).status).toBe('completed');
    expect(b.receipts.map((r) => r.status)).toEqual(['failed', 'completed']);
    expect(b.logs.some((l) => l.taskId === 't19' && l.msg === 'stale result fenced: not merged')).toBe(true);
  });

  it("a result naming its run's paid calls gets the attempt's other reported calls (an earlier run's) on its one receipt, and the pool hears the same cost when it is applied again after a restart", async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t21');
    const result = b.execute(task);
    const got = await b.nextTask();
    const day = new Date().toISOString().slice(0, 10);
    // Spend reports as the authority books them: one of an earlier run of this attempt, one of this run.
    b.journal.addCallSpend('w1.early', day, 0.5, { attemptId: got!.task.attempt_id, tokens: { input: 10, output: 2 } });
    b.journal.addCallSpend('w1.mine', day, 0.25, { attemptId: got!.task.attempt_id, tokens: { input: 100, output: 20 } });
    const sent = await b.complete(got!.task, { costUsd: 0.25, callIds: ['w1.mine'] });
    got!.msg.ack();
    expect(await settled(result, 'execute')).toMatchObject({ status: 'completed', costUsd: 0.75, tokens: { input: 110, output: 22 } });
    expect(b.receipts).toHaveLength(1);
    expect(b.receipts[0]).toMatchObject({ cost_usd: 0.75, tokens: { input: 110, output: 22 } });
    await b.restart();
    await b.publishResult(sent, `${sent.attempt_id}-again`);
    expect(await settled(b.execute(task), 're-dispatch')).toMatchObject({ status: 'completed', costUsd: 0.75 });
    expect(b.receipts).toHaveLength(1);
  });

  it('a result that arrives while the attempts bucket cannot be read is not dropped: it comes back, and the re-dispatch after a restart applies it', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t9');
    // The first run's dispatch: it never hears back (that run is stopped below).
    void b.execute(task).catch(() => undefined);
    const got = await b.nextTask();
    got!.msg.ack();
    const record = (await b.link.attempts.get('t9'))!.value;
    // While the central process is down, the attempts bucket goes (the broker cannot answer for it) and the result arrives.
    await b.remote.stop();
    await b.link.nats.jsm.streams.delete(`KV_PAS_${b.link.names.prefix}_ATTEMPTS`);
    const sent = await b.complete(got!.task);
    await b.restart();
    expect(await waitFor(() => b.logs.some((l) => l.taskId === 't9' && (l.msg === 'cannot read the current attempt: the result is delivered again' || l.msg === 'stale result fenced: not merged')), 15_000)).toBe(true);
    // The bucket answers again, with the attempt as it was.
    await b.link.nats.kvm.create(`PAS_${b.link.names.prefix}_ATTEMPTS`, { history: 1 });
    await b.link.attempts.put('t9', record);
    const again = await settled(b.execute(task), 're-dispatch');
    expect(again.status).toBe('completed');
    expect(again.commit).toBe(sent.outcome.status === 'ok' ? sent.outcome.commit : undefined);
    expect(b.logs.some((l) => l.taskId === 't9' && l.msg === 'stale result fenced: not merged')).toBe(false);
  });

  it('a task stopped before its dispatch finished is not sent to the worker: no task message, no attempt in KV, the result is cancelled', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t10');
    const controller = new AbortController();
    controller.abort(new Error('cancelled by the user'));
    const result = await settled(b.execute(task, controller.signal), 'execute');
    expect(result.status).toBe('cancelled');
    const queued = await b.link.nats.jsm.streams.info(b.link.names.taskStream, { subjects_filter: b.link.names.subjects.task(PROGRAMMER) });
    expect(queued.state.messages).toBe(0);
    expect(await b.currentAttempt('t10')).toBeUndefined();
  });

  it('a quarantine ref left by a result import cut off by kill -9 is gone after the central process restarts, and branches are untouched', async () => {
    const b = (bench = await startBench(server.url));
    b.addTask('q1'); // its job is unfinished: the killed run was working in this repository
    const repo = b.repo.repo;
    const orphan = await gitOut(repo, 'commit-tree', `${b.repo.base}^{tree}`, '-p', b.repo.base, '-m', 'fetched, never checked');
    await gitOut(repo, 'update-ref', 'refs/pas/quarantine/q1.a1.0badf00d-1a2b3c4d', orphan);
    const feature = await gitOut(repo, 'commit-tree', `${b.repo.base}^{tree}`, '-p', b.repo.base, '-m', 'a user branch');
    await gitOut(repo, 'update-ref', 'refs/heads/feature', feature);
    await gitOut(repo, 'update-ref', 'refs/heads/pas/job-q1/q0', orphan);
    await b.restart();
    const quarantined = () => gitOut(repo, 'for-each-ref', '--format=%(refname)', 'refs/pas/quarantine');
    expect(await waitFor(async () => (await quarantined()) === '', 10_000)).toBe(true);
    expect(await gitOut(repo, 'rev-parse', 'refs/heads/main')).toBe(b.repo.base);
    expect(await gitOut(repo, 'rev-parse', 'refs/heads/feature')).toBe(feature);
    expect(await gitOut(repo, 'rev-parse', 'refs/heads/pas/job-q1/q0')).toBe(orphan);
    expect(b.logs.some((l) => l.msg === 'removed quarantine refs left by a result import cut off by a crash' && l.removed === 1)).toBe(true);
  });

  it('a task whose base commit is not in the repository fails with PAS_ERR_GIT, not retryable, and nothing is dispatched', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t5', { baseCommit: 'no-such-commit' });
    const result = await settled(b.execute(task), 'execute');
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({ code: 'PAS_ERR_GIT', retryable: false });
    expect(await b.currentAttempt('t5')).toBeUndefined();
    expect((await b.link.nats.jsm.streams.info(b.link.names.taskStream)).state.messages).toBe(0);
  });
});

const objectNames = async (b: Bench) => {
  const names: string[] = [];
  for (const info of await b.link.bundles.list()) if (!info.deleted) names.push(info.name);
  return names;
};

describe('a result its schema refuses', () => {
  it('fails the attempt waiting for it at once with PAS_ERR_DIST_BAD_MESSAGE naming the field (not at its timeout), merges nothing, removes the bundle it stored (only its own), and leaves the stream', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t-refused');
    const running = b.execute(task);
    const got = await b.nextTask();
    got!.msg.ack();
    const now = new Date().toISOString();
    const t = got!.task;
    // What a worker sends unchecked (encodeResultMessage): a progress text longer than the schema's 4,096.
    // It names the result bundle it stored (as a worker names it: by attempt and commit); another attempt's stays.
    const own = bundleObjectName(`${t.attempt_id}.0123456789ab`, 'result');
    const others = bundleObjectName(`${t.attempt_id}0.0123456789ab`, 'result');
    for (const name of [own, others]) await putBundle(b.link.bundles, name, new Uint8Array([1, 2, 3]));
    const bad = { kind: 'pas.v1.result', attempt_id: t.attempt_id, job_id: t.job_id, task_id: t.task_id, programmer_id: t.programmer_id, worker_id: 'w1', outcome: { status: 'ok', base_commit: t.base_commit, commit: 'a'.repeat(40), bundle_object: own }, receipt: { duration_ms: 5, started_at: now, finished_at: now }, progress: { kind: 'message', text: 'x'.repeat(5_000) } };
    await b.link.nats.js.publish(b.link.names.subjects.result(PROGRAMMER), new TextEncoder().encode(JSON.stringify(bad)), { msgID: t.attempt_id });
    const done = await settled(running, 'refused result', 10_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'PAS_ERR_DIST_BAD_MESSAGE', details: { field: 'progress.text' } });
    expect(await branchExists(b.repo.repo, 'pas/job-t-refused/t-refused')).toBe(false);
    // Its one receipt says why it failed (nothing of the refused message is in it).
    expect(b.receipts).toHaveLength(1);
    expect(b.receipts[0]).toMatchObject({ task_id: 't-refused', status: 'failed', error: { code: 'PAS_ERR_DIST_BAD_MESSAGE' }, tokens: { input: null, output: null }, cost_usd: 0 });
    // The attempt is over: a copy of a result of it that arrives later is fenced.
    expect(await waitFor(async () => (await b.currentAttempt('t-refused')) === undefined, 10_000)).toBe(true);
    const info = await b.link.nats.jsm.consumers.info(b.link.names.resultStream, 'central');
    expect(info.num_ack_pending + info.num_pending).toBe(0);
    // Its stored bundle is removed once the process is idle; only that one.
    expect(await waitFor(async () => !(await objectNames(b)).includes(own), 10_000)).toBe(true);
    expect(await objectNames(b)).toContain(others);
  });
});

describe('a result bundle inside the result message', () => {
  it('is imported as the task branch without the object store: nothing is read from it for the result', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t-inline');
    const running = b.execute(task);
    const got = await b.nextTask();
    const streams = b.link.nats.jsm.streams;
    const getMessage = streams.getMessage.bind(streams);
    const reads: unknown[] = [];
    streams.getMessage = async (stream, query) => {
      reads.push(query);
      return getMessage(stream, query);
    };
    const sent = await b.complete(got!.task, { inline: true });
    got!.msg.ack();
    const done = await settled(running, 'inline result');
    streams.getMessage = getMessage;
    expect(done.status).toBe('completed');
    const ok = sent.outcome.status === 'ok' ? sent.outcome : undefined;
    expect(ok?.bundle).toBeTruthy();
    expect(ok?.bundle_object).toBeUndefined();
    expect(done.commit).toBe(ok!.commit);
    expect(await gitOut(b.repo.repo, 'rev-parse', `refs/heads/${done.branch!}`)).toBe(ok!.commit);
    expect(reads, 'the central process read the object store for an inline result').toEqual([]);
    expect((await objectNames(b)).filter((n) => n.includes('.result.'))).toEqual([]);
  });

  it('is applied without reading its branch first (created create-only), and applied again unchanged when it comes again after the branch was written', async () => {
    const b = (bench = await startBench(server.url));
    const store = await objectStoreFor(b.repo.repo);
    const read = store.read.bind(store);
    const refReads: string[] = [];
    store.read = (spec: string) => {
      if (spec.startsWith('refs/')) refReads.push(spec);
      return read(spec);
    };
    try {
      const task = b.addTask('t-noread');
      const running = b.execute(task);
      const got = await b.nextTask();
      const sent = await b.complete(got!.task, { inline: true });
      got!.msg.ack();
      const done = await settled(running, 'inline result');
      expect(done.status).toBe('completed');
      expect(refReads).toEqual([]);
      // The same result again on a new attempt of the task (a crash between the branch and the journal): the branch holds it already.
      const again = b.execute(task);
      const next = await b.nextTask();
      next!.msg.ack();
      await b.publishResult({ ...sent, attempt_id: next!.task.attempt_id });
      const twice = await settled(again, 'the same result again');
      expect(twice.status).toBe('completed');
      expect(twice.commit).toBe(done.commit);
      expect(await gitOut(b.repo.repo, 'rev-parse', `refs/heads/${done.branch!}`)).toBe(done.commit);
    } finally {
      store.read = read;
    }
  });

  it('is checked like a stored one: a truncated inline bundle fails the task with PAS_ERR_DIST_BUNDLE_INVALID and writes no branch', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t-inline-bad');
    const running = b.execute(task);
    const got = await b.nextTask();
    await b.complete(got!.task, { inline: true, bundleBytes: (bytes) => bytes.subarray(0, bytes.byteLength - 7) });
    got!.msg.ack();
    const done = await settled(running, 'truncated inline result');
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('PAS_ERR_DIST_BUNDLE_INVALID');
    expect(await gitOut(b.repo.repo, 'for-each-ref', '--format=%(refname)', 'refs/heads/pas/')).toBe('');
  });
  it('an attempt ended here without a result (its worker went offline) leaves one receipt saying so, and the retry its own: one line per attempt, as in-process', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t-gone');
    const first = b.execute(task);
    const one = await b.nextTask();
    b.remote.workerOffline(WORKER);
    expect((await settled(first, 'attempt on the offline worker')).error?.code).toBe('PAS_ERR_DIST_WORKER_OFFLINE');
    expect(b.receipts).toHaveLength(1);
    expect(b.receipts[0]).toMatchObject({ task_id: 't-gone', agent_id: PROGRAMMER, status: 'failed', error: { code: 'PAS_ERR_DIST_WORKER_OFFLINE' }, tokens: { input: null, output: null } });
    // The pool's retry is attempt 2 (the journal has it before the dispatch).
    const retry = { ...task, attempt: 2 };
    b.journal.upsertTask(retry, 'running');
    const second = b.execute(retry, undefined, 'Prog-012');
    const two = await b.nextTask('Prog-012');
    await b.complete(two!.task);
    two!.msg.ack();
    expect((await settled(second, 'retry')).status).toBe('completed');
    // The first attempt's late result is fenced: it adds no line.
    await b.complete(one!.task);
    one!.msg.ack();
    expect(await waitFor(() => b.logs.some((l) => l.code === 'PAS_ERR_DIST_STALE_RESULT' && l.attemptId === one!.task.attempt_id), 10_000)).toBe(true);
    expect(b.receipts.map((r) => [r.task_id, r.status])).toEqual([
      ['t-gone', 'failed'],
      ['t-gone', 'completed'],
    ]);
    expect(b.journal.receiptsOfJob(task.jobId).map((k) => k.attempt).sort()).toEqual([1, 2]);
  });
});
