/**
 * A restore does not wait to hear its own writes (checkout-changes.ts, rewatch): a cookie written
 * right after them marks where the next task's changes begin. Whatever the task writes once it
 * holds the checkout, even at once and where the restore just wrote, is heard as its change.
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { changedPaths } from '../../../src/executors/checkout-changes.ts';
import { restoreCounts } from '../../../src/executors/checkout-restore.ts';
import { checkoutFor } from '../../../src/executors/checkouts.ts';
import { closeObjectStores } from '../../../src/executors/object-store.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';

let fixture: TempRepo | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});
afterAll(() => closeObjectStores());

const take = (f: TempRepo) => checkoutFor({ repo: f.repo, workspacesDir: f.workspacesDir, programmerId: 'Prog-001', baseCommit: f.base });

describe('restoring a reused checkout without waiting for its own events', () => {
  it('hears every write a task makes the moment it holds the checkout, where the restore just wrote too, and restores it for the next task', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n', 'src/b.ts': 'b\n' }));
    const first = await take(f);
    writeFileSync(path.join(first.path, 'a.txt'), 'first\n');
    first.release();
    const before = restoreCounts.tracked;
    for (let i = 0; i < 60; i++) {
      const lease = await take(f);
      // The restore just wrote a.txt back (the last task changed it): the same file, written before anything else runs.
      expect(await readFile(path.join(lease.path, 'a.txt'), 'utf8')).toBe('a\n');
      writeFileSync(path.join(lease.path, 'a.txt'), `task ${i}\n`);
      if (i % 2 === 0) writeFileSync(path.join(lease.path, 'src', 'b.ts'), `task ${i}\n`);
      const changed = await changedPaths(lease.path);
      expect(changed).toEqual(i % 2 === 0 ? ['a.txt', 'src/b.ts'] : ['a.txt']);
      lease.release();
    }
    expect(restoreCounts.tracked - before).toBe(60);
    const last = await take(f);
    expect(await gitOut(last.path, 'status', '--porcelain', '--ignored', '--untracked-files=all')).toBe('');
    expect(await changedPaths(last.path)).toEqual([]);
    last.release();
  });

  it('answers flushes asked back to back, each after the writes made ahead of it (inotify merges an event repeated at once)', async () => {
    const f = (fixture = await createTempRepo({ 'a.txt': 'a\n' }));
    const lease = await take(f);
    for (let round = 0; round < 20; round++) {
      writeFileSync(path.join(lease.path, `new-${round}.txt`), `${round}\n`);
      // Asked in a row: nothing else is queued between their cookies' events.
      const answers = await Promise.all(Array.from({ length: 5 }, () => changedPaths(lease.path)));
      for (const answer of answers) expect(answer).toContain(`new-${round}.txt`);
    }
    lease.release();
  });
});
