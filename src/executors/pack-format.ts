/**
 * Git's pack (`PACK` version 2, whole objects, no deltas) and its index (`.idx` version 2), built
 * in memory. The functions here take what they need from node as arguments and use nothing else
 * from outside (no import, no module-level value): the object writer's threads run their source
 * text (see object-writer.ts), and the event loop's bundle writer calls them directly.
 *
 * Pack: `PACK`, version (u32 BE), object count (u32 BE); per object a header (type in bits 6–4 of
 * the first byte, size in 4 + 7·n bits, high bit = more bytes) and the object's zlib stream; then
 * the repository's hash of everything before it.
 *
 * Index v2 (gitformat-pack): `\377tOc`, version 2; 256 cumulative counts by the ids' first byte;
 * the ids sorted (20 bytes each, 32 in a SHA-256 repository); each object's CRC-32 of its packed
 * bytes; each one's offset in the pack (u32; with the high bit set, an index into a table of u64
 * offsets that follows, for packs past 2 GiB); the pack's trailer; the hash of the index before it.
 */

/** What the pack functions need from node (zlib, crypto), passed in. */
export interface PackLib {
  deflateSync: (data: Uint8Array, options: { level: number; windowBits?: number }) => Buffer;
  crc32: (data: Uint8Array, value?: number) => number;
  createHash: (algorithm: string) => { update(data: Uint8Array): { digest(): Buffer }; digest(): Buffer };
}

/** A loose object's bytes as hashed: `<type> <size>\0<data>`, and its id (hex). */
export interface RawObject {
  oid: string;
  raw: Uint8Array;
}

export interface BuiltPack {
  /** The pack's trailer in hex: its name is `pack-<name>.pack` / `.idx`. */
  name: string;
  pack: Buffer;
  idx: Buffer;
}

/**
 * zlib's options for one git object of `size` bytes: level 1 (git's loose default), and a window
 * just big enough for the whole object (2^9 to 2^15 bytes). The stream is the same any zlib
 * inflates (git included: a window up to 32 KiB is read by any); a small object no longer costs a
 * 32 KiB window set up and cleared on both sides (most of deflating a commit, a tree or a small file).
 */
export function deflateOptions(size: number): { level: number; windowBits: number } {
  let windowBits = 9;
  // zlib keeps 262 bytes of the window for lookahead: an object within the window is deflated as with the biggest.
  while (windowBits < 15 && 2 ** windowBits < size + 262) windowBits++;
  return { level: 1, windowBits };
}

/** A pack entry's header: type code (1 commit, 2 tree, 3 blob, 4 tag) and inflated size. */
export function packEntryHeader(type: number, size: number): Buffer {
  const bytes: number[] = [];
  let byte = (type << 4) | (size & 0x0f);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes.push(byte | 0x80);
    byte = rest % 128;
    rest = Math.floor(rest / 128);
  }
  bytes.push(byte);
  return Buffer.from(bytes);
}

/**
 * One pack of these objects (each once, whatever the repeats) and its index. The hash (SHA-1 or
 * SHA-256) follows from the ids' length. Objects are deflated at zlib level 1 (git's loose default;
 * a background repack recompresses what it rolls up), each with a window that fits it (deflateOptions).
 */
export function buildPackWithIndex(objects: readonly RawObject[], lib: PackLib): BuiltPack {
  const hashBytes = objects.length > 0 && objects[0]!.oid.length === 64 ? 32 : 20;
  const algorithm = hashBytes === 32 ? 'sha256' : 'sha1';
  const codes: Record<string, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
  const head = Buffer.alloc(12);
  const parts: Buffer[] = [head];
  const entries: Array<{ oid: string; offset: number; crc: number }> = [];
  const seen = new Set<string>();
  let offset = 12;
  for (const object of objects) {
    if (seen.has(object.oid)) continue;
    if (object.oid.length !== hashBytes * 2) throw new Error(`object id ${object.oid} is not ${hashBytes * 2} hex digits`);
    seen.add(object.oid);
    const raw = object.raw;
    const space = raw.indexOf(0x20);
    const nul = raw.indexOf(0, space);
    const type = space > 0 ? codes[Buffer.from(raw.buffer, raw.byteOffset, space).toString('latin1')] : undefined;
    const size = nul > space ? Number(Buffer.from(raw.buffer, raw.byteOffset + space + 1, nul - space - 1).toString('latin1')) : Number.NaN;
    if (type === undefined || size !== raw.length - nul - 1) throw new Error(`object ${object.oid} has no valid header`);
    const header = packEntryHeader(type, size);
    const body = lib.deflateSync(raw.subarray(nul + 1), deflateOptions(size));
    entries.push({ oid: object.oid, offset, crc: lib.crc32(body, lib.crc32(header)) });
    parts.push(header, body);
    offset += header.length + body.length;
  }
  head.write('PACK', 0, 'latin1');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(entries.length, 8);
  const body = Buffer.concat(parts, offset);
  const trailer = lib.createHash(algorithm).update(body).digest();
  const pack = Buffer.concat([body, trailer], offset + hashBytes);

  entries.sort((a, b) => (a.oid < b.oid ? -1 : a.oid > b.oid ? 1 : 0));
  const n = entries.length;
  let large = 0;
  for (const e of entries) if (e.offset >= 0x80000000) large++;
  const size = 8 + 256 * 4 + n * (hashBytes + 8) + large * 8 + 2 * hashBytes;
  const idx = Buffer.alloc(size);
  idx.writeUInt32BE(0xff744f63, 0);
  idx.writeUInt32BE(2, 4);
  const fanout = new Uint32Array(256);
  for (const e of entries) fanout[Number.parseInt(e.oid.slice(0, 2), 16)]!++;
  let total = 0;
  for (let b = 0; b < 256; b++) {
    total += fanout[b]!;
    idx.writeUInt32BE(total, 8 + b * 4);
  }
  const names = 8 + 1024;
  const crcs = names + n * hashBytes;
  const offsets = crcs + n * 4;
  const wide = offsets + n * 4;
  let nextWide = 0;
  entries.forEach((e, i) => {
    idx.write(e.oid, names + i * hashBytes, 'hex');
    idx.writeUInt32BE(e.crc >>> 0, crcs + i * 4);
    if (e.offset < 0x80000000) idx.writeUInt32BE(e.offset, offsets + i * 4);
    else {
      idx.writeUInt32BE((0x80000000 | nextWide) >>> 0, offsets + i * 4);
      idx.writeBigUInt64BE(BigInt(e.offset), wide + nextWide * 8);
      nextWide++;
    }
  });
  const packHash = wide + large * 8;
  trailer.copy(idx, packHash);
  lib.createHash(algorithm).update(idx.subarray(0, packHash + hashBytes)).digest().copy(idx, packHash + hashBytes);
  return { name: trailer.toString('hex'), pack, idx };
}
