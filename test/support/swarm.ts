/**
 * A swarm of programmers on one repository, for the concurrency test: task i edits line 1 of
 * its own file `src/d<i%20>/f<i>.ts` through the real pipeline (runProgrammerTask with the native
 * executor; every 7th task also runs a `verify` command in its programmer's checkout). The model
 * is in-process and answers every task's call only once `together` calls are in flight.
 *
 * Run as a script (`node --import tsx test/support/swarm.ts '<json>'`) it runs the swarm and
 * prints `committed <taskId>` lines, so a test can SIGKILL it in the middle.
 */
import path from 'node:path';
import type { TaskSpec } from '../../machines/domain.ts';
import type { ResolvedProgrammer } from '../../src/config/load-config.ts';
import type { CmdAllowlist, FsAllowlist } from '../../src/config/schemas.ts';
import { createNativeExecutor } from '../../src/executors/native-executor.ts';
import { runProgrammerTask } from '../../src/executors/run-task.ts';
import type { LlmCallOptions, LlmCallResult, LlmClient } from '../../src/llm/types.ts';
import type { TaskResult } from '../../machines/domain.ts';

export const SWARM_FS: FsAllowlist = { read: ['**/*'], write: ['src/**'], deny: [] };
export const SWARM_CMD: CmdAllowlist = { timeout_s: 60, commands: [{ name: 'node-check', program: 'node', args: ['-e'], allow_extra_args: true }] };

export function swarmFile(i: number): string {
  return `src/d${i % 20}/f${i}.ts`;
}

export function swarmContent(i: number): string {
  return `export const v${i} = 1;\n// file ${i}\n`;
}

export function swarmEdited(i: number): string {
  return `export const v${i} = 2;\n// file ${i}\n`;
}

/** Answers each task with its own edit once `together` calls are in flight (or after `maxWaitMs`). */
export class SwarmLlm implements LlmClient {
  inFlight = 0;
  maxInFlight = 0;
  private release!: () => void;
  private readonly allIn = new Promise<void>((resolve) => (this.release = resolve));

  constructor(
    private readonly together: number,
    private readonly maxWaitMs = 30_000,
  ) {}

  async call(options: LlmCallOptions): Promise<LlmCallResult> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.inFlight >= this.together) this.release();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.allIn, new Promise((resolve) => (timer = setTimeout(resolve, this.maxWaitMs)))]);
    clearTimeout(timer);
    this.inFlight -= 1;
    const i = Number(/^t(\d+)$/.exec(options.request.meta?.taskId ?? '')?.[1]);
    const text = [swarmFile(i), '<<<<<<< SEARCH', `export const v${i} = 1;`, '=======', `export const v${i} = 2;`, '>>>>>>> REPLACE'].join('\n');
    return { text, usage: { input: 10, output: 5 }, provider: 'ollama', model: 'qwen2.5-coder:7b-instruct', ref: options.primary, usedBackup: false, costUsd: 0, attempts: [] };
  }
}

export function swarmProgrammer(i: number): ResolvedProgrammer {
  return { id: `Prog-${String(i + 1).padStart(3, '0')}`, port: 6151 + i, parent: 'Mgr-Code-01', primary: 'ollama/qwen2.5-coder:7b-instruct', capabilities: [], executor: 'native', timeoutMs: 60_000, free: true };
}

export function swarmTask(i: number, base: string): TaskSpec {
  const verify = i % 7 === 0 ? { verify: ['node', '-e', `require('node:fs').readFileSync('${swarmFile(i)}','utf8').includes('= 2;') || process.exit(3)`] } : {};
  return { id: `t${i}`, jobId: 'swarm', managerId: 'Mgr-Code-01', replyTo: 'Mgr-Code-01', instruction: `Set v${i} to 2.`, files: [swarmFile(i)], baseCommit: base, ...verify };
}

export interface SwarmInput {
  repo: string;
  workspacesDir: string;
  base: string;
  programmers: number;
  /** Called as each task ends. */
  onDone?: (result: TaskResult) => void;
}

/** Runs one task per programmer, all at once. */
export async function runSwarm(input: SwarmInput, llm: LlmClient = new SwarmLlm(input.programmers)): Promise<TaskResult[]> {
  return Promise.all(
    Array.from({ length: input.programmers }, async (_, i) => {
      const result = await runProgrammerTask({
        task: swarmTask(i, input.base),
        programmer: swarmProgrammer(i),
        repo: input.repo,
        workspacesDir: input.workspacesDir,
        executor: createNativeExecutor({ fsAllowlist: SWARM_FS }),
        llm,
        receipts: { append: () => undefined },
        runId: 'run-swarm',
        fsAllowlist: SWARM_FS,
        cmdAllowlist: SWARM_CMD,
      });
      input.onDone?.(result);
      return result;
    }),
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  const input = JSON.parse(process.argv[2]!) as SwarmInput;
  // Answers come in a staggered way, so the kill finds some tasks committed and others mid-way.
  let n = 0;
  const staggered: LlmClient = {
    async call(options) {
      await new Promise((r) => setTimeout(r, 40 * n++));
      return new SwarmLlm(1).call(options);
    },
  } as LlmClient;
  await runSwarm({ ...input, onDone: (r) => process.stdout.write(`${r.status} ${r.taskId}\n`) }, staggered);
  process.stdout.write('all done\n');
}
