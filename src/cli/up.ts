import { PasError } from '../errors.ts';
import type { Command } from './commands.ts';
import { boot, drain, shutdown, untilSignal } from './boot.ts';

export function intOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new PasError('PAS_ERR_BAD_REQUEST', `--${name} takes a whole number, got "${String(raw)}"`);
  return n;
}

export const upCommand: Command = {
  summary: 'boot the whole tree; print the HMI URL and every agent; Ctrl-C drains and exits 0',
  options: {
    'port-offset': { type: 'string' },
    host: { type: 'string' },
    offline: { type: 'boolean' },
    inspect: { type: 'boolean' },
    'inspect-url': { type: 'string' },
    'drain-timeout': { type: 'string' },
    'data-dir': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  },
  async run(values) {
    const portOffset = intOption(values, 'port-offset', 0);
    const drainMs = intOption(values, 'drain-timeout', 30) * 1000;
    const booted = await boot({
      portOffset,
      ...(typeof values.host === 'string' ? { host: values.host } : {}),
      ...(typeof values['data-dir'] === 'string' ? { dataDir: values['data-dir'] } : {}),
      offline: values.offline === true,
      inspect: values.inspect === true,
      ...(typeof values['inspect-url'] === 'string' ? { inspectUrl: values['inspect-url'] } : {}),
      logStdout: values.quiet !== true,
    });
    const { runtime, gateway } = booted;
    const out = process.stdout;
    out.write(`PAS is up (run ${runtime.runId}${values.offline ? ', offline scripted model' : ''})\n`);
    out.write(`HMI      ${gateway.url}/\nfeed     ${gateway.url.replace(/^http/, 'ws')}/ws\nmetrics  ${gateway.url}/metrics\n`);
    if (values.inspect) out.write(`inspector ${gateway.url}/inspect (Stately inspector bridge; relay at ${gateway.url.replace(/^http/, 'ws')}/inspect)\n`);
    if (values['inspect-url']) out.write(`inspector events → ${String(values['inspect-url'])}\n`);
    for (const agent of runtime.topology.agents) {
      out.write(`${agent.agentId.padEnd(18)} ${agent.role.padEnd(10)} http://${gateway.host}:${gateway.agentPorts.get(agent.agentId) ?? agent.port}  ${runtime.bus.state(agent.agentId)}\n`);
    }
    out.write(`logs     ${runtime.dataDir}/logs/pas-${runtime.runId}.ndjson\nCtrl-C to drain and stop.\n`);
    const signal = await untilSignal();
    out.write(`\n${signal}: draining (up to ${drainMs / 1000}s)…\n`);
    const left = await drain(runtime, drainMs);
    await shutdown(booted);
    out.write(left > 0 ? `stopped; ${left} unfinished job(s) stay journaled and resume at the next start\n` : 'stopped cleanly\n');
    return 0;
  },
};
