/** PACK v2 of whole objects: what PAS writes git reads, and what git writes (without deltas) PAS reads. */
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_INPROCESS_TOTAL, readPack, writePack, type PackObject } from '../../../src/distribution/pack-file.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { oidOf } from '../../support/pack-fixtures.ts';
import { deflateOptions } from '../../../src/executors/pack-format.ts';

let repo: TempRepo;

beforeEach(async () => {
  repo = await createTempRepo({ 'README.md': '# pack\n' });
});

afterEach(() => repo.cleanup());

/** Blobs of 0 B to 1 MiB, text and random bytes (random bytes do not compress: stored zlib blocks). */
function blobs(): PackObject[] {
  const sizes = [1, 15, 16, 127, 128, 2047, 2048, 65_535, 65_536, 300_000, 2 ** 20];
  return [{ type: 'blob' as const, data: Buffer.alloc(0) }, ...sizes.flatMap((n) => [
    { type: 'blob' as const, data: Buffer.from('line of text\n'.repeat(Math.ceil(n / 13)).slice(0, n)) },
    { type: 'blob' as const, data: randomBytes(n) },
  ])];
}

describe('packs of whole objects', () => {
  it('reads back each object of a pack it wrote, whatever its size: each zlib stream ends exactly where the engine says', () => {
    const objects = blobs();
    const read = readPack(writePack(objects, 'sha1'), 'sha1');
    expect(read.kind).toBe('objects');
    if (read.kind !== 'objects') return;
    expect(read.objects.map((o) => o.data.length)).toEqual(objects.map((o) => o.data.length));
    expect(read.objects.every((o, i) => o.data.equals(objects[i]!.data))).toBe(true);
    expect(read.objects.map((o) => o.oid)).toEqual(objects.map((o) => oidOf('sha1', 'blob', o.data)));
  });

  it('writes packs git indexes and reads packs git wrote, at every zlib level git may use', async () => {
    const objects = blobs();
    const pack = writePack(objects, 'sha1');
    const indexed = await execa('git', ['index-pack', '--strict', '--stdin'], { cwd: repo.repo, input: pack });
    expect(indexed.stdout).toMatch(/^pack\t[0-9a-f]{40}$/);
    const ids = objects.map((o) => oidOf('sha1', 'blob', o.data));
    for (const level of [0, 1, 6, 9]) {
      // Whole objects only (--window=0: no deltas), compressed the way git compresses at this level.
      const out = await execa('git', ['-c', `pack.compression=${level}`, 'pack-objects', '--window=0', '--no-reuse-object', '--stdout'], { cwd: repo.repo, input: `${ids.join('\n')}\n`, encoding: 'buffer' });
      const read = readPack(out.stdout, 'sha1');
      expect(read.kind).toBe('objects');
      if (read.kind === 'objects') expect(read.objects.map((o) => o.oid).sort()).toEqual([...new Set(ids)].sort());
    }
    expect(await gitOut(repo.repo, 'cat-file', '-s', ids[ids.length - 1]!)).toBe(String(2 ** 20));
  });

  it('deflates each object with a window that fits it: a commit-sized object asks its reader for 512 bytes of window, one past 32 KiB for the whole 32 KiB', () => {
    // The zlib header's first byte: (log2(window) - 8) << 4 | 8 (deflate).
    const windowOf = (data: Buffer) => {
      const pack = writePack([{ type: 'blob', data }], 'sha1');
      const at = 12 + (data.length < 16 ? 1 : data.length < 2048 ? 2 : data.length < 262_144 ? 3 : 4);
      return 2 ** ((pack[at]! >> 4) + 8);
    };
    expect(windowOf(Buffer.from('tree x\nparent y\n\nwork\n'))).toBe(512);
    expect(windowOf(Buffer.alloc(3_000, 'a'))).toBe(4_096);
    expect(windowOf(Buffer.alloc(40_000, 'a'))).toBe(32_768);
    expect(deflateOptions(2 ** 20)).toEqual({ level: 1, windowBits: 15 });
  });

  it('leaves to git a pack whose objects hold more than the in-process total, before inflating past it', () => {
    const mib = Buffer.alloc(2 ** 20, 'a');
    const three = writePack([0, 1, 2].map((i) => ({ type: 'blob' as const, data: Buffer.concat([mib, Buffer.from([i])]) })), 'sha1');
    expect(readPack(three, 'sha1', { object: 2 ** 21, total: 2 * 2 ** 20 + 10 })).toEqual({ kind: 'unsupported', reason: expect.stringContaining('in all') });
    expect(readPack(three, 'sha1', { object: 2 ** 21, total: 4 * 2 ** 20 }).kind).toBe('objects');
    // A few kilobytes of pack that would inflate to more than the default total: git reads it.
    const big = Buffer.alloc(MAX_INPROCESS_TOTAL / 4, 0);
    const bomb = writePack([0, 1, 2, 3, 4].map((i) => ({ type: 'blob' as const, data: Buffer.concat([big, Buffer.from([i])]) })), 'sha1');
    expect(bomb.length).toBeLessThan(2 ** 20);
    expect(readPack(bomb, 'sha1')).toEqual({ kind: 'unsupported', reason: expect.stringContaining('in all') });
  });
});
