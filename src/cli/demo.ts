/**
 * `pas demo`: the offline demonstration. Boots the whole tree with the scripted model, runs one
 * multi-file job on a scratch git repository under artifacts/demo/, shows live progress, and
 * prints how many programmers worked at once, the speedup over running the same subtasks one by
 * one, the merged branch and the receipts path. `--keep` leaves the tree up for the HMI.
 * `--executors claude-code,codex` runs the subtasks on those coding-agent CLIs (in turn), which
 * reach the same scripted model through PAS's LLM gateway, in their providers' wire formats,
 * with per-task credentials; their receipts carry what the gateway measured (agent-demo.ts).
 */
import { rmSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { TaskResult } from '../../machines/domain.ts';
import { git } from '../executors/git-command.ts';
import { jobBranchName } from '../executors/worktree.ts';
import { createScriptedAdapter } from '../llm/providers/scripted-adapter.ts';
import { DEFAULT_DEMO_TIMING, DEMO_MODULES, DEMO_TASK, demoCassette, documentedSource, moduleSource } from '../demo/demo-fixture.ts';
import { agentDemoConfig, missingAgentClis } from '../demo/agent-demo.ts';
import { defaultConfigDir, loadConfig, type PasConfig } from '../config/load-config.ts';
import { executorKind, type ExecutorKind } from '../config/schemas.ts';
import type { TransitionRecord } from '../runtime/transition-record.ts';
import { boot, shutdown, untilSignal } from './boot.ts';
import type { Command } from './commands.ts';
import { intOption } from './int-option.ts';

/** The scratch repository: six modules and a README, one commit on main. */
export async function createDemoRepo(dir: string): Promise<string> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  await git(dir, ['init', '--quiet', '--initial-branch=main']);
  writeFileSync(path.join(dir, 'README.md'), '# demo-lib\n\nA tiny library that PAS documents in parallel.\n');
  for (const m of DEMO_MODULES) writeFileSync(path.join(dir, m.file), moduleSource(m));
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '--quiet', '-m', 'demo-lib: six undocumented modules']);
  return dir;
}

/** Largest number of programmers EXECUTING at the same moment, from the transition feed. */
export function peakConcurrency(records: readonly TransitionRecord[]): { peak: number; programmers: string[] } {
  let running = 0;
  let peak = 0;
  const busy = new Set<string>();
  const used = new Set<string>();
  for (const r of records) {
    if (r.role !== 'programmer') continue;
    if (r.to === 'EXECUTING' && !busy.has(r.agentId)) {
      busy.add(r.agentId);
      used.add(r.agentId);
      running++;
      peak = Math.max(peak, running);
    } else if (r.from === 'EXECUTING' && busy.delete(r.agentId)) {
      running--;
    }
  }
  return { peak, programmers: [...used].sort() };
}

