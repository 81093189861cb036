/**
 * Runs the commands cmd_allowlist.yaml permits, without a shell, in the task's worktree. A
 * command matches an entry when its program and leading arguments are the entry's; extra
 * arguments only where allow_extra_args is true. A timeout or a cancel kills the whole process
 * tree the command started. A command known to come (a task's verify) can be started ahead,
 * held, and run later without the wait for its fork (prepareAllowedCommand).
 */
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import type { CmdAllowlist } from '../config/schemas.ts';
import { PasError } from '../errors.ts';
import { isSecretEnvName } from '../redaction.ts';
import { holdProcessTree, runProcessTree, tailLines, type ProcessTreeOptions, type ProcessTreeOutcome } from './process-tree.ts';
import { HELD_EXEC_FAILED, HELD_SHELL } from './spawn-child.ts';

export type AllowedCommand = CmdAllowlist['commands'][number];

export interface CommandRequest {
  allowlist: CmdAllowlist;
  /** Program then arguments, e.g. `['npm', 'test']`. */
  argv: readonly string[];
  /** The worktree. */
  cwd: string;
  signal?: AbortSignal;
  /** Overrides the allowlist's timeout_s. */
  timeoutMs?: number;
  killGraceMs?: number;
  /** Source of the child's environment (secrets are dropped); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface CommandResult {
  name: string;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  /** The last lines of stderr. */
  stderrTail: string;
  durationMs: number;
}

const STDERR_TAIL_LINES = 40;
const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH/i;

/** The allowlist entry `argv` matches, or undefined. */
export function matchCommand(allowlist: CmdAllowlist, argv: readonly string[]): AllowedCommand | undefined {
  const [program, ...args] = argv;
  if (program === undefined) return undefined;
  return allowlist.commands.find((entry) => {
    if (entry.program !== program) return false;
    if (args.length < entry.args.length) return false;
    if (!entry.args.every((arg, i) => args[i] === arg)) return false;
    return args.length === entry.args.length || entry.allow_extra_args;
  });
}

/** The environment of an allowed command: the parent's, minus anything that looks like a secret or that models.yaml names as a key (`api_key_env`, whatever its name). */
export function commandEnv(source: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value !== undefined && !SECRET_NAME.test(key) && !isSecretEnvName(key)) env[key] = value;
  }
  return { ...env, CI: '1' };
}

/**
 * Runs an allowed command. Returns its exit code and output whatever the code; throws
 * PAS_ERR_CMD_NOT_ALLOWED, PAS_ERR_CMD_TIMEOUT (tree killed) or PAS_ERR_TASK_CANCELLED.
 */
export async function runAllowedCommand(request: CommandRequest): Promise<CommandResult> {
  const entry = allowedEntry(request);
  return resultOf(entry, request, await runProcessTree({ ...treeOptions(entry, request), ...(request.signal ? { signal: request.signal } : {}) }));
}

/** A command started ahead of its run (command-runner's prepareAllowedCommand). */
export interface PreparedCommand {
  /** Runs it now, as runAllowedCommand would have (same answers and errors). Once only. */
  run(signal?: AbortSignal): Promise<CommandResult>;
  /** Ends it unrun; nothing once it ran. */
  cancel(): void;
}

/**
 * An allowed command started held (process-tree.ts holdProcessTree) in `cwd`, for a run to come:
 * what a task does while its model thinks, so the run starts without a fork. Its environment is
 * read now. Undefined when it would not start the same way later (not allowed, its program not
 * found on PATH now, no /bin/sh here): that run then goes through runAllowedCommand, which says
 * why. A held command that ended before its run (its spawner lost) is started anew by `run`.
 */
