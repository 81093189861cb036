/**
 * Git's pack format (`PACK`, version 2) for packs of whole objects, the kind a result bundle made
 * by a worker carries: written here without deltas, and read here when a pack holds only whole
 * commits, trees and blobs. Anything else (deltas, tags, another version, a huge object) is
 * reported as unsupported so the caller hands the pack to git, which reads every pack.
 *
 * Layout: `PACK`, version (u32 BE), object count (u32 BE); per object a header (type in bits 6–4
 * of the first byte, size in 4 + 7·n bits, high bit = more bytes) and the object's zlib stream;
 * then the repository's hash of everything before it.
 */
import { createHash } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { objectHeader } from '../executors/object-store.ts';
import { deflateOptions, packEntryHeader } from '../executors/pack-format.ts';

export type PackObjectType = 'commit' | 'tree' | 'blob';

export interface PackObject {
  type: PackObjectType;
  data: Buffer;
}

export interface ReadObject extends PackObject {
  oid: string;
}

export type PackRead =
  | { kind: 'objects'; objects: ReadObject[] }
  /** Well-formed as far as read, but not for this reader (git reads it). */
  | { kind: 'unsupported'; reason: string }
  /** Not a pack git would take either. */
  | { kind: 'invalid'; problem: string };

const TYPE_CODE: Record<PackObjectType, number> = { commit: 1, tree: 2, blob: 3 };
const CODE_TYPE: Record<number, PackObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob' };
const OTHER_CODE: Record<number, string> = { 4: 'a tag', 6: 'an offset delta', 7: 'a reference delta' };
/** Bigger objects are left to git (it streams them). */
export const MAX_INPROCESS_OBJECT = 64 * 2 ** 20;
/**
 * Nor more than this many bytes in all (inflated): a small hostile pack of highly compressible
 * objects must not fill this process's memory or hold its event loop (git streams them to disk).
 */
export const MAX_INPROCESS_TOTAL = 32 * 2 ** 20;

export interface PackLimits {
  /** Bytes of one object read in-process (default MAX_INPROCESS_OBJECT). */
  object: number;
  /** Bytes of all objects read in-process (default MAX_INPROCESS_TOTAL). */
  total: number;
}

/** A pack of these objects, whole (no deltas), its trailer the `hash` of the bytes before it. */
export function writePack(objects: readonly PackObject[], hash: 'sha1' | 'sha256'): Buffer {
  const head = Buffer.alloc(12);
  head.write('PACK', 0, 'latin1');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(objects.length, 8);
  const parts: Buffer[] = [head];
  // The level git's pack.compression defaults to is 6; 1 is faster and the bundles are short-lived.
  // A window that fits the object: the central process inflates it with a window as small.
  for (const o of objects) parts.push(packEntryHeader(TYPE_CODE[o.type], o.data.length), deflateSync(o.data, deflateOptions(o.data.length)));
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash(hash).update(body).digest()]);
}

/**
 * Reads a pack of whole commits, trees and blobs, checking what index-pack checks of such a pack:
 * the trailer is the pack's hash, every object inflates to its stated size, no object is there
 * twice, the count is exact and nothing follows the last object. Each object comes with its id.
 */
export function readPack(bytes: Uint8Array, hash: 'sha1' | 'sha256', limits: PackLimits = { object: MAX_INPROCESS_OBJECT, total: MAX_INPROCESS_TOTAL }): PackRead {
  const pack = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hashBytes = hash === 'sha1' ? 20 : 32;
  if (pack.length < 12 + hashBytes) return { kind: 'invalid', problem: `the pack is truncated (${pack.length} bytes)` };
  if (pack.toString('latin1', 0, 4) !== 'PACK') return { kind: 'invalid', problem: 'no pack signature' };
  const version = pack.readUInt32BE(4);
  if (version !== 2) return { kind: 'unsupported', reason: `pack version ${version}` };
  const end = pack.length - hashBytes;
  if (!createHash(hash).update(pack.subarray(0, end)).digest().equals(pack.subarray(end))) return { kind: 'invalid', problem: 'the pack trailer is not the hash of the pack (corrupt or truncated)' };
  const count = pack.readUInt32BE(8);
  const objects: ReadObject[] = [];
  const seen = new Set<string>();
  let inflated = 0;
  let at = 12;
  for (let n = 0; n < count; n++) {
    if (at >= end) return { kind: 'invalid', problem: `the pack is truncated: ${n} of ${count} objects` };
    const first = pack[at++]!;
    const code = (first >> 4) & 7;
    let size = first & 0x0f;
    let more = (first & 0x80) !== 0;
    for (let scale = 16; more; scale *= 128) {
      if (at >= end || scale > 2 ** 46) return { kind: 'invalid', problem: `object ${n}: bad size header` };
      const byte = pack[at++]!;
      size += (byte & 0x7f) * scale;
      more = (byte & 0x80) !== 0;
    }
    const type = CODE_TYPE[code];
    if (!type) return OTHER_CODE[code] ? { kind: 'unsupported', reason: `object ${n} is ${OTHER_CODE[code]}` } : { kind: 'invalid', problem: `object ${n} has type ${code}` };
    if (size > limits.object) return { kind: 'unsupported', reason: `object ${n} holds ${size} bytes` };
    inflated += size;
    if (inflated > limits.total) return { kind: 'unsupported', reason: `the objects hold more than ${limits.total} bytes in all` };
    let data: Buffer;
    let used: number;
    try {
      // `info` answers the engine too: its bytesWritten is how much of the input the zlib stream used.
      const out = inflateSync(pack.subarray(at, end), { info: true, maxOutputLength: Math.max(size, 1) }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
      data = out.buffer;
      used = out.engine.bytesWritten;
    } catch (err) {
      return { kind: 'invalid', problem: `object ${n} does not inflate to ${size} bytes: ${(err as Error).message}` };
    }
    if (data.length !== size) return { kind: 'invalid', problem: `object ${n} inflates to ${data.length} bytes, its header says ${size}` };
    at += used;
    const oid = createHash(hash).update(objectHeader(type, size)).update(data).digest('hex');
    if (seen.has(oid)) return { kind: 'invalid', problem: `object ${oid} is in the pack twice` };
    seen.add(oid);
    objects.push({ type, data, oid });
  }
  if (at !== end) return { kind: 'invalid', problem: `${end - at} bytes of junk after the pack's ${count} objects` };
  return { kind: 'objects', objects };
}
