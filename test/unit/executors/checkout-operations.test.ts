import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { operationInProgress } from '../../../src/executors/checkout-operations.ts';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pas-ops-'));
  await mkdir(path.join(dir, '.git', 'refs'), { recursive: true });
  await writeFile(path.join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('operationInProgress', () => {
  it('says no for a checkout with no operation file in .git', async () => {
    expect(await operationInProgress(dir)).toBe(false);
  });

  it.each(['MERGE_HEAD', 'CHERRY_PICK_HEAD', 'REVERT_HEAD', 'BISECT_LOG', 'AUTO_MERGE'])('says yes when .git holds %s', async (name) => {
    await writeFile(path.join(dir, '.git', name), 'x\n');
    expect(await operationInProgress(dir)).toBe(true);
  });

  it('says yes for a rebase folder and for refs/bisect', async () => {
    await mkdir(path.join(dir, '.git', 'rebase-merge'));
    expect(await operationInProgress(dir)).toBe(true);
    await rm(path.join(dir, '.git', 'rebase-merge'), { recursive: true });
    await mkdir(path.join(dir, '.git', 'refs', 'bisect'));
    expect(await operationInProgress(dir)).toBe(true);
  });

  it('follows a symlink as access() does: one to a file counts, a dangling one does not', async () => {
    await writeFile(path.join(dir, 'elsewhere'), 'x\n');
    await symlink(path.join(dir, 'missing'), path.join(dir, '.git', 'MERGE_HEAD'));
    expect(await operationInProgress(dir)).toBe(false);
    await symlink(path.join(dir, 'elsewhere'), path.join(dir, '.git', 'REVERT_HEAD'));
    expect(await operationInProgress(dir)).toBe(true);
  });

  it('says no (no throw) when .git is a file or missing', async () => {
    await rm(path.join(dir, '.git'), { recursive: true });
    expect(await operationInProgress(dir)).toBe(false);
    await writeFile(path.join(dir, '.git'), 'gitdir: /elsewhere\n');
    expect(await operationInProgress(dir)).toBe(false);
  });
});
