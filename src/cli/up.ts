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
  usage: '[options]',
  options: {
    'port-offset': { type: 'string', arg: 'N', help: 'add N to every port (gateway 6101+N, each agent its port+N)' },
    host: { type: 'string', arg: 'ADDR', help: 'bind address of every port (default gateway.host in pas.yaml, 127.0.0.1)' },
    offline: { type: 'boolean', help: 'no LLM: every model is the offline scripted model (see README, "Offline")' },
    inspect: { type: 'boolean', help: 'stream every actor to the Stately inspector bridge at /inspect' },
    'inspect-url': { type: 'string', arg: 'WS_URL', help: 'send inspector events to this WebSocket instead' },
    'drain-timeout': { type: 'string', arg: 'S', help: 'on Ctrl-C, wait up to S seconds for running jobs (default 30)' },
    'data-dir': { type: 'string', arg: 'DIR', help: 'journal, logs, receipts and workspaces (default runtime.data_dir, artifacts)' },
    quiet: { type: 'boolean', short: 'q', help: 'no log lines on the terminal (they still go to the log file)' },
    json: { type: 'boolean', help: 'log lines on the terminal as NDJSON instead of one readable line each' },
    'skip-doctor': { type: 'boolean', help: 'do not check models and executors at start-up' },
  },
  examples: ['pas up', 'pas up --offline --port-offset 100 --quiet', 'pas up --json | jq .msg'],
  notes: ['Logs always go to DATA_DIR/logs/pas-<run>.ndjson as NDJSON; the terminal gets one coloured line per entry.'],
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
      logFormat: values.json === true ? 'json' : 'pretty',
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
