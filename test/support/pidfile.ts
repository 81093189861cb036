/**
 * Pid files that test processes write ("<pid> <pid> …"), read once they are whole.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { waitFor } from './git-fixtures.ts';

/**
 * The pids a test process wrote to `file` ("<pid> <pid> …"), once it holds `count` of them. A file
 * can exist before its writer's write lands (open, then write), so existing is not enough: read
 * too early, an empty file gives pid 0, which `ps` does not know.
 */
export async function readPidFile(file: string, count: number, timeoutMs = 10_000): Promise<number[]> {
  let pids: number[] = [];
  const complete = async (): Promise<boolean> => {
    const text = existsSync(file) ? await readFile(file, 'utf8') : '';
    pids = text.trim() === '' ? [] : text.trim().split(/\s+/).map(Number);
    return pids.length === count && pids.every((pid) => Number.isInteger(pid) && pid > 0);
  };
  if (!(await waitFor(complete, timeoutMs))) throw new Error(`${file} did not come to hold ${count} pids within ${timeoutMs} ms (it holds: ${JSON.stringify(pids)})`);
  return pids;
}
