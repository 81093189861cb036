/**
 * Reading the pids a test process wrote: the file exists from its writer's open, before its write
 * lands, so the reader waits for the whole list (an early read used to give pid 0, "not running").
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readPidFile } from '../../support/pidfile.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pas-pidfile-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readPidFile', () => {
  it('waits past an empty file until the writer has written every pid', async () => {
    const file = path.join(dir, 'pids');
    await writeFile(file, '');
    const reading = readPidFile(file, 2);
    await new Promise((r) => setTimeout(r, 100));
    await writeFile(file, '4242 4343');
    expect(await reading).toEqual([4242, 4343]);
  });

  it('waits past a list that is still short', async () => {
    const file = path.join(dir, 'pids');
    await writeFile(file, '4242 ');
    const reading = readPidFile(file, 2);
    await new Promise((r) => setTimeout(r, 100));
    await writeFile(file, '4242 4343\n');
    expect(await reading).toEqual([4242, 4343]);
  });

  it('fails naming the file and what it holds when the pids never all arrive', async () => {
    const file = path.join(dir, 'pids');
    await writeFile(file, '4242');
    await expect(readPidFile(file, 2, 200)).rejects.toThrow(`${file} did not come to hold 2 pids within 200 ms (it holds: [4242])`);
  });
});
