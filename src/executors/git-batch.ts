/**
 * One long-lived git process that answers requests on stdin in order (`cat-file --batch`,
 * `update-ref --stdin`): a request is written, its answer parsed from the front of stdout. The
 * process starts on first use, is restarted after it dies (an `update-ref` that refuses a
 * transaction exits), and stops after a while idle. It never keeps Node alive on its own.
 */
import type { ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { PasError } from '../errors.ts';
import { spawnGit } from './git-command.ts';
import { spawnFailure } from './spawn-child.ts';

/** Parses one answer from the front of `buffer`: the value and the bytes it used, or null for "not all here yet". */
export type AnswerParser<T> = (buffer: Buffer) => { value: T; used: number } | null;

interface Pending {
  /** The process the request was written to: only its end fails the request. */
  owner: ChildProcess;
  parse: AnswerParser<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

const IDLE_MS = 30_000;

export class GitBatchProcess {
  private child: ChildProcess | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly pending: Pending[] = [];
  private stderr = '';
  private idleTimer: NodeJS.Timeout | undefined;
  /** The stdin whose writes are held until the end of this run of callbacks. */
  private corked: Writable | undefined;

  constructor(
    private readonly cwd: string,
    private readonly args: readonly string[],
  ) {}

  /** Writes `input` and resolves with the answer `parse` reads; rejects when the process dies first. */
  request<T>(input: string | Buffer, parse: AnswerParser<T>): Promise<T> {
    let child: ChildProcess;
    try {
      child = this.ensure();
    } catch (err) {
      // Out of file descriptors or memory: a coded, retryable answer; the next request tries again.
      return Promise.reject(spawnFailure('git', err as NodeJS.ErrnoException, { args: [...this.args], cwd: this.cwd }));
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ owner: child, parse, resolve: resolve as (v: unknown) => void, reject });
      const stdin = child.stdin;
      if (!stdin) return;
      // The requests made until the current run of callbacks ends go to git in one write.
      if (this.corked !== stdin) {
        this.corked = stdin;
        stdin.cork();
        process.nextTick(uncorkLater, this, stdin);
      }
      stdin.write(input);
    });
  }

  /** Sends what `request` held back (see there). */
  uncork(stdin: Writable): void {
    if (this.corked === stdin) this.corked = undefined;
    stdin.uncork();
  }

  /** Ends the process (its stdin closes; git exits on EOF). */
  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.child?.stdin?.end();
    this.child = undefined;
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    const child = spawnGit(this.cwd, this.args, { stdin: 'pipe' });
    this.child = child;
    this.buffer = Buffer.alloc(0);
    this.stderr = '';
    // First: a start that failed (EMFILE) is emitted as 'error' with the stdio streams unset.
    child.on('error', (err: NodeJS.ErrnoException) => this.fail(child, err.message, err));
    if (!child.stdin || !child.stdout || !child.stderr) return child;
    child.stdout.on('data', (chunk: Buffer) => {
      if (this.child !== child) return;
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.drain();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (this.child === child && this.stderr.length < 8192) this.stderr += chunk.toString('utf8');
    });
    // EPIPE after the process died is reported through 'close' below.
    child.stdin!.on('error', () => undefined);
    child.once('close', (code) => this.fail(child, `exited ${code}`));
    // Idle git batch processes must not hold the event loop open.
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    return child;
  }

  private drain(): void {
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      let parsed: { value: unknown; used: number } | null;
      try {
        parsed = head.parse(this.buffer);
      } catch (err) {
        this.pending.shift();
        head.reject(err as Error);
        continue;
      }
      if (!parsed) return;
      this.pending.shift();
      this.buffer = this.buffer.subarray(parsed.used);
      head.resolve(parsed.value);
    }
    if (this.pending.length === 0 && !this.idleTimer) {
      this.idleTimer = setTimeout(() => this.close(), IDLE_MS);
      this.idleTimer.unref();
    }
  }

  private fail(child: ChildProcess, why: string, spawnError?: NodeJS.ErrnoException): void {
    const current = this.child === child;
    if (current) this.child = undefined;
    // A process replaced after an idle close ends later: requests written to its successor stay.
    const waiting = this.pending.filter((p) => p.owner === child);
    if (waiting.length === 0) return;
    this.pending.splice(0, this.pending.length, ...this.pending.filter((p) => p.owner !== child));
    const message = (current ? this.stderr.trim() : '') || why;
    for (const p of waiting) {
      if (spawnError) p.reject(spawnFailure('git', spawnError, { args: [...this.args], cwd: this.cwd }));
      else p.reject(new PasError('PAS_ERR_GIT', `git ${this.args.join(' ')} failed: ${message}`, { details: { args: [...this.args], cwd: this.cwd, stderr: this.stderr.trim() } }));
    }
  }
}

function uncorkLater(batch: GitBatchProcess, stdin: Writable): void {
  batch.uncork(stdin);
}

/** Reads one "\n"-terminated line from the front of a buffer. */
export function lineParser(buffer: Buffer): { value: string; used: number } | null {
  const end = buffer.indexOf(0x0a);
  if (end < 0) return null;
  return { value: buffer.subarray(0, end).toString('utf8'), used: end + 1 };
}
