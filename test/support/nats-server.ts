/**
 * A real NATS server (Debian's `nats-server`, JetStream on) for tests: a free port on 127.0.0.1,
 * a temporary store, ready when the server says so. `kill9()` then `restart()` brings it back on
 * the same port and store (what a broker crash looks like); `close()` stops it and removes the store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const NATS_SERVER_BIN = process.env.PAS_NATS_SERVER ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');

export interface StartNatsOptions {
  /** JetStream on (default true). */
  jetstream?: boolean;
  /** Clients must present this token (`--auth`). */
  token?: string;
  /** How long to wait for "Server is ready" (default 20 s: the machine may be loaded). */
  readyTimeoutMs?: number;
  /** Listen on this address (default 127.0.0.1), e.g. a veth address for a partition test. */
  host?: string;
  /** A program that runs the server for it, e.g. `['ip', 'netns', 'exec', NAME]`. */
  wrap?: string[];
  /** Serve the HTTP monitoring endpoints (/varz, /connz, /jsz) on a free port of 127.0.0.1 (`monitorUrl`). */
  monitor?: boolean;
}

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** http://127.0.0.1:PORT of the monitoring endpoints (with `monitor`). */
  readonly monitorUrl?: string;
  /** Pid of the running server (changes on restart). */
  readonly pid: number;
  /** Stops the server with `signal` (SIGTERM: a clean shutdown) and waits for it to exit; the store stays. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** SIGKILL: the broker dies without flushing anything. */
  kill9(): Promise<void>;
  /** Starts it again on the same port and store (after stop or kill9). */
  restart(): Promise<void>;
  /** Stops it and removes its store. */
  close(): Promise<void>;
  /** The server's log so far (stderr), for failure messages. */
  log(): string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startNatsServer(opts: StartNatsOptions = {}): Promise<NatsServerHandle> {
  const storeDir = await mkdtemp(path.join(os.tmpdir(), 'pas-nats-'));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  let child: ChildProcess | undefined;
  let logText = '';
  let port = 0;
  let monitorPort = 0;

  const launch = async (): Promise<void> => {
    logText += '--- start ---\n';
    const host = opts.host ?? '127.0.0.1';
    const args = ['-a', host, '-p', String(port), '--server_name', `pas-test-${port}`];
    if (opts.jetstream !== false) args.push('-js', '-sd', storeDir);
    if (opts.token !== undefined) args.push('--auth', opts.token);
    if (opts.monitor) args.push('-m', String(monitorPort));
    const [command, ...prefix] = [...(opts.wrap ?? []), NATS_SERVER_BIN];
    const proc = spawn(command!, [...prefix, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`nats-server on port ${port} not ready within ${readyTimeoutMs} ms:\n${own.slice(-2000)}`));
      }, readyTimeoutMs);
      let own = '';
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (chunk: string) => {
        logText += chunk;
        own += chunk;
        if (own.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${NATS_SERVER_BIN}: ${err.message} (install it: apt-get install -y nats-server)`));
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code ?? signal}) before it was ready:\n${own.slice(-2000)}`));
      });
    });
  };

  // A free port can be taken between the probe and the server's bind: try a few.
  for (let tries = 0; ; tries++) {
    port = await freePort();
    if (opts.monitor) monitorPort = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (tries >= 3 || !/address already in use/i.test(logText.split('--- start ---').pop() ?? '')) {
        await rm(storeDir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    await exited(proc);
  };
  return {
    url: `nats://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    storeDir,
    ...(opts.monitor ? { monitorUrl: `http://127.0.0.1:${monitorPort}` } : {}),
    get pid() {
      return child?.pid ?? -1;
    },
    stop,
    kill9: () => stop('SIGKILL'),
    restart: async () => {
      await stop();
      await launch();
    },
    close: async () => {
      await stop();
      await rm(storeDir, { recursive: true, force: true });
    },
    log: () => logText,
  };
}
