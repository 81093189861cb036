/**
 * A worker's small result bundle travels inside its `pas.v1.result` (no object store round trips
 * on the way out or in) and is held to every check a stored bundle is. Real nats-server, journal
 * and git; scripted worker.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gitOut } from '../../support/git-fixtures.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';
import { settled, startBench, type Bench } from './central-harness.ts';

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

const objectNames = async (b: Bench) => {
  const names: string[] = [];
  for (const info of await b.link.bundles.list()) if (!info.deleted) names.push(info.name);
  return names;
};

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
});
