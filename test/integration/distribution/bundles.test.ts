/** Code without a shared filesystem: bases out as bundles (full, then incremental), results back as refs. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitSpawnCount } from '../../../src/executors/git-command.ts';
import { objectStoreFor } from '../../../src/executors/object-store.ts';
import { importResultBundle, makeBaseBundle, repoKeyOf, HostHaves, WorkerRepoCache } from '../../../src/distribution/bundles.ts';
import { bundleFixture, commitFiles, workerCommit, type BundleFixture } from '../../support/bundle-fixtures.ts';
import { gitOut, writeFiles, type TempRepo } from '../../support/git-fixtures.ts';
import { failure } from '../../support/pas-failure.ts';

let fx: BundleFixture;
let central: TempRepo;
let workerDir: string;
let cache: WorkerRepoCache;
let repoKey: string;

beforeEach(async () => {
  fx = await bundleFixture();
  ({ central, workerDir, cache, repoKey } = fx);
});

afterEach(() => fx.cleanup());

const centralCommit = (files: Record<string, string>) => commitFiles(central.repo, files);

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
});

describe('a sha256 repository', () => {
  it('travels both ways too: the worker clone hashes like the repository it caches', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'pas-sha256-'));
    try {
      const repo = path.join(root, 'repo');
      await gitOut(root, 'init', '-q', '--object-format=sha256', '--initial-branch=main', repo);
      await writeFiles(repo, { 'a.txt': 'a\n' });
      await gitOut(repo, 'add', '--all');
      await gitOut(repo, 'commit', '-q', '-m', 'first');
      const base = await gitOut(repo, 'rev-parse', 'HEAD');
      expect(base).toHaveLength(64);
      const key = await repoKeyOf(repo);
      const clone = await cache.ensureBase(key, (await makeBaseBundle(repo, base)).bytes, base);
      expect(await gitOut(clone, 'rev-parse', '--show-object-format')).toBe('sha256');
      const commit = await workerCommit(clone, base, { 'a.txt': 'b\n' });
      expect(await importResultBundle(repo, await cache.makeResultBundle(clone, base, commit), { base, expectedRef: 'refs/heads/pas/j/t', attemptId: 'a1', commit })).toBe(commit);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('bundles under load', () => {
  it('makes a new base ready once for a burst of tasks on it: the tasks queued behind the first start no git', async () => {
    const base = await makeBaseBundle(central.repo, central.base);
    await cache.ensureBase(repoKey, base.bytes, central.base);
    // The first new base after the clone also sweeps older haves (once per process): not measured.
    const next = await centralCommit({ 'src/c.ts': 'c\n' });
    await cache.ensureBase(repoKey, (await makeBaseBundle(central.repo, next, { haves: [central.base] })).bytes, next);
    const second = await centralCommit({ 'src/e.ts': 'e\n' });
    const incremental = await makeBaseBundle(central.repo, second, { haves: [next] });
    const one = gitSpawnCount();
    await cache.ensureBase(repoKey, incremental.bytes, second);
    const forOne = gitSpawnCount() - one;
    const newer = await centralCommit({ 'src/d.ts': 'd\n' });
    const newerBundle = await makeBaseBundle(central.repo, newer, { haves: [second] });
    const before = gitSpawnCount();
    const clones = await Promise.all(Array.from({ length: 8 }, () => cache.ensureBase(repoKey, newerBundle.bytes, newer)));
    expect(new Set(clones).size).toBe(1);
    expect(gitSpawnCount() - before).toBe(forOne);
  });

  it('fetches a burst\'s base bundle once: the tasks queued behind the first, and a cache that holds the base already, never ask for it', async () => {
    const base = await makeBaseBundle(central.repo, central.base);
    let fetched = 0;
    const fetch = async () => {
      fetched++;
      return base.bytes;
    };
    const clones = await Promise.all(Array.from({ length: 8 }, () => cache.ensureBase(repoKey, fetch, central.base)));
    expect(new Set(clones).size).toBe(1);
    expect(fetched).toBe(1);
    // Another worker process on the same data dir (a restart): its clone holds the base, nothing is fetched.
    const again = new WorkerRepoCache(cache.dataDir);
    expect(await again.ensureBase(repoKey, fetch, central.base)).toBe(clones[0]);
    expect(fetched).toBe(1);
    // A cache that lacks the base does fetch it, and refuses as before without one.
    const next = await centralCommit({ 'src/e.ts': 'e\n' });
    const err = await failure(again.ensureBase(repoKey, async () => null, next));
    expect(err.code).toBe('PAS_ERR_DIST_BUNDLE_MISSING');
  });

  it('feeds one cache from parallel tasks and imports their results in parallel, each on its own ref', async () => {
    const base = await makeBaseBundle(central.repo, central.base);
    const clones = await Promise.all([1, 2, 3].map(() => cache.ensureBase(repoKey, base.bytes, central.base)));
    expect(new Set(clones).size).toBe(1);
    // Each task works in a worktree of the cached clone, as an executor does. The worktrees are
    // added one at a time: concurrent `git worktree add` can read another's half-written admin entry.
    for (const n of [1, 2, 3]) await gitOut(clones[0]!, 'worktree', 'add', '-q', '--detach', path.join(workerDir, `wt-${n}`), central.base);
    const commits = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const dir = path.join(workerDir, `wt-${n}`);
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

describe('a worker clone\'s haves', () => {
  const day = 86_400_000;
  /** Commits on the base, `from` days after it and on, one a day, made in `clone` (none is a have yet). */
  async function commitsOn(clone: string, from: number, count: number, message = 'task'): Promise<string[]> {
    const store = await objectStoreFor(clone);
    const tree = await store.commitTree(central.base);
    const baseDate = Number(await gitOut(clone, 'show', '-s', '--format=%ct', central.base)) * 1000;
    const made: string[] = [];
    for (let n = from; n < from + count; n++) made.push(await store.writeCommit(tree, [central.base], `${message} ${n}`, new Date(baseDate + n * day)));
    return made;
  }
  const haveRefs = async (clone: string) => (await gitOut(clone, 'for-each-ref', '--format=%(refname)', 'refs/pas/haves/')).split('\n').filter(Boolean).sort();
  const havesOf = (commits: readonly string[]) => commits.map((c) => `refs/pas/haves/${c}`);
  const results = async (small: WorkerRepoCache, clone: string, commits: readonly string[]) => {
    for (const commit of commits) await small.makeResultBundle(clone, central.base, commit);
    await small.settled();
  };

  it('sweeps a clone down to its newest haves and the bases in use when a base is made ready, once it made that many results since', async () => {
    const small = new WorkerRepoCache(workerDir, { kept: 4 });
    const clone = await small.ensureBase(repoKey, (await makeBaseBundle(central.repo, central.base)).bytes, central.base);
    const first = await commitsOn(clone, 1, 6);
    await results(small, clone, first);
    // A result's have is all a result writes: nothing is swept on a task's path.
    expect(await haveRefs(clone)).toEqual(havesOf([central.base, ...first]).sort());
    // A second base (a later job): the first sweep of this process keeps the newest 4 and the base in use.
    const [secondBase] = await commitsOn(clone, 20, 1, 'base');
    await small.ensureBase(repoKey, null, secondBase!);
    expect(await haveRefs(clone)).toEqual(havesOf([central.base, ...first.slice(2), secondBase!]).sort());
    // Fewer than 4 results since: the next base sweeps nothing.
    const more = await commitsOn(clone, 7, 3);
    await results(small, clone, more);
    const [thirdBase] = await commitsOn(clone, 30, 1, 'base');
    await small.ensureBase(repoKey, null, thirdBase!);
    expect(await haveRefs(clone)).toHaveLength(10);
    // 4 since: swept to the newest 4 (the bases of days 30 and 20, the results of days 10 and 9)
    // and the first base, still in use; then the fourth base's have.
    const [tenth] = await commitsOn(clone, 10, 1);
    await results(small, clone, [tenth!]);
    const [fourthBase] = await commitsOn(clone, 40, 1, 'base');
    await small.ensureBase(repoKey, null, fourthBase!);
    expect(await haveRefs(clone)).toEqual(havesOf([central.base, secondBase!, thirdBase!, fourthBase!, tenth!, more[2]!]).sort());
    // The newest listed first; a swept result's objects stay until git's gc expires them.
    expect((await small.haves())[repoKey]![0]).toBe(fourthBase);
    expect(await gitOut(clone, 'cat-file', '-t', first[0]!)).toBe('commit');
  });

  it('sweeps at a new process\'s first base, so a worker restarted often still bounds its clone\'s haves, and never a staging ref', async () => {
    const clone = await cache.ensureBase(repoKey, (await makeBaseBundle(central.repo, central.base)).bytes, central.base);
    const staging = 'refs/pas/haves/incoming-pas-base-x';
    await gitOut(clone, 'update-ref', staging, central.base);
    for (let restart = 0; restart < 4; restart++) {
      const again = new WorkerRepoCache(workerDir, { kept: 3 });
      const [base] = await commitsOn(clone, 100 + restart * 10, 1, 'base');
      await again.ensureBase(repoKey, null, base!);
      await results(again, clone, await commitsOn(clone, 101 + restart * 10, 3));
    }
    const refs = await haveRefs(clone);
    // Each start swept to the newest 3 before its base: 3 + that base + its 3 results, the staging ref beside.
    expect(refs).toContain(staging);
    expect(refs).toHaveLength(3 + 1 + 3 + 1);
  });

  it('counts a result git bundle create cuts (a merge, not a plain chain) toward the next sweep, as any result', async () => {
    const small = new WorkerRepoCache(workerDir, { kept: 1 });
    const clone = await small.ensureBase(repoKey, (await makeBaseBundle(central.repo, central.base)).bytes, central.base);
    // A second base: this process's first sweep (nothing to sweep yet).
    const [secondBase] = await commitsOn(clone, 20, 1, 'base');
    await small.ensureBase(repoKey, null, secondBase!);
    const store = await objectStoreFor(clone);
    const [a, b, c] = await commitsOn(clone, 1, 3, 'side');
    const tree = await store.commitTree(central.base);
    const baseDate = Number(await gitOut(clone, 'show', '-s', '--format=%ct', central.base)) * 1000;
    const merges = [await store.writeCommit(tree, [a!, b!], 'merge', new Date(baseDate + 21 * day)), await store.writeCommit(tree, [b!, c!], 'merge', new Date(baseDate + 22 * day))];
    await results(small, clone, merges);
    expect(await haveRefs(clone)).toEqual(havesOf([central.base, secondBase!, ...merges]).sort());
    // Two results since that sweep: the third base sweeps to the newest have and the bases in use.
    const [thirdBase] = await commitsOn(clone, 30, 1, 'base');
    await small.ensureBase(repoKey, null, thirdBase!);
    expect(await haveRefs(clone)).toEqual(havesOf([central.base, secondBase!, merges[1]!, thirdBase!]).sort());
  });

  it('lists a registration\'s haves as distinct commits, as many as asked', async () => {
    const clone = await cache.ensureBase(repoKey, (await makeBaseBundle(central.repo, central.base)).bytes, central.base);
    const made = await commitsOn(clone, 1, 3);
    await results(cache, clone, made);
    // A staging ref names the newest result again.
    await gitOut(clone, 'update-ref', 'refs/pas/haves/incoming-pas-base-y', made[2]!);
    expect((await cache.haves(3))[repoKey]).toEqual([made[2], made[1], made[0]]);
  });
});
