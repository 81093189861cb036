/**
 * Runs one agent CLI process (execa, never a shell) as the leader of its own process group and
 * hands every complete stdout line to `onLine` as it arrives. A timeout, a stall (no stdout line
 * for `stallMs`) or an abort sends SIGTERM to the whole group, then SIGKILL after the grace; when
 * the leader ends, whatever is left in its group is killed too. Output is not buffered whole: only
 * a bounded tail of stdout and stderr is kept.
 */
import { execa } from 'execa';
import { signalProcessGroup } from '../process-tree.ts';

export interface AgentProcessOptions {
  file: string;
  args: readonly string[];
  cwd: string;
  /** The complete environment of the child (the parent's is not inherited). */
  env: Record<string, string>;
  stdin?: string;
  timeoutMs: number;
  /** Kill when no stdout line came for this long (undefined: never). */
  stallMs?: number;
  signal?: AbortSignal;
  killGraceMs?: number;
  onLine: (line: string) => void;
  /** Hears every complete stderr line (does not count as an event for the stall timer). */
  onStderrLine?: (line: string) => void;
  /** Aborting it ends the run like a timeout does (the tree is killed), with `stopped` set. */
  stop?: AbortSignal;
  /** Called once, the moment the tree is to be killed (timeout, stall, abort, stop), before SIGTERM. */
  onKill?: () => void;
}

export interface AgentProcessOutcome {
  pid: number | undefined;
  exitCode: number | null;
  signal: string | null;
  /** The last lines of stdout and stderr. */
  stdoutTail: string;
  stderrTail: string;
  timedOut: boolean;
  stalled: boolean;
  aborted: boolean;
  /** Ended through `stop` (the caller decided the run had failed already). */
  stopped: boolean;
  notFound: boolean;
  durationMs: number;
}

const TAIL_BYTES = 16 * 1024;
/** A longer line is cut (a runaway tool output must not hold the heap). */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

function keepTail(tail: string, more: string): string {
  const next = tail + more;
  return next.length > TAIL_BYTES ? next.slice(next.length - TAIL_BYTES) : next;
}

export async function runAgentProcess(options: AgentProcessOptions): Promise<AgentProcessOutcome> {
  const started = Date.now();
  const grace = options.killGraceMs ?? 2_000;
  const empty = { pid: undefined, exitCode: null, signal: null, stdoutTail: '', stderrTail: '', timedOut: false, stalled: false, stopped: false, notFound: false, durationMs: 0 };
  if (options.signal?.aborted) return { ...empty, aborted: true };

  const child = execa(options.file, [...options.args], {
    cwd: options.cwd,
    env: options.env,
    extendEnv: false,
    detached: true,
    cleanup: false,
    reject: false,
    buffer: false,
    stdin: options.stdin === undefined ? 'ignore' : 'pipe',
    ...(options.stdin === undefined ? {} : { input: options.stdin }),
    windowsHide: true,
  });
  const pid = child.pid;

  let timedOut = false;
  let stalled = false;
  let aborted = false;
  let graceTimer: NodeJS.Timeout | undefined;
  let stallTimer: NodeJS.Timeout | undefined;
  const killTree = () => {
    if (pid === undefined || graceTimer) return;
    options.onKill?.();
    signalProcessGroup(pid, 'SIGTERM');
    graceTimer = setTimeout(() => signalProcessGroup(pid, 'SIGKILL'), grace);
  };
  const armStall = () => {
    if (options.stallMs === undefined) return;
    if (stallTimer) clearTimeout(stallTimer);
    stallTimer = setTimeout(() => {
      if (timedOut || aborted) return;
      stalled = true;
      killTree();
    }, options.stallMs);
  };
  const timer = setTimeout(() => {
    if (stalled || aborted) return;
    timedOut = true;
    killTree();
  }, options.timeoutMs);
  const onAbort = () => {
    if (timedOut || stalled) return;
    aborted = true;
    killTree();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let stopped = false;
  const onStop = () => {
    if (timedOut || stalled || aborted) return;
    stopped = true;
    killTree();
  };
  options.stop?.addEventListener('abort', onStop, { once: true });
  armStall();

  let stdoutTail = '';
  let stderrTail = '';
  let pending = '';
  const flushLine = (line: string) => {
    const text = line.replace(/\r$/, '');
    if (text.trim() === '') return;
    try {
      options.onLine(text);
    } catch {
      // A parser fault must not kill the run; the result event decides.
    }
  };
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    stdoutTail = keepTail(stdoutTail, chunk);
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      flushLine(pending.slice(0, newline));
      armStall();
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
    if (pending.length > MAX_LINE_BYTES) pending = pending.slice(0, MAX_LINE_BYTES);
  });
  child.stderr?.setEncoding('utf8');
  let pendingErr = '';
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = keepTail(stderrTail, chunk);
    if (!options.onStderrLine) return;
    pendingErr += chunk;
    let newline = pendingErr.indexOf('\n');
    while (newline !== -1) {
      const line = pendingErr.slice(0, newline).replace(/\r$/, '');
      pendingErr = pendingErr.slice(newline + 1);
      newline = pendingErr.indexOf('\n');
      try {
        if (line.trim()) options.onStderrLine(line);
      } catch {
        // A parser fault must not kill the run.
      }
    }
    if (pendingErr.length > MAX_LINE_BYTES) pendingErr = pendingErr.slice(0, MAX_LINE_BYTES);
  });

  try {
    const result = await child;
    if (pending) flushLine(pending);
    const code = (result as { code?: string }).code;
    return {
      pid,
      exitCode: typeof result.exitCode === 'number' ? result.exitCode : null,
      signal: result.signal ?? null,
      stdoutTail,
      stderrTail,
      timedOut,
      stalled,
      aborted,
      stopped,
      notFound: pid === undefined && (code === 'ENOENT' || code === 'EACCES'),
      durationMs: Date.now() - started,
    };
  } finally {
    clearTimeout(timer);
    if (stallTimer) clearTimeout(stallTimer);
    if (graceTimer) clearTimeout(graceTimer);
    options.signal?.removeEventListener('abort', onAbort);
    options.stop?.removeEventListener('abort', onStop);
    // Reap anything the leader left behind in its group (a tool's server, a shell's children).
    if (pid !== undefined) signalProcessGroup(pid, 'SIGKILL');
  }
}
