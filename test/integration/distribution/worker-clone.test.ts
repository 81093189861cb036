/**
 * What a task run on `pas worker` leaves in the worker's cached clone: its result commit, kept as
 * a have (what the next registration lists), and no task branch (the central process creates the
 * real one from the result bundle, create-only). A real worker (startWorker, offline model), a real
 * nats-server, journal and git; the central side is remote-programmers.ts (central-harness.ts).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoKeyOf, WorkerRepoCache } from '../../../src/distribution/bundles.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { settled } from './central-harness.ts';
import { workerSuite } from './worker-harness.ts';

const PROG = 'Prog-001';
const setup = workerSuite(PROG, 'worker-clone', 0);

describe('pas worker, its cached clone', () => {
  it('keeps a finished task\'s commit as a have and writes no task branch in the clone, while the central repository gets the branch', async () => {
    const s = await setup();
    await s.start();
    const done = await settled(s.b.execute(s.b.addTask('c1'), undefined, PROG), 'execute', 20_000);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('completed');
    expect(await gitOut(s.b.repo.repo, 'rev-parse', 'refs/heads/pas/job-c1/c1')).toBe(done.commit);

    const repoKey = await repoKeyOf(s.b.repo.repo);
    const clone = path.join(s.dataDir, 'repos', repoKey);
    expect(await gitOut(clone, 'cat-file', '-t', done.commit!)).toBe('commit');
    expect(await gitOut(clone, 'for-each-ref', '--format=%(refname)', 'refs/heads')).toBe('');
    // What this host would list when it registers again: the result it made, and its base.
    expect((await new WorkerRepoCache(s.dataDir).haves())[repoKey]).toEqual(expect.arrayContaining([done.commit, s.b.repo.base]));
  });
});
