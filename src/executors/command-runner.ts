/**
 * Runs the commands cmd_allowlist.yaml permits, without a shell, in the task's worktree. A
 * command matches an entry when its program and leading arguments are the entry's; extra
 * arguments only where allow_extra_args is true. A timeout or a cancel kills the whole process
 * tree the command started.
 */
import type { CmdAllowlist } from '../config/schemas.ts';
import { PasError } from '../errors.ts';
import { isSecretEnvName } from '../redaction.ts';
import { runProcessTree, tailLines } from './process-tree.ts';

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
  const entry = matchCommand(request.allowlist, request.argv);
  if (!entry) {
    throw new PasError('PAS_ERR_CMD_NOT_ALLOWED', `command not allowed: ${JSON.stringify(request.argv)}`, {
      details: { argv: [...request.argv] },
    });
  }
  const timeoutMs = request.timeoutMs ?? request.allowlist.timeout_s * 1000;
  const outcome = await runProcessTree({
    file: entry.program,
    args: request.argv.slice(1),
    cwd: request.cwd,
    env: commandEnv(request.env ?? process.env),
    // Its environment holds no secret: the spawner may start it (no fork of this process).
    viaSpawner: true,
    timeoutMs,
    ...(request.signal ? { signal: request.signal } : {}),
    ...(request.killGraceMs !== undefined ? { killGraceMs: request.killGraceMs } : {}),
  });
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
