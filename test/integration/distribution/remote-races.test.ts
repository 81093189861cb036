/**
 * Races of the central side of remote programmers: a cancel against a re-dispatch or a result,
 * copies of one result, a restart in between. Real nats-server, journal and git; scripted worker.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gitOut, waitFor } from '../../support/git-fixtures.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';
import { openLink } from '../../../src/distribution/link.ts';
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

describe('remote programmers, central side, under races', () => {
  it('a task re-dispatched right after its attempt was cancelled runs as a new attempt, never adopting the cancelled one', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t7');
    const stop = new AbortController();
    const first = b.execute(task, stop.signal);
    const one = await b.nextTask();
    one!.msg.ack();
    // The programmer's timeout (or a cancel) stops the attempt, and the pool re-dispatches at once.
    stop.abort();
    const again = b.execute(task, undefined, 'Prog-012');
    expect((await settled(first, 'cancelled attempt')).status).toBe('cancelled');
    const two = await b.nextTask('Prog-012');
    expect(two, 'the re-dispatch published no task: it adopted the cancelled attempt').not.toBeNull();
    expect(two!.task.attempt_id).not.toBe(one!.task.attempt_id);
    await b.complete(two!.task);
    two!.msg.ack();
    const done = await settled(again, 're-dispatch');
    expect(done.status).toBe('completed');
    expect(done.programmerId).toBe('Prog-012');
  });

  it('a cancel that lands while the attempt\'s result is being applied: the re-dispatch runs a new attempt instead of waiting forever on the applied one', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t10');
    // The central process's read of the result bundle is held until the test lets it go.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reading!: () => void;
    const read = new Promise<void>((r) => (reading = r));
    // (It reads the bundle's one chunk straight from the stream, object-read.ts; nothing else here does.)
    const streams = b.link.nats.jsm.streams;
    const getMessage = streams.getMessage.bind(streams);
    streams.getMessage = async (stream, query) => {
      if ('last_by_subj' in query && query.last_by_subj.startsWith(`$O.${b.link.names.bundleBucket}.C.`)) {
        reading();
        await gate;
      }
      return getMessage(stream, query);
    };
    const stop = new AbortController();
    void b.execute(task, stop.signal);
    const one = await b.nextTask();
    await b.complete(one!.task);
    one!.msg.ack();
    await read; // the result is being applied now
    stop.abort();
    const again = b.execute(task, undefined, 'Prog-012');
    const two = await b.nextTask('Prog-012');
    release();
    expect(two, 'the re-dispatch published no task: it adopted the attempt whose result was being applied').not.toBeNull();
    await b.complete(two!.task);
    two!.msg.ack();
    const done = await settled(again, 're-dispatch');
    expect(done.status).toBe('completed');
    expect(await gitOut(b.repo.repo, 'rev-parse', 'refs/heads/pas/job-t10/t10')).toBe(done.commit);
  });

  it('a task dispatched again right after it finished keeps its new attempt record: the finished attempt\'s deferred clean-up leaves it', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t11');
    const first = b.execute(task);
    const one = await b.nextTask();
    const sent = await b.complete(one!.task);
    one!.msg.ack();
    expect((await settled(first, 'first attempt')).status).toBe('completed');
    // The journal has the finish: its result is acked and its record and bundle go once idle.
    b.journal.upsertTask(task, 'completed');
    b.remote.taskFinished(task.id);
    const again = b.execute({ ...task, attempt: 2 }, undefined, 'Prog-012');
    const two = await b.nextTask('Prog-012');
    expect(two!.task.attempt_id).not.toBe(one!.task.attempt_id);
    // The finished attempt's clean-up ran (its bundle is gone) and left the new attempt's record.
    const bundle = sent.outcome.status === 'ok' ? sent.outcome.bundle_object! : '';
    expect(await waitFor(async () => (await b.link.bundles.info(bundle).catch(() => null))?.deleted !== false, 10_000)).toBe(true);
    expect(await b.currentAttempt(task.id)).toBe(two!.task.attempt_id);
    await b.complete(two!.task);
    two!.msg.ack();
    expect((await settled(again, 're-dispatch')).status).toBe('completed');
  });

  it('a new attempt replaces the task branch that an abandoned attempt left (its result was written while a cancel raced it), as an in-process retry does', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t8');
    const repo = b.repo.repo;
    // What the abandoned attempt's import left: the task branch at its own commit.
    const stale = await gitOut(repo, 'commit-tree', `${b.repo.base}^{tree}`, '-p', b.repo.base, '-m', 'abandoned attempt');
    await gitOut(repo, 'update-ref', 'refs/heads/pas/job-t8/t8', stale);
    const result = b.execute(task);
    const got = await b.nextTask();
    const sent = await b.complete(got!.task);
    got!.msg.ack();
    const done = await settled(result, 'execute');
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('completed');
    const commit = sent.outcome.status === 'ok' ? sent.outcome.commit : '';
    expect(done.commit).toBe(commit);
    expect(await gitOut(repo, 'rev-parse', 'refs/heads/pas/job-t8/t8')).toBe(commit);
    expect(await gitOut(repo, 'rev-parse', 'main')).toBe(b.repo.base);
  });

  it('two copies of a result that arrived while the central process was down: the re-dispatch applies it, the copy does not take its bundle away', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t9');
    void b.execute(task);
    const got = await b.nextTask();
    // The central process goes down; the worker's result, and a copy of it (a broker restart), arrive meanwhile.
    await b.remote.stop();
    const sent = await b.complete(got!.task);
    got!.msg.ack();
    await b.publishResult(sent, `${sent.attempt_id}-copy`);
    await b.restart();
    const heldBoth = () => b.logs.filter((l) => l.msg === 'result of an earlier run held for the re-dispatch' && l.taskId === 't9').length === 2;
    expect(await waitFor(heldBoth, 10_000)).toBe(true);
    const again = await settled(b.execute(task), 're-dispatch');
    expect(again.error).toBeUndefined();
    expect(again.status).toBe('completed');
    expect(await gitOut(b.repo.repo, 'rev-parse', 'refs/heads/pas/job-t9/t9')).toBe(sent.outcome.status === 'ok' ? sent.outcome.commit : '');
  });
  it('an attempt recorded by a central process killed before it published the task is dispatched anew after the restart, not adopted and waited on until the task times out', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t12');
    // The process dies between the attempt's KV record and the task's publish: the publish never leaves.
    const js = b.link.nats.js;
    const publish = js.publish.bind(js);
    let atPublish!: () => void;
    const reached = new Promise<void>((r) => (atPublish = r));
    js.publish = ((subject: string, ...rest: Parameters<typeof publish> extends [unknown, ...infer R] ? R : never) => {
      if (subject !== b.link.names.subjects.task(PROGRAMMER)) return publish(subject, ...rest);
      atPublish();
      return new Promise(() => undefined);
    }) as typeof js.publish;
    void b.execute(task);
    await reached;
    const recorded = await b.currentAttempt(task.id);
    expect(recorded).toBeDefined();
    js.publish = publish;
    await b.restart();
    const again = b.execute(task);
    const got = await b.nextTask(PROGRAMMER, 5_000);
    expect(got, 'no task was published: the restarted process adopted an attempt no worker ever got').not.toBeNull();
    expect(got!.task.attempt_id).not.toBe(recorded);
    await b.complete(got!.task);
    got!.msg.ack();
    const done = await settled(again, 're-dispatch');
    expect(done.status).toBe('completed');
    expect(b.logs.some((l) => l.taskId === task.id && l.msg === 'remote attempt adopted')).toBe(false);
  });

  it('an attempt published but not yet taken by its worker when the central process died is adopted after the restart: the worker runs it once, no second attempt goes out', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t13');
    void b.execute(task);
    await waitFor(async () => (await b.link.nats.jsm.streams.info(b.link.names.taskStream)).state.messages === 1, 10_000);
    const recorded = await b.currentAttempt(task.id);
    await b.restart();
    const again = b.execute(task);
    const got = await b.nextTask();
    expect(got!.task.attempt_id).toBe(recorded);
    await b.complete(got!.task);
    got!.msg.ack();
    const done = await settled(again, 'adopted attempt');
    expect(done.status).toBe('completed');
    expect(b.logs.some((l) => l.taskId === task.id && l.msg === 'remote attempt adopted')).toBe(true);
    expect(await b.nextTask(PROGRAMMER, 1_000), 'a second attempt was published').toBeNull();
  });
  it('an attempt whose worker stored its result and acked its task while the restarted central process asked about it is adopted: its result applies, nothing runs twice', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t14');
    void b.execute(task);
    const got = await b.nextTask();
    await b.restart();
    // The worker finishes just as the restarted process looks for the task in its queue: the
    // queue no longer holds it (acked after the result was stored); the results stream does.
    const streams = b.link.nats.jsm.streams;
    const getMessage = streams.getMessage.bind(streams);
    streams.getMessage = async (stream, query) => {
      if (stream === b.link.names.taskStream) {
        await b.complete(got!.task);
        got!.msg.ack();
        return null;
      }
      return getMessage(stream, query);
    };
    const done = await settled(b.execute(task), 'adopted attempt');
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('completed');
    expect(b.logs.some((l) => l.taskId === task.id && l.msg === 'remote attempt adopted')).toBe(true);
    expect(await b.nextTask(PROGRAMMER, 1_000), 'a second attempt was published').toBeNull();
  });
  it('a worker declared offline: the forgotten attempt\'s record is deleted only while it is still that attempt\'s, never the re-dispatch written meanwhile', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t15');
    const first = b.execute(task);
    const one = await b.nextTask();
    // The clean-up's read of the record returns, then waits while the pool re-dispatches the task.
    const attempts = b.link.attempts;
    const get = attempts.get.bind(attempts);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let read!: () => void;
    const readDone = new Promise<void>((r) => (read = r));
    attempts.get = async (key, opts) => {
      const entry = await get(key, opts);
      if (key === task.id) {
        attempts.get = get;
        read();
        await gate;
      }
      return entry;
    };
    b.remote.workerOffline(WORKER);
    expect((await settled(first, 'attempt on the offline worker')).error?.code).toBe('PAS_ERR_DIST_WORKER_OFFLINE');
    await readDone;
    const again = b.execute(task, undefined, 'Prog-012');
    const two = await b.nextTask('Prog-012');
    expect(two!.task.attempt_id).not.toBe(one!.task.attempt_id);
    // The forgotten attempt's delete, once it has had its turn.
    const del = attempts.delete.bind(attempts);
    const deleted = new Promise<void>((resolve) => {
      attempts.delete = (key, opts) => {
        const done = del(key, opts);
        if (key === task.id) void done.then(resolve, resolve);
        return done;
      };
    });
    release();
    await deleted;
    expect(await b.currentAttempt(task.id), 'the re-dispatch\'s record was deleted: its worker would refuse to run it').toBe(two!.task.attempt_id);
    await b.complete(two!.task);
    two!.msg.ack();
    expect((await settled(again, 're-dispatch')).status).toBe('completed');
  });
  it('a result pulled by a central process that died before acking it (killed during its boot) comes back within seconds, not after the task ack_wait', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t16');
    void b.execute(task);
    const got = await b.nextTask();
    await b.remote.stop();
    await b.complete(got!.task);
    got!.msg.ack();
    // Another central process takes the result off the stream and dies before acking it.
    const dying = await openLink(b.link.settings, 'pas-central-dying');
    const pulled = await (await dying.nats.js.consumers.get(b.link.names.resultStream, 'central')).next({ expires: 5_000 });
    expect(pulled?.subject).toBe(b.link.names.subjects.result(PROGRAMMER));
    await dying.nats.nc.close();
    await b.restart();
    // ack_wait_ms is 30 s here: a result left to it would not be back within the 15 s this waits.
    const done = await settled(b.execute(task), 'adopted attempt', 15_000);
    expect(done.status).toBe('completed');
  });
  it('an attempt an earlier run of the central process gave up is over for the restarted one once its task runs as another attempt: its model calls are refused', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t18');
    const first = b.execute(task);
    const one = await b.nextTask();
    b.remote.workerOffline(WORKER);
    expect((await settled(first, 'attempt on the offline worker')).error?.code).toBe('PAS_ERR_DIST_WORKER_OFFLINE');
    expect(b.remote.attemptOver(one!.task.attempt_id)).toBe(true);
    // The restarted process never gave anything up itself; the task runs again, on the other programmer.
    const remote = await b.restart();
    b.journal.upsertTask({ ...task, attempt: 2 }, 'running');
    const again = b.execute({ ...task, attempt: 2 }, undefined, 'Prog-012');
    const two = await b.nextTask('Prog-012');
    expect(two!.task.attempt_id).not.toBe(one!.task.attempt_id);
    expect(remote.attemptOver(one!.task.attempt_id), 'the old attempt (its worker was paused, say) may still spend').toBe(true);
    expect(remote.attemptOver(two!.task.attempt_id)).toBe(false);
    await b.complete(two!.task);
    two!.msg.ack();
    expect((await settled(again, 're-dispatch')).status).toBe('completed');
  });
  it('an attempt an earlier run of the central process gave up, whose end its pool heard, is over for the restarted one before its task runs again', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t20');
    const first = b.execute(task);
    const one = await b.nextTask();
    b.remote.workerOffline(WORKER);
    expect((await settled(first, 'attempt on the offline worker')).error?.code).toBe('PAS_ERR_DIST_WORKER_OFFLINE');
    // The pool journals the attempt's end (its receipt was booked when the attempt was ended).
    b.journal.attemptEnded('t20');
    const remote = await b.restart();
    // Nothing of t20 runs yet (its re-dispatch waits for a programmer, or applies a held result).
    expect(remote.attemptOver(one!.task.attempt_id)).toBe(true);
  });
  it('an adopted attempt that its worker then loses books its receipt for the programmer it ran on and under its own attempt number, whichever programmer the pool picked after the restart', async () => {
    const b = (bench = await startBench(server.url));
    const task = b.addTask('t17');
    void b.execute(task);
    await waitFor(async () => (await b.link.nats.jsm.streams.info(b.link.names.taskStream)).state.messages === 1, 10_000);
    await b.restart();
    // The resumed task is attempt 2 in the journal; the attempt still out is attempt 1, on Prog-011.
    b.journal.upsertTask({ ...task, attempt: 2 }, 'running');
    const adopted = b.execute({ ...task, attempt: 2 }, undefined, 'Prog-012');
    expect(await waitFor(() => b.logs.some((l) => l.msg === 'remote attempt adopted' && l.taskId === 't17'), 10_000)).toBe(true);
    b.remote.workerOffline(WORKER);
    expect((await settled(adopted, 'adopted attempt')).error?.code).toBe('PAS_ERR_DIST_WORKER_OFFLINE');
    expect(b.receipts).toHaveLength(1);
    expect(b.receipts[0]).toMatchObject({ task_id: 't17', agent_id: PROGRAMMER, status: 'failed' });
    expect(b.journal.receiptsOfJob(task.jobId).map((k) => k.attempt)).toEqual([1]);
  });
});
