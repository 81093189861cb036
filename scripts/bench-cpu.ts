/**
 * CPU spent by this process and by the children it has waited for (git, verify commands; also the
 * spawners and those they started), read
 * around a benchmark batch: what a task costs the machine, apart from wall-clock time. Children
 * still running (the long-lived `git cat-file` and `update-ref`) are not counted until they end.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { spawnerPids } from '../src/executors/spawner.ts';

export interface CpuSample {
  /** This process's own user + system CPU, ms. */
  selfMs: number;
  /** User + system CPU of the children it has waited for, and of the spawners and their children, ms (Linux /proc; 0 elsewhere). */
  childrenMs: number;
  /** CPU of its main thread alone (the event loop), ms (Linux /proc; undefined elsewhere). */
  mainThreadMs?: number;
  /** The event loop's utilization so far (busy = CPU plus blocking calls such as a synchronous fsync). */
  loop: EventLoopUtilization;
}

/** CPU ms of this process's main thread so far, from Linux's per-thread scheduler statistics. */
function mainThreadMs(): number | undefined {
  try {
    const nanoseconds = Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
    return Number.isFinite(nanoseconds) ? nanoseconds / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on Linux everywhere in practice). */
const USER_HZ = 100;

/** CPU ms from /proc/<pid>/stat: the children it waited for, and its own too when `own`. */
function procTimesMs(pid: string, own: boolean): number {
  try {
    // Fields after the command name (which may hold spaces): utime, stime, cutime, cstime are fields 14–17.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[13]) + Number(fields[14]) + (own ? Number(fields[11]) + Number(fields[12]) : 0);
    return (ticks * 1000) / USER_HZ;
  } catch {
    return 0;
  }
}

export function cpuSample(): CpuSample {
  const own = process.cpuUsage();
  // The spawners' own CPU and their children's (the git processes and verify commands they started).
  let childrenMs = procTimesMs('self', false);
  for (const spawner of spawnerPids()) childrenMs += procTimesMs(String(spawner), true);
  const main = mainThreadMs();
  return { selfMs: (own.user + own.system) / 1000, childrenMs, ...(main !== undefined ? { mainThreadMs: main } : {}), loop: performance.eventLoopUtilization() };
}

export interface CpuPerTask {
  /** This process, ms per task. */
  processMs: number;
  /** Its children that ended during the batch (git, verify commands), ms per task. */
  childrenMs: number;
  /** Its main thread (the event loop), ms per task: when answers land together, this is done one task after another. */
  mainThreadMs?: number;
  /** The event loop's busy ms per task (its CPU plus blocking calls, and time the thread waited for a core). */
  loopBusyMs: number;
  /** The 1-minute load average of the machine when the batch ended. */
  load1: number;
}

/** CPU per task between two samples. */
export function cpuPerTask(before: CpuSample, after: CpuSample, tasks: number): CpuPerTask {
  const per = (ms: number) => Math.round((ms / Math.max(1, tasks)) * 10) / 10;
  const main = before.mainThreadMs !== undefined && after.mainThreadMs !== undefined ? { mainThreadMs: per(after.mainThreadMs - before.mainThreadMs) } : {};
  return {
    processMs: per(after.selfMs - before.selfMs),
    childrenMs: per(after.childrenMs - before.childrenMs),
    ...main,
    loopBusyMs: per(performance.eventLoopUtilization(after.loop, before.loop).active),
    load1: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}