export const demoCommand: Command = {
  summary: 'offline demonstration: one multi-file job on a scratch repo, live progress, parallelism and speedup',
  usage: '[options]',
  options: {
    keep: { type: 'boolean', help: 'leave the tree running afterwards so you can look at the HMI (Ctrl-C stops it)' },
    'port-offset': { type: 'string', arg: 'N', help: 'add N to every port (gateway 6101+N)' },
    'data-dir': { type: 'string', arg: 'DIR', help: 'journal, logs, receipts and the scratch repo (default artifacts)' },
    'edit-delay-ms': { type: 'string', arg: 'MS', help: 'how long each scripted edit takes (default 1500; 0 with --executors), to see the parallelism' },
    executors: { type: 'string', arg: 'A,B', help: 'run the subtasks on these executors in turn (claude-code, codex, gemini-cli, opencode, native); a CLI not installed stops the demo with exit 2 and its install command' },
  },
  examples: ['pas demo', 'pas demo --keep', 'pas demo --executors claude-code,codex'],
  async run(values) {
    const out = process.stdout;
    const portOffset = intOption(values, 'port-offset', 0);
    const executors = executorList(values.executors);
    if (typeof executors === 'string') {
      process.stderr.write(`pas demo: ${executors}\n`);
      return 2;
    }
    // Agent CLIs take a few seconds to start: no scripted delay is needed to see them work at once.
    const editDelayMs = intOption(values, 'edit-delay-ms', executors ? 0 : DEFAULT_DEMO_TIMING.editDelayMs);
    const scripted = createScriptedAdapter(demoCassette({ ...DEFAULT_DEMO_TIMING, editDelayMs }), { source: 'demo cassette' });
    let config: PasConfig | undefined;
    if (executors) {
      const base = loadConfig(defaultConfigDir());
      const missing = missingAgentClis(base, executors);
      if (missing.length > 0) {
        for (const m of missing) process.stderr.write(`pas demo: ${m.name} is not installed ("${m.binary}" is not on PATH); install it with:\n  ${m.install}\n`);
        return 2;
      }
      config = agentDemoConfig(base, { executors, count: DEMO_MODULES.length });
    }
    // Offline, the LLM gateway answers the CLIs' calls with this same scripted model (default-services).
    const booted = await boot({
      command: 'pas demo',
      portOffset,
      offline: true,
      services: { scripted },
      ...(config ? { config } : {}),
      ...(typeof values['data-dir'] === 'string' ? { dataDir: values['data-dir'] } : {}),
    });
    const { runtime, gateway } = booted;
    const executorOf = new Map(runtime.config.programmers.map((p) => [p.id, p.executor]));
    const repo = await createDemoRepo(path.join(runtime.dataDir, 'demo', 'repo'));
    out.write(`PAS demo (offline scripted model, run ${runtime.runId})\n`);
    out.write(`tree: Architect, ${runtime.config.pas.directors.length} Directors, ${runtime.config.pas.managers.length} Managers, ${runtime.config.programmers.length} Programmers; HMI ${gateway.url}/\n`);
    out.write(`repo: ${repo} (${DEMO_MODULES.length} modules)\njob:  ${DEMO_TASK}\n\n`);

    const records: TransitionRecord[] = [];
    const offFeed = runtime.onTransition((r) => records.push(r));
    const results: TaskResult[] = [];
    const tty = process.stdout.isTTY === true;
    const bar = tty
      ? new cliProgress.SingleBar({ format: ' subtasks {bar} {value}/{total} | programmers executing: {executing} | {elapsed}s', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic)
      : null;
    const started = Date.now();
    const executing = () => runtime.tree().filter((n) => n.role === 'programmer' && n.state === 'EXECUTING').length;
    const job = runtime.submitJob({ task: DEMO_TASK, files: DEMO_MODULES.map((m) => m.file), repo });
    bar?.start(DEMO_MODULES.length, 0, { executing: 0, elapsed: '0.0' });
    const offEvents = runtime.onFact((stated) => {
      if (stated.name !== 'recordTaskFinished') return;
      const result = stated.fact.result;
      if (result.jobId !== job.id) return;
      results.push(result);
      if (!bar) out.write(`  ${result.status.padEnd(9)} ${result.taskId} on ${result.programmerId} [${executorOf.get(result.programmerId) ?? '?'}] (${((result.durationMs ?? 0) / 1000).toFixed(1)}s)\n`);
    });
    const ticker = setInterval(() => bar?.update(results.length, { executing: executing(), elapsed: ((Date.now() - started) / 1000).toFixed(1) }), 100);
    let finished;
    try {
      finished = await runtime.waitForJob(job.id, executors ? 300_000 : 120_000);
    } finally {
      clearInterval(ticker);
      bar?.update(results.length, { executing: executing(), elapsed: ((Date.now() - started) / 1000).toFixed(1) });
      bar?.stop();
      offEvents();
      offFeed();
    }

    const outcome = finished.outcome;
    const { peak, programmers } = peakConcurrency(records);
    const taskTime = results.filter((r) => r.status === 'completed').reduce((n, r) => n + (r.durationMs ?? 0), 0);
    const starts = records.filter((r) => r.role === 'programmer' && r.to === 'EXECUTING').map((r) => Date.parse(r.ts));
    const ends = records.filter((r) => r.role === 'programmer' && r.from === 'EXECUTING').map((r) => Date.parse(r.ts));
    const parallelMs = starts.length > 0 && ends.length > 0 ? Math.max(...ends) - Math.min(...starts) : 0;
    const branch = jobBranchName(job.id);
    let documented = 0;
    for (const m of DEMO_MODULES) {
      const shown = await git(repo, ['show', `${branch}:${m.file}`], { okCodes: [128] });
      if (shown.stdout.trim() === documentedSource(m).trim()) documented++;
    }
    out.write(`\njob ${job.id}: ${finished.status} in ${((outcome?.durationMs ?? 0) / 1000).toFixed(1)}s\n`);
    out.write(`  programmers in parallel: ${peak} at once (${programmers.join(', ')})\n`);
    if (parallelMs > 0) {
      out.write(`  speedup: ${(taskTime / parallelMs).toFixed(2)}x over running the ${results.length} subtasks one by one (${(taskTime / 1000).toFixed(1)}s of subtask work in ${(parallelMs / 1000).toFixed(1)}s)\n`);
    }
    out.write(`  merged branch: ${branch} in ${repo} (${documented}/${DEMO_MODULES.length} modules documented; try: git -C ${repo} log --oneline ${branch})\n`);
    if (executors) {
      const ran = new Map<string, string[]>();
      for (const r of results) {
        if (r.status !== 'completed') continue;
        const kind = executorOf.get(r.programmerId) ?? '?';
        ran.set(kind, [...(ran.get(kind) ?? []), `${r.taskId} (${r.programmerId})`]);
      }
      out.write(`  executors: ${[...ran].map(([kind, tasks]) => `${kind} ran ${tasks.join(', ')}`).join('; ') || 'none completed'}\n`);
    }
    out.write(`  tokens: ${outcome?.tokens.input ?? 0} in / ${outcome?.tokens.output ?? 0} out, cost $${(outcome?.costUsd ?? 0).toFixed(6)} (scripted model)\n`);
    out.write(`  receipts: ${path.join(runtime.dataDir, 'receipts', `${runtime.runId}.jsonl`)}\n`);

    if (values.keep) {
      out.write(`\nThe tree stays up: open ${gateway.url}/ (Ctrl-C to stop).\n`);
      await untilSignal();
    }
    await shutdown(booted);
    return finished.status === 'completed' && documented === DEMO_MODULES.length ? 0 : 1;
  },
};

/** `--executors a,b`: the executors to run the subtasks on, in turn; a message when one is unknown. */
export function executorList(value: unknown): ExecutorKind[] | undefined | string {
  if (typeof value !== 'string') return undefined;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) return '--executors needs at least one executor';
  const known = executorKind.options as readonly string[];
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) return `--executors: unknown executor ${unknown.map((u) => `"${u}"`).join(', ')} (known: ${known.join(', ')})`;
  return names as ExecutorKind[];
}
