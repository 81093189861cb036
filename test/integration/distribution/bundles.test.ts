import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importResultBundle, makeBaseBundle, repoKeyOf, sweepQuarantineRefs, HostHaves, WorkerRepoCache } from '../../../src/distribution/bundles.ts';
import { createTempRepo, gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';
import { failure } from '../../support/pas-failure.ts';

let central: TempRepo;
let workerDir: string;
let cache: WorkerRepoCache;
let repoKey: string;

beforeEach(async () => {
  central = await createTempRepo({ 'src/a.ts': 'export const a = 1;\n', 'README.md': '# app\n' });
  workerDir = await mkdtemp(path.join(os.tmpdir(), 'pas-worker-'));
  cache = new WorkerRepoCache(workerDir);
  repoKey = await repoKeyOf(central.repo);
});

afterEach(async () => {
  await central.cleanup();
  await rm(workerDir, { recursive: true, force: true });
});

/** A commit in the worker's clone on top of `base` (what an executor leaves behind). */
async function workerCommit(clone: string, base: string, files: Record<string, string>, message = 'task work'): Promise<string> {
  await gitOut(clone, 'checkout', '-q', '--detach', base);
  await writeFiles(clone, files);
  await gitOut(clone, 'add', '--all');
  await gitOut(clone, 'commit', '-q', '-m', message);
  return gitOut(clone, 'rev-parse', 'HEAD');
}

async function centralCommit(files: Record<string, string>): Promise<string> {
  await writeFiles(central.repo, files);
  await gitOut(central.repo, 'add', '--all');
  await gitOut(central.repo, 'commit', '-q', '-m', 'central work');
  return gitOut(central.repo, 'rev-parse', 'HEAD');
}

describe('git bundles between the central process and a worker', () => {
  it('ships the base as a full bundle, and brings the worker commit back as a new ref of the user repository', async () => {
    const refsBefore = await gitOut(central.repo, 'for-each-ref');
    const base = await makeBaseBundle(central.repo, 'HEAD');
    expect(base).toMatchObject({ full: true, commit: central.base, prerequisites: [] });
    expect(await gitOut(central.repo, 'for-each-ref')).toBe(refsBefore); // cut without touching the user's refs

    const clone = await cache.ensureBase(repoKey, base.bytes, central.base);
    expect(clone).toBe(path.join(workerDir, 'repos', repoKey));
    expect(await gitOut(clone, 'show', `${central.base}:src/a.ts`)).toBe('export const a = 1;');

    const commit = await workerCommit(clone, central.base, { 'src/a.ts': 'export const a = 2;\n', 'src/b.ts': 'export const b = 1;\n' });
    const result = await cache.makeResultBundle(clone, central.base, commit);
    const imported = await importResultBundle(central.repo, result, { base: central.base, expectedRef: 'refs/heads/pas/job-1/t1', attemptId: 'job-1:t1:a1', commit });
    expect(imported).toBe(commit);
    expect(await gitOut(central.repo, 'rev-parse', 'refs/heads/pas/job-1/t1')).toBe(commit);
    expect(await gitOut(central.repo, 'show', 'pas/job-1/t1:src/b.ts')).toBe('export const b = 1;');
    // Only the task ref is new: no quarantine ref left, the user's branch and worktree untouched.
    const refsAfter = await gitOut(central.repo, 'for-each-ref', '--format=%(refname)');
    expect(refsAfter.split('\n').sort()).toEqual(['refs/heads/main', 'refs/heads/pas/job-1/t1']);
    expect(await gitOut(central.repo, 'rev-parse', 'HEAD')).toBe(central.base);
    expect(await gitOut(central.repo, 'status', '--porcelain')).toBe('');
  });

  it('sends only what is new once the host has the repository, and nothing when it already has the commit', async () => {
    const first = await makeBaseBundle(central.repo, central.base);
    await cache.ensureBase(repoKey, first.bytes, central.base);
    const next = await centralCommit({ 'src/c.ts': 'x'.repeat(50_000) + '\n' });

    const full = await makeBaseBundle(central.repo, next);
    const incremental = await makeBaseBundle(central.repo, next, { haves: [central.base] });
    expect(incremental).toMatchObject({ full: false, commit: next, prerequisites: [central.base] });
    expect(incremental.bytes!.byteLength).toBeLessThan(full.bytes!.byteLength);
    expect(full.bytes!.byteLength - incremental.bytes!.byteLength).toBeGreaterThan(100); // the first commit's objects stay home

    const clone = await cache.ensureBase(repoKey, incremental.bytes, next);
    expect(await gitOut(clone, 'cat-file', '-t', next)).toBe('commit');
    expect(await cache.haves()).toEqual({ [repoKey]: expect.arrayContaining([central.base, next]) });

    // The host holds `next` now: no bundle at all; a have the central repository never heard of is ignored.
    expect(await makeBaseBundle(central.repo, central.base, { haves: [next] })).toMatchObject({ bytes: null, full: false });
    expect(await makeBaseBundle(central.repo, next, { haves: ['f'.repeat(40)] })).toMatchObject({ full: true });
  });

  it('tells the central process to send a full bundle when the worker cache lacks the base or the prerequisites', async () => {
    const next = await centralCommit({ 'src/c.ts': 'c\n' });
    const incremental = await makeBaseBundle(central.repo, next, { haves: [central.base] });
    const lacking = await failure(cache.ensureBase(repoKey, incremental.bytes, next));
    expect(lacking.code).toBe('PAS_ERR_DIST_BUNDLE_MISSING');
    const none = await failure(cache.ensureBase(repoKey, null, next));
    expect(none.code).toBe('PAS_ERR_DIST_BUNDLE_MISSING');
    expect(none.details).toMatchObject({ repoKey, base: next });
  });

  it('refuses a corrupted result bundle and writes no ref', async () => {
    const base = await makeBaseBundle(central.repo, central.base);
    const clone = await cache.ensureBase(repoKey, base.bytes, central.base);
    const commit = await workerCommit(clone, central.base, { 'src/a.ts': 'export const a = 3;\n'.repeat(200) });
    const good = await cache.makeResultBundle(clone, central.base, commit);
    const bad = Buffer.from(good);
    for (let i = bad.length - 40; i < bad.length - 20; i++) bad[i] = bad[i]! ^ 0xff; // inside the pack
    const err = await failure(importResultBundle(central.repo, bad, { base: central.base, expectedRef: 'refs/heads/pas/j/t', attemptId: 'a1', commit }));
    expect(err.code).toBe('PAS_ERR_DIST_BUNDLE_INVALID');
    const truncated = await failure(importResultBundle(central.repo, good.subarray(0, good.length / 2), { base: central.base, expectedRef: 'refs/heads/pas/j/t', attemptId: 'a1', commit }));
    expect(truncated.code).toBe('PAS_ERR_DIST_BUNDLE_INVALID');
    const garbage = await failure(importResultBundle(central.repo, Buffer.from('not a bundle at all'), { base: central.base, expectedRef: 'refs/heads/pas/j/t', attemptId: 'a1' }));
    expect(garbage.code).toBe('PAS_ERR_DIST_BUNDLE_INVALID');
    expect(await gitOut(central.repo, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main');
  });

  it('refuses a result that is not a plain chain on the task base: another base, foreign history, a merge', async () => {
    const side = await centralCommit({ 'side.txt': 'side\n' }); // central knows it; the task's base is the first commit
    const base = await makeBaseBundle(central.repo, side);
    const clone = await cache.ensureBase(repoKey, base.bytes, side);

    const onSide = await workerCommit(clone, side, { 'src/a.ts': 'on side\n' });
    const wrongBase = await failure(importResultBundle(central.repo, await cache.makeResultBundle(clone, side, onSide), { base: central.base, expectedRef: 'refs/heads/pas/j/t1', attemptId: 'a1' }));
    expect(wrongBase.code).toBe('PAS_ERR_DIST_BUNDLE_INVALID');
    expect(wrongBase.message).toContain(`not against its base ${central.base}`);

    // A history of the worker's own (an orphan root) carried to the central repository.
    await gitOut(clone, 'checkout', '-q', '--orphan', 'foreign');
    await gitOut(clone, 'rm', '-rfq', '.');
    await writeFile(path.join(clone, 'evil.txt'), 'foreign\n');
    await gitOut(clone, 'add', '--all');
    await gitOut(clone, 'commit', '-q', '-m', 'foreign root');
    const foreignRoot = await gitOut(clone, 'rev-parse', 'HEAD');
    await gitOut(clone, 'merge', '-q', '--allow-unrelated-histories', '-m', 'merge foreign', side);
    const merged = await gitOut(clone, 'rev-parse', 'HEAD');
    expect(await gitOut(clone, 'merge-base', '--is-ancestor', side, merged).then(() => true)).toBe(true);
    const withForeign = await failure(importResultBundle(central.repo, await cache.makeResultBundle(clone, side, merged), { base: side, expectedRef: 'refs/heads/pas/j/t2', attemptId: 'a2' }));
    expect(withForeign.code).toBe('PAS_ERR_DIST_BUNDLE_INVALID');
    expect(withForeign.message).toMatch(/parents|root/);
    expect(foreignRoot).not.toBe(merged);
    expect(await gitOut(central.repo, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main');
  });

  it('never overwrites an existing task ref, and accepts the same result twice only when asked to', async () => {
    const base = await makeBaseBundle(central.repo, central.base);
    const clone = await cache.ensureBase(repoKey, base.bytes, central.base);
    const first = await workerCommit(clone, central.base, { 'src/a.ts': 'first\n' });
    const second = await workerCommit(clone, central.base, { 'src/a.ts': 'second\n' });
    const ref = 'refs/heads/pas/job-9/t1';
    await importResultBundle(central.repo, await cache.makeResultBundle(clone, central.base, first), { base: central.base, expectedRef: ref, attemptId: 'a1' });

    const secondBundle = await cache.makeResultBundle(clone, central.base, second);
    const err = await failure(importResultBundle(central.repo, secondBundle, { base: central.base, expectedRef: ref, attemptId: 'a2', allowSame: true }));
    expect(err.code).toBe('PAS_ERR_DIST_REF_EXISTS');
    expect(err.details).toMatchObject({ existing: first, incoming: second });
    expect(await gitOut(central.repo, 'rev-parse', ref)).toBe(first);

    const again = await cache.makeResultBundle(clone, central.base, first);
    const dup = await failure(importResultBundle(central.repo, again, { base: central.base, expectedRef: ref, attemptId: 'a1' }));
    expect(dup.code).toBe('PAS_ERR_DIST_REF_EXISTS');
    expect(await importResultBundle(central.repo, again, { base: central.base, expectedRef: ref, attemptId: 'a1', allowSame: true })).toBe(first);
    expect(await gitOut(central.repo, 'for-each-ref', '--format=%(refname)', 'refs/pas')).toBe('');
  });

  it('refuses a bundle whose head is not the commit the result names, and a ref name git would not accept', async () => {
    const base = await makeBaseBundle(central.repo, central.base);
    const clone = await cache.ensureBase(repoKey, base.bytes, central.base);
    const commit = await workerCommit(clone, central.base, { 'src/a.ts': 'x\n' });
    const bundle = await cache.makeResultBundle(clone, central.base, commit);
    const other = await failure(importResultBundle(central.repo, bundle, { base: central.base, expectedRef: 'refs/heads/pas/j/t', attemptId: 'a1', commit: central.base }));
    expect(other.code).toBe('PAS_ERR_DIST_BUNDLE_INVALID');
    const badRef = await failure(importResultBundle(central.repo, bundle, { base: central.base, expectedRef: 'refs/heads/pas/../x', attemptId: 'a1' }));
    expect(badRef.code).toBe('PAS_ERR_DIST_BUNDLE_INVALID');
  });

  it('rejects a base bundle that does not hold the base the task names', async () => {
    const next = await centralCommit({ 'n.txt': 'n\n' });
    const bundle = await makeBaseBundle(central.repo, central.base);
    const err = await failure(cache.ensureBase(repoKey, bundle.bytes, next));
    expect(err.code).toBe('PAS_ERR_DIST_BUNDLE_INVALID');
    expect(() => cache.clonePath('../escape')).toThrow(/repository key/);
  });
});

describe('after a crash', () => {
  it('sweeps the quarantine refs an import cut off by a kill left behind, and nothing else', async () => {
    await gitOut(central.repo, 'update-ref', 'refs/pas/quarantine/job-1_t1_a1-0badc0de', central.base);
    await gitOut(central.repo, 'update-ref', 'refs/heads/pas/job-1/t0', central.base);
    expect(await sweepQuarantineRefs(central.repo)).toBe(1);
    expect((await gitOut(central.repo, 'for-each-ref', '--format=%(refname)')).split('\n').sort()).toEqual(['refs/heads/main', 'refs/heads/pas/job-1/t0']);
    expect(await sweepQuarantineRefs(central.repo)).toBe(0);
  });
});

describe('bundles under load', () => {
  it('feeds one cache from parallel tasks and imports their results in parallel, each on its own ref', async () => {
    const base = await makeBaseBundle(central.repo, central.base);
    const clones = await Promise.all([1, 2, 3].map(() => cache.ensureBase(repoKey, base.bytes, central.base)));
    expect(new Set(clones).size).toBe(1);
    // Each task works in a worktree of the cached clone, as an executor does.
    const commits = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const dir = path.join(workerDir, `wt-${n}`);
        await gitOut(clones[0]!, 'worktree', 'add', '-q', '--detach', dir, central.base);
        await writeFiles(dir, { [`src/f${n}.ts`]: `export const f${n} = ${n};\n` });
        await gitOut(dir, 'add', '--all');
        await gitOut(dir, 'commit', '-q', '-m', `task ${n}`);
        const commit = await gitOut(dir, 'rev-parse', 'HEAD');
        return { n, commit, bundle: await cache.makeResultBundle(dir, central.base, commit) };
      }),
    );
    const imported = await Promise.all(commits.map(({ n, commit, bundle }) => importResultBundle(central.repo, bundle, { base: central.base, expectedRef: `refs/heads/pas/job-p/t${n}`, attemptId: `job-p:t${n}:a1`, commit })));
    expect(imported).toEqual(commits.map((c) => c.commit));
    for (const { n } of commits) expect(await gitOut(central.repo, 'show', `pas/job-p/t${n}:src/f${n}.ts`)).toBe(`export const f${n} = ${n};`);
    expect(await gitOut(central.repo, 'for-each-ref', '--format=%(refname)', 'refs/pas')).toBe('');
  });
});

describe('what each host holds', () => {
  it('keeps the newest commits per host and repository, and forgets on request', () => {
    const haves = new HostHaves(3);
    haves.record('gpu-1', 'app', 'a'.repeat(40), 'b'.repeat(40));
    haves.record('gpu-1', 'app', 'c'.repeat(40), 'd'.repeat(40));
    expect(haves.haves('gpu-1', 'app')).toEqual(['d'.repeat(40), 'c'.repeat(40), 'b'.repeat(40)]);
    expect(haves.haves('gpu-2', 'app')).toEqual([]);
    haves.forget('gpu-1', 'app');
    expect(haves.haves('gpu-1', 'app')).toEqual([]);
    haves.replace('gpu-2', { app: ['e'.repeat(40)] });
    expect(haves.haves('gpu-2', 'app')).toEqual(['e'.repeat(40)]);
  });
});