export function prepareAllowedCommand(request: Omit<CommandRequest, 'signal'>): PreparedCommand | undefined {
  const entry = matchCommand(request.allowlist, request.argv);
  // A name bash's `exec` would take for an option is started at its run (spawn-child.ts).
  if (!entry || entry.program.startsWith('-') || !canHold()) return undefined;
  const options = treeOptions(entry, request);
  if (!onPath(entry.program, options.cwd, options.env.PATH)) return undefined;
  const held = holdProcessTree(options);
  return {
    run: async (signal) => {
      if (held.endedUnrun) return runAllowedCommand({ ...request, ...(signal ? { signal } : {}) });
      const outcome = await held.run(signal);
      // Gone from PATH since it was held: the shell's exec failed, which an unheld start reports as not found.
      const vanished = (outcome.exitCode === 126 || outcome.exitCode === 127) && HELD_EXEC_FAILED.test(outcome.stderr);
      return resultOf(entry, request, vanished ? { ...outcome, notFound: true } : outcome);
    },
    cancel: () => held.cancel(),
  };
}

function allowedEntry(request: Omit<CommandRequest, 'signal'>): AllowedCommand {
  const entry = matchCommand(request.allowlist, request.argv);
  if (!entry) {
    throw new PasError('PAS_ERR_CMD_NOT_ALLOWED', `command not allowed: ${JSON.stringify(request.argv)}`, {
      details: { argv: [...request.argv] },
    });
  }
  return entry;
}

function treeOptions(entry: AllowedCommand, request: Omit<CommandRequest, 'signal'>): ProcessTreeOptions & { env: Record<string, string> } {
  return {
    file: entry.program,
    args: request.argv.slice(1),
    cwd: request.cwd,
    env: commandEnv(request.env ?? process.env),
    // PWD names the folder it runs in, as a shell that went there would say (the held start's shell sets it too).
    pwd: true,
    // Its environment holds no secret: the spawner may start it (no fork of this process).
    viaSpawner: true,
    timeoutMs: timeoutOf(request),
    ...(request.killGraceMs !== undefined ? { killGraceMs: request.killGraceMs } : {}),
  };
}

function timeoutOf(request: Omit<CommandRequest, 'signal'>): number {
  return request.timeoutMs ?? request.allowlist.timeout_s * 1000;
}

/** Whether this machine has the shell a held start waits in. */
let shellHere: boolean | undefined;
function canHold(): boolean {
  shellHere ??= process.platform !== 'win32' && isExecutable(HELD_SHELL);
  return shellHere;
}

function isExecutable(file: string): boolean {
  try {
    // A missing entry answers undefined, not an error: most PATH folders do not hold the program.
    if (!statSync(file, { throwIfNoEntry: false })?.isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether `program` (a name: the allowlist has no paths) is on PATH as the child will search it (a relative or empty entry from `cwd`). */
function onPath(program: string, cwd: string, pathVar: string | undefined): boolean {
  // No PATH: the shell and node each search their own default; the run decides.
  if (pathVar === undefined) return false;
  return pathVar.split(':').some((dir) => isExecutable(path.resolve(cwd, dir || '.', program)));
}

function resultOf(entry: AllowedCommand, request: Omit<CommandRequest, 'signal'>, outcome: ProcessTreeOutcome): CommandResult {
  const timeoutMs = timeoutOf(request);
  const stderrTail = tailLines(outcome.stderr, STDERR_TAIL_LINES);
  if (outcome.notFound) {
    throw new PasError('PAS_ERR_CMD_FAILED', `${entry.program} is not installed or not on PATH`, { details: { command: entry.name } });
  }
  if (outcome.aborted) {
    throw new PasError('PAS_ERR_TASK_CANCELLED', `${entry.name} was cancelled and its process tree killed`, {
      details: { command: entry.name, stderrTail },
    });
  }
  if (outcome.timedOut) {
    throw new PasError('PAS_ERR_CMD_TIMEOUT', `${entry.name} ran past ${timeoutMs} ms; its process tree was killed`, {
      details: { command: entry.name, timeoutMs, stderrTail },
    });
  }
  return {
    name: entry.name,
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    stdout: outcome.stdout,
    stderrTail,
    durationMs: outcome.durationMs,
  };
}
