/**
 * Hand-made git objects, packs and bundles for the tests of result bundles: trees written entry by
 * entry in the order given (so a test can make one git would never write), commits from their
 * lines, and real git's verdict on a pack (`git index-pack --strict`, what `fetch.fsckObjects` runs).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { formatBundleHeader } from '../../src/distribution/bundle-header.ts';
import { writePack, type PackObject } from '../../src/distribution/pack-file.ts';
import { gitOut } from './git-fixtures.ts';

export type Hash = 'sha1' | 'sha256';

export function oidOf(hash: Hash, type: string, data: Buffer): string {
  return createHash(hash).update(`${type} ${data.length}\0`).update(data).digest('hex');
}

/** A tree with these entries, in this order (names as bytes: latin1 strings or Buffers). */
export function rawTree(entries: ReadonlyArray<[mode: string, name: string | Buffer, oid: string]>): Buffer {
  return Buffer.concat(entries.flatMap(([mode, name, oid]) => [Buffer.from(`${mode} `, 'latin1'), Buffer.isBuffer(name) ? name : Buffer.from(name, 'latin1'), Buffer.from([0]), Buffer.from(oid, 'hex')]));
}

const WHO = 'Test User <test@example.com> 1700000000 +0000';

/** A commit's bytes; `lines` replaces the author and committer lines. */
export function commitBytes(tree: string, parents: readonly string[], lines: readonly string[] = [`author ${WHO}`, `committer ${WHO}`], message = 'crafted\n'): Buffer {
  return Buffer.from([`tree ${tree}`, ...parents.map((p) => `parent ${p}`), ...lines, '', message].join('\n'), 'latin1');
}

export interface CraftedResult {
  bundle: Buffer;
  pack: Buffer;
  commit: string;
}

/**
 * A result bundle of `objects` (the head commit among them, or `head` named) cut against `base`.
 * `heads` adds more head lines; `pack` replaces the pack.
 */
export function craftBundle(hash: Hash, base: string, objects: readonly PackObject[], opts: { head?: string; heads?: string[]; pack?: Buffer } = {}): CraftedResult {
  const headObject = objects.find((o) => o.type === 'commit');
  const commit = opts.head ?? oidOf(hash, 'commit', headObject!.data);
  const pack = opts.pack ?? writePack(objects, hash);
  const heads = [{ commit, ref: `refs/pas/result/${commit}` }, ...(opts.heads ?? []).map((c) => ({ commit: c, ref: `refs/pas/result/${c}` }))];
  return { bundle: Buffer.concat([formatBundleHeader(hash, [base], heads), pack]), pack, commit };
}

/** The result of a hand-made pack on top of `base`: a commit of `tree` (plus `more` objects). */
export function resultOf(hash: Hash, base: string, tree: Buffer, more: readonly PackObject[] = [], lines?: string[]): CraftedResult {
  const treeId = oidOf(hash, 'tree', tree);
  return craftBundle(hash, base, [{ type: 'commit', data: commitBytes(treeId, [base], lines) }, { type: 'tree', data: tree }, ...more]);
}

/** The pack's trailer made right again after a test changed its bytes. */
export function resealPack(hash: Hash, pack: Buffer): Buffer {
  const size = hash === 'sha1' ? 20 : 32;
  const body = pack.subarray(0, pack.length - size);
  return Buffer.concat([body, createHash(hash).update(body).digest()]);
}

/**
 * Real git's verdict on a pack for `repo` (which holds the base): the error of
 * `git index-pack --strict --fix-thin` in a scratch repository borrowing its objects, or null when
 * git takes it. Nothing is written to `repo`.
 */
export async function gitRefusal(repo: string, pack: Buffer): Promise<string | null> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'pas-verdict-'));
  try {
    const format = await gitOut(repo, 'rev-parse', '--show-object-format');
    await gitOut(scratch, 'init', '-q', '--bare', `--object-format=${format}`, '.');
    await writeFile(path.join(scratch, 'objects', 'info', 'alternates'), `${path.resolve(repo, await gitOut(repo, 'rev-parse', '--git-path', 'objects'))}\n`);
    const out = await execa('git', ['index-pack', '--strict', '--fix-thin', '--stdin'], { cwd: scratch, input: pack, reject: false });
    return out.exitCode === 0 ? null : out.stderr;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
