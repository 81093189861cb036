import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { writePack } from '../../../src/distribution/pack-file.ts';
import { ObjectWriter, PACK_FROM } from '../../../src/executors/object-writer.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const swapThenExit = fileURLToPath(new URL('./fixtures/writer-swap-then-exit.ts', import.meta.url));
const burstsForever = fileURLToPath(new URL('./fixtures/writer-bursts-forever.ts', import.meta.url));

let fixture: TempRepo | undefined;
let writer: ObjectWriter | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
  await writer?.close();
  writer = undefined;
  await fixture?.cleanup();
  fixture = undefined;
});

function blob(text: string, hash: 'sha1' | 'sha256' = 'sha1'): { oid: string; raw: Buffer } {
  const data = Buffer.from(text);
  const raw = Buffer.concat([Buffer.from(`blob ${data.length}\0`), data]);
  return { oid: createHash(hash).update(raw).digest('hex'), raw };
}

/** Files in an objects folder: packs (by kind), loose objects, temporary files. */
function listObjects(objects: string): { packs: string[]; idx: string[]; loose: string[]; temporary: string[] } {
  const all = readdirSync(objects, { recursive: true }).map(String);
  return {
    packs: all.filter((f) => /^pack\/pack-[0-9a-f]+\.pack$/.test(f)),
    idx: all.filter((f) => /^pack\/pack-[0-9a-f]+\.idx$/.test(f)),
    loose: all.filter((f) => /^[0-9a-f]{2}\/[0-9a-f]{38,62}$/.test(f)),
    temporary: all.filter((f) => /tmp_/.test(f)),
  };
}

