import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ObjectWriter } from '../../../src/executors/object-writer.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const swapThenExit = fileURLToPath(new URL('./fixtures/writer-swap-then-exit.ts', import.meta.url));

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

function blob(text: string): { oid: string; raw: Buffer } {
  const data = Buffer.from(text);
  const raw = Buffer.concat([Buffer.from(`blob ${data.length}\0`), data]);
  return { oid: createHash('sha1').update(raw).digest('hex'), raw };
}

describe('the loose-object writer thread', () => {
  it('writes objects git reads back, read-only, with no temporary file left, many callers in one message', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    writer = new ObjectWriter();
    const texts = Array.from({ length: 40 }, (_, i) => `line ${i}\n`.repeat(i + 1));
    // Asked for in one event-loop iteration: they go to the thread together.
    await Promise.all(texts.map((t) => writer!.write(objects, blob(t))));
    for (const t of texts) {
      const { oid } = blob(t);
      expect(await gitOut(fixture.repo, 'cat-file', '-p', oid)).toBe(t.trim());
      expect(statSync(path.join(objects, oid.slice(0, 2), oid.slice(2))).mode & 0o777).toBe(0o444);
    }
    const leftovers = readdirSync(objects, { recursive: true }).map(String).filter((f) => f.includes('tmp_obj'));
    expect(leftovers).toEqual([]);
    expect(await gitOut(fixture.repo, 'fsck', '--no-dangling')).toBe('');
  });

  it('writes the objects of one message into the repository each was asked for, and fails only the one that cannot be written', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const second = await createTempRepo({ 'README.md': '# other\n' });
    try {
      const dirs = [path.join(fixture.repo, '.git', 'objects'), path.join(second.repo, '.git', 'objects')];
      writer = new ObjectWriter();
      const blocked = blob('blocked in the second\n');
      rmSync(path.join(dirs[1]!, blocked.oid.slice(0, 2)), { recursive: true, force: true });
      writeFileSync(path.join(dirs[1]!, blocked.oid.slice(0, 2)), 'not a folder');
      const texts = Array.from({ length: 12 }, (_, i) => `object ${i}\n`);
      const settled = await Promise.allSettled([...texts.map((t, i) => writer!.write(dirs[i % 2]!, blob(t))), writer.write(dirs[1]!, blocked)]);
      expect(settled.slice(0, -1).every((s) => s.status === 'fulfilled')).toBe(true);
      expect(settled.at(-1)).toMatchObject({ status: 'rejected', reason: { code: 'PAS_ERR_GIT' } });
      for (const [i, t] of texts.entries()) {
        const { oid } = blob(t);
        expect(await gitOut(i % 2 === 0 ? fixture.repo : second.repo, 'cat-file', '-p', oid)).toBe(t.trim());
        await expect(gitOut(i % 2 === 0 ? second.repo : fixture.repo, 'cat-file', '-e', oid)).rejects.toBeDefined();
      }
    } finally {
      await second.cleanup();
    }
  });

  it('splits a burst between its threads, writes every object of it, and fails only the one that cannot be written', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    writer = new ObjectWriter(2);
    const blocked = blob('blocked in a burst\n');
    rmSync(path.join(objects, blocked.oid.slice(0, 2)), { recursive: true, force: true });
    writeFileSync(path.join(objects, blocked.oid.slice(0, 2)), 'not a folder');
    const texts = Array.from({ length: 60 }, (_, i) => `burst object ${i}\n`);
    const settled = await Promise.allSettled([...texts.map((t) => writer!.write(objects, blob(t))), writer.write(objects, blocked)]);
    expect(writer.threadsRunning).toBe(2);
    expect(settled.slice(0, -1).every((s) => s.status === 'fulfilled')).toBe(true);
    expect(settled.at(-1)).toMatchObject({ status: 'rejected', reason: { code: 'PAS_ERR_GIT', details: { oid: blocked.oid } } });
    for (const t of texts) expect(await gitOut(fixture.repo, 'cat-file', '-p', blob(t).oid)).toBe(t.trim());
    await writer.close();
    expect(writer.threadsRunning).toBe(0);
  });

  it('keeps a small batch on one thread', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    writer = new ObjectWriter(2);
    await Promise.all(['a\n', 'b\n', 'c\n'].map((t) => writer!.write(path.join(fixture!.repo, '.git', 'objects'), blob(t))));
    expect(writer.threadsRunning).toBe(1);
  });

  it('makes the object folder again when a repack removed it, and writes over an existing copy of the same object', async () => {
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
  });

  it('fails a write it cannot do with PAS_ERR_GIT naming the object, and keeps writing others', async () => {
    fixture = await createTempRepo({ 'README.md': '# scratch\n' });
    const objects = path.join(fixture.repo, '.git', 'objects');
    writer = new ObjectWriter();
    const blocked = blob('blocked\n');
    // A file where the object's folder should be: no folder can be made there.
    rmSync(path.join(objects, blocked.oid.slice(0, 2)), { recursive: true, force: true });
    writeFileSync(path.join(objects, blocked.oid.slice(0, 2)), 'not a folder');
    const fine = blob('fine\n');
    const [bad, good] = await Promise.allSettled([writer.write(objects, blocked), writer.write(objects, fine)]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'PAS_ERR_GIT' } });
    expect((bad as PromiseRejectedResult).reason.message).toContain(blocked.oid);
    expect(good.status).toBe('fulfilled');
    expect(await gitOut(fixture.repo, 'cat-file', '-p', fine.oid)).toBe('fine');
  });

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
