import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteBundle, getBundle, putBundle } from '../../../src/distribution/bundle-store.ts';
import { connectNats, ensureStreams, type NatsHandles } from '../../../src/distribution/nats-connection.ts';
import type { ObjectStore } from '../../../src/distribution/nats-connection.ts';
import { readObject } from '../../../src/distribution/object-read.ts';
import { isPasError } from '../../../src/errors.ts';
import { startNatsServer, type NatsServerHandle } from '../../support/nats-server.ts';

let server: NatsServerHandle;
let nats: NatsHandles;
let store: ObjectStore;
let bucket: string;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
  nats = await connectNats(server.url, { name: 'pas-test' });
  const streams = await ensureStreams(nats, 'objread');
  store = streams.bundles;
  bucket = streams.names.bundleBucket;
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.close();
});

/** The object store's meta subject of `name` (ADR-20: base64url with padding). */
const metaSubject = (name: string) => `$O.${bucket}.M.${Buffer.from(name).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return isPasError(err) ? `${err.code}: ${err.message}` : `not coded: ${String(err)}`;
  }
  return 'no error';
}

describe('reading a bundle from the object store', () => {
  it('reads a bundle of one chunk straight from the stream, the same bytes, with no consumer set up on the broker', async () => {
    const bytes = randomBytes(3_000);
    await putBundle(store, 'one-chunk.result.bundle', bytes);
    const before = (await nats.jsm.streams.info(`OBJ_${bucket}`)).state.consumer_count;
    expect(Buffer.from(await getBundle(store, 'one-chunk.result.bundle', nats.jsm)).equals(bytes)).toBe(true);
    expect((await nats.jsm.streams.info(`OBJ_${bucket}`)).state.consumer_count).toBe(before);
  });

  it('reads a bundle of many chunks and an empty one through the client, the same bytes', async () => {
    const bytes = randomBytes(5_000);
    await store.putBlob({ name: 'many-chunks.result.bundle', options: { max_chunk_size: 1_024 } }, bytes);
    expect((await store.info('many-chunks.result.bundle'))?.chunks).toBe(5);
    expect(Buffer.from(await getBundle(store, 'many-chunks.result.bundle', nats.jsm)).equals(bytes)).toBe(true);
    await putBundle(store, 'empty.result.bundle', new Uint8Array(0));
    expect((await readObject(store, nats.jsm, 'empty.result.bundle'))?.length).toBe(0);
  });

  it('refuses a bundle whose bytes do not match the digest the store recorded', async () => {
    await putBundle(store, 'tampered.result.bundle', randomBytes(2_000));
    const meta = (await nats.jsm.streams.getMessage(`OBJ_${bucket}`, { last_by_subj: metaSubject('tampered.result.bundle') }))!.json<Record<string, unknown>>();
    const other = Buffer.from(randomBytes(32)).toString('base64url');
    await nats.js.publish(metaSubject('tampered.result.bundle'), JSON.stringify({ ...meta, digest: `SHA-256=${other}` }));
    expect((await store.info('tampered.result.bundle'))?.digest).toBe(`SHA-256=${other}`);
    expect(await codeOf(getBundle(store, 'tampered.result.bundle', nats.jsm))).toMatch(/^PAS_ERR_DIST_BROKER: cannot read bundle tampered\.result\.bundle: received a corrupt object/);
  });

  it('answers PAS_ERR_DIST_BUNDLE_MISSING for a bundle deleted, never put, or whose chunk is gone', async () => {
    await putBundle(store, 'deleted.result.bundle', randomBytes(100));
    await deleteBundle(store, 'deleted.result.bundle');
    expect(await codeOf(getBundle(store, 'deleted.result.bundle', nats.jsm))).toMatch(/^PAS_ERR_DIST_BUNDLE_MISSING/);
    expect(await codeOf(getBundle(store, 'never-put.result.bundle', nats.jsm))).toMatch(/^PAS_ERR_DIST_BUNDLE_MISSING/);
    await putBundle(store, 'chunk-gone.result.bundle', randomBytes(100));
    const info = (await store.info('chunk-gone.result.bundle'))!;
    await nats.jsm.streams.purge(`OBJ_${bucket}`, { filter: `$O.${bucket}.C.${info.nuid}` });
    expect(await codeOf(getBundle(store, 'chunk-gone.result.bundle', nats.jsm))).toMatch(/^PAS_ERR_DIST_BUNDLE_MISSING/);
  });
});