describe('the object writer threads', () => {
  it('writes a burst of 100 objects asked for in one iteration as ONE pack and its index (read-only), no loose object and no temporary file; git reads each and fsck --strict is clean', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    const before = listObjects(objects);
    writer = new ObjectWriter();
    const texts = Array.from({ length: 100 }, (_, i) => `line ${i}\n`.repeat(i + 1));
    // The same object asked twice in the burst is written once.
    await Promise.all([...texts, texts[0]!].map((t) => writer!.write(objects, blob(t))));
    const after = listObjects(objects);
    expect(after.loose).toEqual(before.loose);
    expect(after.temporary).toEqual([]);
    const newPacks = after.packs.filter((p) => !before.packs.includes(p));
    expect(newPacks).toHaveLength(1);
    const idx = newPacks[0]!.replace(/\.pack$/, '.idx');
    expect(after.idx).toContain(idx);
    expect(statSync(path.join(objects, newPacks[0]!)).mode & 0o777).toBe(0o444);
    expect(statSync(path.join(objects, idx)).mode & 0o777).toBe(0o444);
    // git's own check of the pack and its index (checksums, CRCs, offsets, names) and of each object.
    const verified = await gitOut(fixture.repo, 'verify-pack', '-v', path.join(objects, idx));
    expect(verified).toContain('non delta: 100 objects');
    for (const t of texts) expect(await gitOut(fixture.repo, 'cat-file', '-p', blob(t).oid)).toBe(t.trim());
    expect(await gitOut(fixture.repo, 'fsck', '--strict', '--no-dangling')).toBe('');
  });

  it('writes packs a SHA-256 repository reads (32-byte names in the index)', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const repo = path.join(fixture.root, 'sha256');
    await gitOut(fixture.root, 'init', '--quiet', '--object-format=sha256', repo);
    const objects = path.join(repo, '.git', 'objects');
    writer = new ObjectWriter();
    const texts = Array.from({ length: 30 }, (_, i) => `sha256 object ${i}\n`);
    await Promise.all(texts.map((t) => writer!.write(objects, blob(t, 'sha256'))));
    const { packs, idx, loose } = listObjects(objects);
    expect({ packs: packs.length, idx: idx.length, loose }).toEqual({ packs: 1, idx: 1, loose: [] });
    expect(await gitOut(repo, 'verify-pack', path.join(objects, idx[0]!))).toBe('');
    for (const t of texts) expect(await gitOut(repo, 'cat-file', '-p', blob(t, 'sha256').oid)).toBe(t.trim());
    expect(await gitOut(repo, 'fsck', '--strict', '--no-dangling')).toBe('');
  });

  it('writes a batch of fewer than PACK_FROM objects as loose objects, read-only', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    const before = listObjects(objects);
    writer = new ObjectWriter();
    const few = Array.from({ length: PACK_FROM - 1 }, (_, i) => blob(`few ${i}\n`));
    await Promise.all(few.map((o) => writer!.write(objects, o)));
    expect(listObjects(objects).packs).toEqual(before.packs);
    for (const [i, o] of few.entries()) {
      expect(statSync(path.join(objects, o.oid.slice(0, 2), o.oid.slice(2))).mode & 0o777).toBe(0o444);
      expect(await gitOut(fixture.repo, 'cat-file', '-p', o.oid)).toBe(`few ${i}`);
    }
  });

  it('writes one pack per repository of a message, and fails only the objects of the repository whose pack cannot be written', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const second = await createTempRepo({ 'README.md': '# other\n' });
    try {
      const dirs = [path.join(fixture.repo, '.git', 'objects'), path.join(second.repo, '.git', 'objects')];
      writer = new ObjectWriter();
      // A file where the second repository's pack folder should be: nothing can be written there.
      rmSync(path.join(dirs[1]!, 'pack'), { recursive: true, force: true });
      writeFileSync(path.join(dirs[1]!, 'pack'), 'not a folder');
      const texts = Array.from({ length: 2 * PACK_FROM }, (_, i) => `object ${i}\n`);
      const settled = await Promise.allSettled(texts.map((t, i) => writer!.write(dirs[i % 2]!, blob(t))));
      settled.forEach((s, i) => {
        if (i % 2 === 0) expect(s.status).toBe('fulfilled');
        else expect(s).toMatchObject({ status: 'rejected', reason: { code: 'PAS_ERR_GIT', details: { oid: blob(texts[i]!).oid, objectsDir: dirs[1] } } });
      });
      for (const [i, t] of texts.entries()) {
        if (i % 2 === 0) expect(await gitOut(fixture.repo, 'cat-file', '-p', blob(t).oid)).toBe(t.trim());
        await expect(gitOut(second.repo, 'cat-file', '-e', blob(t).oid)).rejects.toBeDefined();
      }
      expect(listObjects(dirs[0]!).packs).toHaveLength(1);
      expect(listObjects(dirs[1]!).temporary).toEqual([]);
    } finally {
      await second.cleanup();
    }
  });

  it('splits a burst of many bytes between its threads (a pack each) and writes every object of it', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    writer = new ObjectWriter(2);
    // 40 objects of 64 KiB of random bytes: 2.5 MiB.
    const datas = Array.from({ length: 40 }, () => randomBytes(64 * 1024).toString('base64'));
    await Promise.all(datas.map((d) => writer!.write(objects, blob(d))));
    expect(writer.threadsRunning).toBe(2);
    expect(listObjects(objects).packs).toHaveLength(2);
    for (const d of datas) expect(await gitOut(fixture.repo, 'cat-file', '-s', blob(d).oid)).toBe(String(d.length));
    expect(await gitOut(fixture.repo, 'fsck', '--strict', '--no-dangling')).toBe('');
    await writer.close();
    expect(writer.threadsRunning).toBe(0);
  });

  it('keeps a batch of few bytes on one thread, in one pack', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    writer = new ObjectWriter(2);
    await Promise.all(Array.from({ length: 60 }, (_, i) => writer!.write(objects, blob(`small ${i}\n`))));
    expect(writer.threadsRunning).toBe(1);
    expect(listObjects(objects).packs).toHaveLength(1);
  });

  it('makes the object folder again when a repack removed it, writes over an existing copy of the same object, and writes the same pack twice', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    writer = new ObjectWriter();
    const one = blob('first\n');
    await writer.write(objects, one);
    // What git repack's prune-packed does to an emptied folder.
    rmSync(path.join(objects, one.oid.slice(0, 2)), { recursive: true, force: true });
    await writer.write(objects, one);
    await writer.write(objects, one);
    expect(await gitOut(fixture.repo, 'cat-file', '-p', one.oid)).toBe('first');
    const burst = Array.from({ length: PACK_FROM }, (_, i) => blob(`burst ${i}\n`));
    await Promise.all(burst.map((o) => writer!.write(objects, o)));
    await Promise.all(burst.map((o) => writer!.write(objects, o)));
    expect(listObjects(objects).packs).toHaveLength(1);
    expect(await gitOut(fixture.repo, 'cat-file', '-p', burst[1]!.oid)).toBe('burst 1');
  });

  it('fails a loose write it cannot do with PAS_ERR_GIT naming the object, and keeps writing others', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    writer = new ObjectWriter();
    const blocked = blob('blocked\n');
    // A file where the object's folder should be: no folder can be made there.
    rmSync(path.join(objects, blocked.oid.slice(0, 2)), { recursive: true, force: true });
    writeFileSync(path.join(objects, blocked.oid.slice(0, 2)), 'not a folder');
    const bad = await writer.write(objects, blocked).then(() => undefined, (err: unknown) => err);
    expect(bad).toMatchObject({ code: 'PAS_ERR_GIT' });
    expect((bad as Error).message).toContain(blocked.oid);
    const fine = blob('fine\n');
    await writer.write(objects, fine);
    expect(await gitOut(fixture.repo, 'cat-file', '-p', fine.oid)).toBe('fine');
  });

  it('sweeps what a killed writer left over an hour ago (temporary files, a pack without its index), which git ignores meanwhile, and keeps fresh ones', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    const packDir = path.join(objects, 'pack');
    const orphan = blob('orphan\n');
    // What kill -9 between the renames leaves: a whole pack, its index never renamed in place.
    const stale = ['tmp_pack_pas_1-1-aa_1', 'tmp_idx_pas_1-1-aa_1', `pack-${'ab'.repeat(20)}.pack`];
    const fresh = ['tmp_pack_pas_2-1-bb_1', `pack-${'cd'.repeat(20)}.pack`];
    for (const name of [...stale, ...fresh]) writeFileSync(path.join(packDir, name), writePack([{ type: 'blob', data: Buffer.from('orphan\n') }], 'sha1'));
    const hourAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    for (const name of stale) utimesSync(path.join(packDir, name), hourAgo, hourAgo);
    // git reads packs by their index: the left-overs are not objects to it, and nothing is broken.
    await expect(gitOut(fixture.repo, 'cat-file', '-e', orphan.oid)).rejects.toBeDefined();
    expect(await gitOut(fixture.repo, 'fsck', '--strict')).toBe('');
    writer = new ObjectWriter(1);
    await Promise.all(Array.from({ length: PACK_FROM }, (_, i) => writer!.write(objects, blob(`new ${i}\n`))));
    const left = readdirSync(packDir);
    for (const name of stale) expect(left).not.toContain(name);
    for (const name of fresh) expect(left).toContain(name);
  });

  it('leaves a repository git reads whole when the writing process is killed (kill -9) in the middle of its bursts', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    const proc = spawn(process.execPath, ['--import', 'tsx', burstsForever, objects], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let done = -1;
    let stderr = '';
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 5 bursts written in 30 s: ${stderr}`)), 30_000);
      proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = chunk.trim().split('\n');
        done = Number(lines.at(-1));
        if (done >= 4) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // Killed while its next bursts are being deflated and written.
    proc.kill('SIGKILL');
    await new Promise((resolve) => proc.once('exit', resolve));
    const { idx } = listObjects(objects);
    expect(idx.length).toBeGreaterThanOrEqual(5);
    for (const i of idx) await gitOut(fixture.repo, 'verify-pack', path.join(objects, i));
    expect(await gitOut(fixture.repo, 'fsck', '--strict', '--no-dangling')).toBe('');
    // Every burst it reported is there whole.
    for (let burst = 0; burst <= done; burst++) {
      const data = `burst ${burst} object 7\n`.repeat(207);
      expect(await gitOut(fixture.repo, 'cat-file', '-s', blob(data).oid)).toBe(String(data.length));
    }
  }, 60_000);

  it('fails what a stopped thread held with PAS_ERR_GIT and starts a new thread for the next write', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    writer = new ObjectWriter();
    await writer.write(objects, blob('warm\n'));
    const held = blob('held\n');
    const pending = writer.write(objects, held);
    // Stopped once the batch has been posted (the next iteration), before its answer.
    await new Promise((resolve) => setImmediate(resolve));
    // Its failure is taken before close() rejects it (while the thread ends), never left unhandled.
    const failed = pending.then(() => undefined, (err: unknown) => err);
    await writer.close();
    expect(await failed).toMatchObject({ code: 'PAS_ERR_GIT' });
    const after = blob('after\n');
    await writer.write(objects, after);
    expect(existsSync(path.join(objects, after.oid.slice(0, 2), after.oid.slice(2)))).toBe(true);
  });

  it('keeps the writes posted to a new thread when the stopped thread it replaced exits, and lets the process exit', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    writer = new ObjectWriter();
    await writer.write(objects, blob('warm\n'));
    // Stopped without waiting: another task writes meanwhile, on a new thread.
    const closing = writer.close();
    const next = blob('next\n');
    const written = writer.write(objects, next);
    await closing;
    await expect(written).resolves.toBeUndefined();
    expect(await gitOut(fixture.repo, 'cat-file', '-p', next.oid)).toBe('next');

    // The same in a process of its own, which must then end by itself (no thread left held).
    const proc = spawn(process.execPath, ['--import', 'tsx', swapThenExit, objects], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let stdout = '';
    let stderr = '';
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const ended = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('still running'), 20_000);
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(`exited ${code ?? signal}`);
      });
    });
    expect({ ended, stdout, stderr }).toEqual({ ended: 'exited 0', stdout: 'second write: ok\n', stderr: '' });
  }, 30_000);
});
