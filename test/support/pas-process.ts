/**
 * `pas up` as its own process, the way a user runs it: started on a port offset with a configs
 * folder and a data dir, ready once it prints its banner, and killed with SIGKILL on demand.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface PasProcess {
  child: ChildProcess;
  /** The gateway, e.g. http://127.0.0.1:16101 */
  url: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
}

export interface PasUpOptions {
  configDir: string;
  dataDir: string;
  portOffset: number;
  /** Extra `pas up` arguments (default: --offline --quiet). */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** A program that runs node for it, e.g. `['prlimit', '--nofile=1024:1024']`. */
  wrap?: string[];
  /** Called with every child started, so a test can kill leftovers in afterEach. */
  track?: (child: ChildProcess) => void;
}

export async function startPasUp(options: PasUpOptions): Promise<PasProcess> {
  let output = '';
  const [command, ...prefix] = [...(options.wrap ?? []), process.execPath];
  const child = spawn(
    command!,
    [...prefix, 'bin/pas.mjs', 'up', ...(options.args ?? ['--offline', '--quiet']), '--port-offset', String(options.portOffset), '--data-dir', options.dataDir],
    { cwd: ROOT, env: { ...process.env, PAS_CONFIG_DIR: options.configDir, PAS_API_TOKEN: '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  options.track?.(child);
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => {
      clearInterval(check);
      reject(new Error(`pas up exited ${code} before it was ready:\n${output}`));
    };
    const check = setInterval(() => {
      if (!output.includes('Ctrl-C to drain')) return;
      clearInterval(check);
      child.off('exit', onExit);
      resolve();
    }, 20);
    child.once('exit', onExit);
  });
  return { child, url: `http://127.0.0.1:${6101 + options.portOffset}`, output: () => output };
}

/** SIGKILL, and resolve with the signal once the process is gone (null if it had already exited). */
export async function kill9(child: ChildProcess): Promise<NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return null;
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGKILL');
  return exited;
}

export interface PasExit {
  code: number | null;
  /** stdout and stderr together. */
  output: string;
}

/**
 * Runs `pas ARGS` with the configs in `configDir` and resolves once it exits; rejects (and kills
 * it) if it is still running after `timeoutMs`: a command that should have ended hangs.
 */
export function runPasToExit(args: string[], options: { configDir: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<PasExit> {
  const child = spawn(process.execPath, ['bin/pas.mjs', ...args], { cwd: ROOT, env: { ...process.env, PAS_CONFIG_DIR: options.configDir, PAS_API_TOKEN: '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pas ${args.join(' ')} still running after ${options.timeoutMs} ms (hung); it printed:\n${output}`));
    }, options.timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
