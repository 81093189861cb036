/**
 * CPU spent by this process and by the children it has waited for (git, verify commands), read
 * around a benchmark batch: what a task costs the machine, apart from wall-clock time. Children
 * still running (the long-lived `git cat-file` and `update-ref`) are not counted until they end.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface CpuSample {
  /** This process's own user + system CPU, ms. */
  selfMs: number;
  /** User + system CPU of the children it has waited for, ms (Linux /proc; 0 elsewhere). */
  childrenMs: number;
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on Linux everywhere in practice). */
const USER_HZ = 100;

export function cpuSample(): CpuSample {
  const own = process.cpuUsage();
  let childrenMs = 0;
  try {
    // Fields after the command name (which may hold spaces): cutime and cstime are fields 16 and 17.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    childrenMs = ((Number(fields[13]) + Number(fields[14])) * 1000) / USER_HZ;
  } catch {
    childrenMs = 0;
  }
  return { selfMs: (own.user + own.system) / 1000, childrenMs };
}

export interface CpuPerTask {
  /** This process, ms per task. */
  processMs: number;
  /** Its children that ended during the batch (git, verify commands), ms per task. */
  childrenMs: number;
  /** The 1-minute load average of the machine when the batch ended. */
  load1: number;
}

/** CPU per task between two samples. */
export function cpuPerTask(before: CpuSample, after: CpuSample, tasks: number): CpuPerTask {
  const per = (ms: number) => Math.round((ms / Math.max(1, tasks)) * 10) / 10;
  return { processMs: per(after.selfMs - before.selfMs), childrenMs: per(after.childrenMs - before.childrenMs), load1: Math.round(os.loadavg()[0]! * 100) / 100 };
}
