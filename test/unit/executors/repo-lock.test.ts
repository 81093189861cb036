import { afterEach, describe, expect, it } from 'vitest';
import { repoKey, withRepoLock } from '../../../src/executors/git-command.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';

let repo: TempRepo | undefined;
afterEach(async () => {
  await repo?.cleanup();
  repo = undefined;
});

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('the repository lock', () => {
  it('lets shared holders run together and makes an exclusive holder wait for all of them, holding back later readers', async () => {
    repo = await createTempRepo({ 'a.txt': 'a\n' });
    const log: string[] = [];
    const first = gate();
    const second = gate();
    // The repository's identity is looked up once (a git process); after that, requests queue in call order.
    await repoKey(repo.repo);
    const r1 = withRepoLock(repo.repo, async () => { log.push('r1 in'); await first.opened; log.push('r1 out'); }, 'shared');
    const r2 = withRepoLock(repo.repo, async () => { log.push('r2 in'); await second.opened; log.push('r2 out'); }, 'shared');
    while (log.length < 2) await new Promise((r) => setTimeout(r, 5));
    const w = withRepoLock(repo.repo, async () => { log.push('w in'); log.push('w out'); }, 'exclusive');
    const r3 = withRepoLock(repo.repo, async () => { log.push('r3 in'); }, 'shared');
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual(['r1 in', 'r2 in']);
    first.open();
    await r1;
    expect(log).toEqual(['r1 in', 'r2 in', 'r1 out']);
    second.open();
    await Promise.all([r2, w, r3]);
    expect(log).toEqual(['r1 in', 'r2 in', 'r1 out', 'r2 out', 'w in', 'w out', 'r3 in']);
  });

  it('is the same lock from every worktree of a repository and is released when the holder throws', async () => {
    repo = await createTempRepo({ 'a.txt': 'a\n' });
    await expect(withRepoLock(repo.repo, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    const order: string[] = [];
    await Promise.all([
      withRepoLock(repo.repo, async () => { order.push('x in'); await new Promise((r) => setTimeout(r, 10)); order.push('x out'); }),
      withRepoLock(`${repo.repo}/.`, async () => { order.push('y in'); }),
    ]);
    expect(order).toEqual(['x in', 'x out', 'y in']);
  });
});
