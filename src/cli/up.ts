import type { Command } from './commands.ts';
import { intOption } from './int-option.ts';
import { agentsWithoutModel, runDoctor, unusableModels, type DoctorRow } from '../doctor/doctor-checks.ts';
import { boot, drain, shutdown, untilSignal } from './boot.ts';
import { doctorProblems } from './doctor.ts';

export const OFFLINE_BANNER =
  'offline: no model is called. The demo task replays its cassette; any other job runs the whole flow (plan, parallel\n' +
  'programmers, worktrees, merge) with synthetic edits: a note appended to each named file. See README, "Offline".';

/** `! no usable model (…)` or `! primary unusable, backup in use` next to an agent in the tree. */
export function modelMark(llm: { primary: string; backup?: string } | undefined, unusable: ReadonlyMap<string, DoctorRow>): string {
  if (!llm) return '';
  const primary = unusable.get(llm.primary);
  if (!primary) return '';
  const backup = llm.backup ? unusable.get(llm.backup) : primary;
  if (backup) return `! no usable model (${llm.primary}: ${primary.detail})`;
  return `! primary ${llm.primary} unusable (${primary.detail}); backup ${llm.backup} will answer`;
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
    const offline = values.offline === true;
    // The same checks as `pas doctor`, before the first job can fail on them.
    const rows = values['skip-doctor'] === true ? [] : await runDoctor(runtime.config, { offline, timeoutMs: 2_000 });
    const unusable = unusableModels(rows);
    out.write(`PAS is up (run ${runtime.runId}${offline ? ', offline scripted model' : ''})\n`);
    if (offline) out.write(`${OFFLINE_BANNER}\n`);
    out.write(`HMI      ${gateway.url}/\nfeed     ${gateway.url.replace(/^http/, 'ws')}/ws\nmetrics  ${gateway.url}/metrics\n`);
    if (values.inspect) out.write(`inspector ${gateway.url}/inspect (Stately inspector bridge; relay at ${gateway.url.replace(/^http/, 'ws')}/inspect)\n`);
    if (values['inspect-url']) out.write(`inspector events → ${String(values['inspect-url'])}\n`);
    for (const agent of runtime.topology.agents) {
      const mark = modelMark(runtime.llmSettings.get(agent.agentId), unusable);
      out.write(`${agent.agentId.padEnd(18)} ${agent.role.padEnd(10)} http://${gateway.host}:${gateway.agentPorts.get(agent.agentId) ?? agent.port}  ${runtime.bus.state(agent.agentId)}${mark ? `  ${mark}` : ''}\n`);
    }
    const problems = doctorProblems(rows, agentsWithoutModel(runtime.config, rows));
    if (problems) out.write(problems);
    out.write(`logs     ${runtime.dataDir}/logs/pas-${runtime.runId}.ndjson\nCtrl-C to drain and stop.\n`);
    const signal = await untilSignal();
    out.write(`\n${signal}: draining (up to ${drainMs / 1000}s)…\n`);
    const left = await drain(runtime, drainMs);
    await shutdown(booted);
    out.write(left > 0 ? `stopped; ${left} unfinished job(s) stay journaled and resume at the next start\n` : 'stopped cleanly\n');
    return 0;
  },
};
