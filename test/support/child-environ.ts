/**
 * The environments of running processes, read from /proc (as a test sees what a child PAS
 * started really has): those whose working directory is inside `dir` (a task checkout, where
 * an agent CLI or aider runs), optionally only those whose environment has `variable`.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export interface ChildEnviron {
  pid: number;
  /** `NAME=value` entries. */
  env: string[];
}

export function environsIn(dir: string, variable?: string): ChildEnviron[] {
  const out: ChildEnviron[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readlinkSync(`/proc/${name}/cwd`).startsWith(dir + path.sep)) continue;
      const env = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      if (variable === undefined || env.some((e) => e.startsWith(`${variable}=`))) out.push({ pid: Number(name), env });
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}
