/** Shared by `pas up` and `pas demo`: config → logger → runtime → gateway. */
import path from 'node:path';
import type { InspectionEvent } from 'xstate';
import { defaultConfigDir, loadConfig, type PasConfig } from '../config/load-config.ts';
import { runDoctor } from '../doctor/doctor-checks.ts';
import { startGateway, type Gateway } from '../gateway/gateway.ts';
import { createRuntime, type Runtime } from '../runtime/create-runtime.ts';
import { createDefaultServices, type DefaultServiceOptions } from '../runtime/default-services.ts';
import { registerSecretEnvNames, redactValue } from '../redaction.ts';
import { createLogger } from '../runtime/logger.ts';
import { holdDataDir, type DataDirHold } from './data-dir-lock.ts';
import { checkPortOffset, prepareDataDir } from './startup-checks.ts';
import type { Distribution } from '../distribution/central-service.ts';

export interface BootOptions {
  configDir?: string;
  dataDir?: string;
  portOffset?: number;
  host?: string;
  offline?: boolean;
  services?: DefaultServiceOptions;
  /** Mirror log lines to stdout (they always go to artifacts/logs/ as NDJSON). */
  logStdout?: boolean;
  /** The stdout copy: one readable line per entry (default) or NDJSON (`pas up --json`). */
  logFormat?: 'pretty' | 'json';
  inspect?: boolean;
  inspectUrl?: string;
  config?: PasConfig;
  /** Which command holds the data dir, as a second start's refusal names it (default `pas up`). */
  command?: string;
}

export interface Booted {
  config: PasConfig;
  runtime: Runtime;
  gateway: Gateway;
  stopInspector?: () => void;
  /** Programmers on other hosts (pas.yaml `distribution`); the NATS client is loaded only then. */
  distribution?: Distribution;
  /** This process's hold on the data dir (one central process per journal); `shutdown` lets it go. */
  dataDirHold: DataDirHold;
}

export async function boot(options: BootOptions): Promise<Booted> {
  const config = options.config ?? loadConfig(options.configDir ?? defaultConfigDir());
  checkPortOffset(config, options.portOffset ?? 0);
  const dataDir = prepareDataDir(config, options.dataDir);
  const hold = holdDataDir(dataDir, options.command ?? 'pas up');
  try {
    return await bootHolding(options, config, dataDir, hold);
  } catch (err) {
    hold.release();
    throw err;
  }
}

async function bootHolding(options: BootOptions, config: PasConfig, dataDir: string, dataDirHold: DataDirHold): Promise<Booted> {
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${process.pid}`;
  registerSecretEnvNames(config.models);
  const logger = createLogger({
    file: path.join(dataDir, 'logs', `pas-${runId}.ndjson`),
    stdout: options.logStdout ?? false,
    stdoutFormat: options.logFormat ?? 'pretty',
  });

  const host = options.host ?? config.pas.gateway.host;
  const offset = options.portOffset ?? 0;
  let inspect: ((ev: InspectionEvent) => void) | undefined;
  let stopInspector: (() => void) | undefined;
  if (options.inspect || options.inspectUrl) {
    const { createWebSocketInspector } = await import('@statelyai/inspect');
    const clean = <T,>(value: T): T => redactValue(value ?? null) as T;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    const url = options.inspectUrl ?? `ws://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${config.pas.gateway.port + offset}/inspect`;
    const inspector = createWebSocketInspector({ url, sanitizeContext: clean, sanitizeEvent: clean });
    // `inspector.inspect` is an observer ({next}), not a function.
    inspect = (ev: InspectionEvent) => inspector.inspect.next?.(ev);
    stopInspector = () => inspector.stop();
  }

  // Before the runtime resumes: results workers sent while this process was down are in hand.
  const distribution = config.pas.distribution ? await (await import('../distribution/central-service.ts')).startDistribution(config, logger) : undefined;
  const services = createDefaultServices({ ...options.services, ...(options.offline ? { offline: true } : {}) });
  let runtime: Runtime;
  try {
    runtime = createRuntime({
      config,
      dataDir,
      runId,
      logger,
      portOffset: offset,
      services: distribution ? distribution.wrapServices(services) : services,
      ...(inspect ? { inspect } : {}),
    });
  } catch (err) {
    // A journal that cannot be opened, say: what started stops, so the process exits with the error.
    stopInspector?.();
    await distribution?.stop();
    throw err;
  }
  distribution?.attach(runtime);
  try {
    const gateway = await startGateway(runtime, { host, inspectorRelay: !!options.inspect && !options.inspectUrl, doctor: () => runDoctor(config, { offline: options.offline === true }) });
    return { config, runtime, gateway, dataDirHold, ...(stopInspector ? { stopInspector } : {}), ...(distribution ? { distribution } : {}) };
  } catch (err) {
    stopInspector?.();
    await runtime.stop();
    await distribution?.stop();
    throw err;
  }
}

export async function shutdown(booted: Booted): Promise<void> {
  booted.stopInspector?.();
  await booted.gateway.close();
  await booted.runtime.stop();
  await booted.distribution?.stop();
  booted.dataDirHold.release();
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** Refuse new work, then wait (bounded) for jobs in flight; unfinished ones resume next start. */
export async function drain(runtime: Runtime, timeoutMs: number): Promise<number> {
  runtime.closeIntake();
  const deadline = Date.now() + timeoutMs;
  while (runtime.unfinishedJobs() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return runtime.unfinishedJobs();
}
