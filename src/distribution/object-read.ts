/**
 * Reads an object of JetStream's object store that fits in one chunk with two direct stream reads
 * (its meta entry, then its chunk) instead of the client's `get`, which sets up an ordered push
 * consumer on the broker for every read. Measured here (nats-server 2.9, a 1.5 KiB bundle): the
 * client's `getBlob` costs ~1.3–1.7 ms of this process's CPU and ~3.8 ms of the broker's per read;
 * this ~0.4 ms and ~0.3 ms. The central process reads one result bundle per remote task.
 *
 * The object store's layout (ADR-20): stream `OBJ_<bucket>`, chunks on `$O.<bucket>.C.<nuid>`,
 * the meta entry (size, chunk count, `SHA-256=` digest) read through `ObjectStore.info`. The
 * bytes are checked against the recorded size and digest, as the client's `get` does. Larger
 * objects and links go through the client's `getBlob`.
 */
import { createHash } from 'node:crypto';
import type { JetStreamManager, ObjectStore } from './nats-connection.ts';

const DIGEST_PREFIX = 'SHA-256=';

/** The object's bytes; null when the store has no such object (never put, deleted, or its chunk is gone). */
export async function readObject(store: ObjectStore, jsm: JetStreamManager, name: string): Promise<Uint8Array | null> {
  const info = await store.info(name);
  if (!info || info.deleted) return null;
  if (info.chunks !== 1 || info.options?.link || !info.digest.startsWith(DIGEST_PREFIX)) return store.getBlob(name);
  const chunk = await jsm.streams.getMessage(`OBJ_${info.bucket}`, { last_by_subj: `$O.${info.bucket}.C.${info.nuid}` });
  // Deleted between the two reads (the meta entry is marked first, then the chunk purged).
  if (!chunk) return null;
  const data = chunk.data;
  const digest = createHash('sha256').update(data).digest();
  // The client writes the digest base64url with padding; Buffer's base64 reads both alphabets.
  const recorded = Buffer.from(info.digest.slice(DIGEST_PREFIX.length), 'base64');
  if (data.length !== info.size || !digest.equals(recorded)) {
    throw new Error(`received a corrupt object ${name}: ${data.length} bytes with digest SHA-256=${digest.toString('base64url')}, the store recorded ${info.size} bytes with ${info.digest}`);
  }
  return data;
}
