/**
 * Bundles travel between the central process and workers through JetStream's object store
 * (chunked, checksummed, surviving a broker restart), never inside a message.
 */
import type { ObjectStore } from '@nats-io/obj';
import { PasError } from '../errors.ts';
import type { JetStreamManager } from './nats-connection.ts';
import { readObject } from './object-read.ts';

/** The object name of an attempt's base or result bundle. */
export function bundleObjectName(attemptId: string, which: 'base' | 'result'): string {
  return `${attemptId.replace(/[^A-Za-z0-9_.:-]/g, '_')}.${which}.bundle`;
}

export interface StoredBundle {
  name: string;
  size: number;
  /** The store's digest (`SHA-256=…`), checked again on every read. */
  digest: string;
}

export async function putBundle(store: ObjectStore, name: string, bytes: Uint8Array): Promise<StoredBundle> {
  try {
    const info = await store.putBlob({ name }, bytes);
    return { name: info.name, size: info.size, digest: info.digest };
  } catch (err) {
    throw new PasError('PAS_ERR_DIST_BROKER', `cannot store bundle ${name}: ${(err as Error).message}`, { cause: err, details: { name } });
  }
}

/**
 * The bundle's bytes; PAS_ERR_DIST_BUNDLE_MISSING when the store has no such entry (expired,
 * deleted). With `jsm`, a bundle of one chunk is read directly from the stream (object-read.ts):
 * no consumer is set up on the broker for it.
 */
export async function getBundle(store: ObjectStore, name: string, jsm?: JetStreamManager): Promise<Uint8Array> {
  let bytes: Uint8Array | null;
  try {
    bytes = await (jsm ? readObject(store, jsm, name) : store.getBlob(name));
  } catch (err) {
    throw new PasError('PAS_ERR_DIST_BROKER', `cannot read bundle ${name}: ${(err as Error).message}`, { cause: err, details: { name } });
  }
  if (!bytes) throw new PasError('PAS_ERR_DIST_BUNDLE_MISSING', `bundle ${name} is not in the object store (expired or deleted)`, { details: { name } });
  return bytes;
}

/** Whether the store still holds the bundle (not expired, not deleted); a broker error answers false. */
export async function bundleStored(store: ObjectStore, name: string): Promise<boolean> {
  const info = await store.info(name).catch(() => null);
  return !!info && !info.deleted;
}

/** Drops a bundle once it is applied (the bucket's TTL drops forgotten ones). */
export async function deleteBundle(store: ObjectStore, name: string): Promise<void> {
  await store.delete(name).catch(() => {});
}
