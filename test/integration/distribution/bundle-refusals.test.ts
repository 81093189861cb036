/** Only the central process writes the user's repository, and only what it has checked: refusals of bad result bundles. */
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importResultBundle, makeBaseBundle, sweepQuarantineRefs, type WorkerRepoCache } from '../../../src/distribution/bundles.ts';
import { bundleFixture, commitFiles, workerCommit, type BundleFixture } from '../../support/bundle-fixtures.ts';
import { gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { failure } from '../../support/pas-failure.ts';

let fx: BundleFixture;
let central: TempRepo;
let cache: WorkerRepoCache;
let repoKey: string;

beforeEach(async () => {
  fx = await bundleFixture();
  ({ central, cache, repoKey } = fx);
});

afterEach(() => fx.cleanup());

const centralCommit = (files: Record<string, string>) => commitFiles(central.repo, files);

describe('result bundles the central process refuses', () => {
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
