import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleObjectName, getBundle, importResultBundle, makeBaseBundle, putBundle, repoKeyOf, WorkerRepoCache } from '../../../src/distribution/bundles.ts';
import { decodeMessage, encodeMessage } from '../../../src/distribution/messages.ts';
import { connectDistribution, connectNats, ensureStreams, type NatsHandles } from '../../../src/distribution/nats-connection.ts';
import { isPasError } from '../../../src/errors.ts';
import { exampleTask } from '../../support/distribution-fixtures.ts';
import { createTempRepo, gitOut, writeFiles } from '../../support/git-fixtures.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';

let server: NatsServerHandle;
let nats: NatsHandles;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
  nats = await connectNats(server.url, { name: 'pas-test' });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.close();
});

describe('JetStream for programmers on other hosts (a real nats-server)', () => {
  it('starts nats-server on a free port with its own store and comes back on the same port after kill -9', async () => {
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(server.pid).toBeGreaterThan(0);
    const { names, owners } = await ensureStreams(nats, 'restart');
    await owners.create('Prog-011', new TextEncoder().encode('gpu-1'));
    const firstPid = server.pid;
    await server.kill9();
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    const again = await connectNats(server.url, { name: 'pas-test-2' });
    try {
      const { owners: reopened } = await ensureStreams(again, 'restart');
      expect((await reopened.get('Prog-011'))?.string()).toBe('gpu-1');
      expect((await again.jsm.streams.info(names.taskStream)).config.retention).toBe('workqueue');
    } finally {
      await again.close();
    }
  }, 30_000);

  it('sets up the task work queue, the result stream, the owner bucket and the bundle store, named from the prefix, twice without harm', async () => {
    const first = await ensureStreams(nats, 'ci');
    await nats.js.publish(first.names.subjects.task('Prog-001'), encodeMessage('pas.v1.cancel', { kind: 'pas.v1.cancel', attempt_id: 'a1', task_id: 't1', programmer_id: 'Prog-001' }));
    await ensureStreams(nats, 'ci'); // a second process starting: nothing is lost
    expect((await nats.jsm.streams.info(first.names.taskStream)).state.messages).toBe(1);
    const tasks = await nats.jsm.streams.info(first.names.taskStream);
    expect(tasks.config).toMatchObject({ retention: 'workqueue', subjects: ['pas.v1.ci.task.*'] });
    const results = await nats.jsm.streams.info(first.names.resultStream);
    expect(results.config).toMatchObject({ retention: 'workqueue', subjects: ['pas.v1.ci.result.*', 'pas.v1.ci.spend.*', 'pas.v1.ci.breaker.outcome.*'] });
    // One owner per programmer: create is compare-and-set against "absent".
    const owner = first.owners;
    await owner.create('Prog-012', new TextEncoder().encode('gpu-1'));
    await expect(owner.create('Prog-012', new TextEncoder().encode('gpu-2'))).rejects.toThrow();
    expect((await owner.get('Prog-012'))?.string()).toBe('gpu-1');
  });

  it('stores a task published twice with the same attempt id once, and a worker pull gets it validated', async () => {
    const { names } = await ensureStreams(nats, 'dedupe');
    const task = exampleTask;
    const subject = names.subjects.task('Prog-011');
    const a = await nats.js.publish(subject, encodeMessage('pas.v1.task', task), { msgID: task.attempt_id });
    const b = await nats.js.publish(subject, encodeMessage('pas.v1.task', task), { msgID: task.attempt_id });
    expect(b.duplicate).toBe(true);
    expect(b.seq).toBe(a.seq);
    await nats.jsm.consumers.add(names.taskStream, { durable_name: 'Prog-011', filter_subject: subject, ack_policy: 'explicit' as never, max_ack_pending: 1 });
    const consumer = await nats.js.consumers.get(names.taskStream, 'Prog-011');
    const msg = await consumer.next({ expires: 5000 });
    expect(msg).not.toBeNull();
    expect(decodeMessage('pas.v1.task', msg!.data)).toEqual(task);
    msg!.ack();
    expect((await nats.jsm.streams.info(names.taskStream)).state.messages).toBeLessThanOrEqual(1);
  });

  it('round-trips a multi-megabyte bundle through the object store, and a result bundle from a worker lands as a ref', async () => {
    const central = await createTempRepo({ 'README.md': '# big\n' });
    const workerDir = `${central.root}/worker`;
    try {
      await writeFiles(central.repo, { 'blob.bin': randomBytes(3 * 1024 * 1024) });
      await gitOut(central.repo, 'add', '--all');
      await gitOut(central.repo, 'commit', '-q', '-m', 'big');
      const head = await gitOut(central.repo, 'rev-parse', 'HEAD');
      const { bundles } = await ensureStreams(nats, 'bundles');

      const base = await makeBaseBundle(central.repo, head);
      expect(base.bytes!.byteLength).toBeGreaterThan(3 * 1024 * 1024);
      const name = bundleObjectName('job-2:t1:a1', 'base');
      const stored = await putBundle(bundles, name, base.bytes!);
      expect(stored.size).toBe(base.bytes!.byteLength);
      const fetched = await getBundle(bundles, name);
      expect(Buffer.from(fetched).equals(Buffer.from(base.bytes!))).toBe(true);

      const cache = new WorkerRepoCache(workerDir);
      const repoKey = await repoKeyOf(central.repo);
      const clone = await cache.ensureBase(repoKey, fetched, head);
      await gitOut(clone, 'checkout', '-q', '--detach', head);
      await writeFiles(clone, { 'README.md': '# big, edited on a worker\n' });
      await gitOut(clone, 'commit', '-q', '-am', 'worker edit');
      const commit = await gitOut(clone, 'rev-parse', 'HEAD');
      const resultName = bundleObjectName('job-2:t1:a1', 'result');
      await putBundle(bundles, resultName, await cache.makeResultBundle(clone, head, commit));
      const result = await getBundle(bundles, resultName);
      expect(await importResultBundle(central.repo, result, { base: head, expectedRef: 'refs/heads/pas/job-2/t1', attemptId: 'job-2:t1:a1', commit })).toBe(commit);
      expect(await gitOut(central.repo, 'show', 'pas/job-2/t1:README.md')).toBe('# big, edited on a worker');

      const missing = await getBundle(bundles, 'nope.base.bundle').catch((err: unknown) => err);
      expect(isPasError(missing, 'PAS_ERR_DIST_BUNDLE_MISSING')).toBe(true);
    } finally {
      await rm(workerDir, { recursive: true, force: true });
      await central.cleanup();
    }
  }, 60_000);

  it('refuses to take over a stream of that name set up differently, rather than lose it', async () => {
    const { names } = await ensureStreams(nats, 'clash');
    await nats.jsm.streams.delete(names.resultStream);
    await nats.jsm.streams.add({ name: names.resultStream, subjects: names.streamSubjects.result, retention: 'limits' as never, storage: 'file' as never });
    const err = await ensureStreams(nats, 'clash').catch((e: unknown) => e);
    expect(isPasError(err, 'PAS_ERR_DIST_BROKER')).toBe(true);
    expect((err as Error).message).toContain('use another distribution.prefix');
    expect((await nats.jsm.streams.info(names.resultStream)).config.retention).toBe('limits');
  });

  it('connects with the token named by distribution.token_env, and refuses a missing variable or a wrong token', async () => {
    const guarded = await startNatsServer({ token: 's3cret-broker-token' });
    try {
      const config = { nats_url: guarded.url, token_env: 'PAS_NATS_TOKEN', request_timeout_ms: 2000 };
      const ok = await connectDistribution(config, { name: 'central', env: { PAS_NATS_TOKEN: 's3cret-broker-token' } });
      await ok.close();
      const unset = await connectDistribution(config, { name: 'central', env: {} }).catch((e: unknown) => e);
      expect(isPasError(unset, 'PAS_ERR_DIST_BROKER')).toBe(true);
      expect((unset as Error).message).toContain('PAS_NATS_TOKEN, which is not set');
      const wrong = await connectDistribution(config, { name: 'central', env: { PAS_NATS_TOKEN: 'nope' } }).catch((e: unknown) => e);
      expect(isPasError(wrong, 'PAS_ERR_DIST_BROKER')).toBe(true);
      expect((wrong as Error).message).not.toContain('nope');
    } finally {
      await guarded.close();
    }
  }, 30_000);

  it('reports a broker that is not there as PAS_ERR_DIST_BROKER', async () => {
    const down = await startNatsServer();
    const url = down.url;
    await down.close();
    const err = await connectNats(url, { timeoutMs: 1000, reconnect: false }).catch((e: unknown) => e);
    expect(isPasError(err, 'PAS_ERR_DIST_BROKER')).toBe(true);
    expect((err as Error).message).toContain(url.replace('nats://', ''));
  }, 30_000);
});
