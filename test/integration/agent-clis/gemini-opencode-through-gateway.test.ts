/**
 * The real Gemini CLI and opencode binaries, run by an offline PAS tree, reach the scripted model
 * only through PAS's LLM gateway (Gemini's streamGenerateContent and OpenAI Chat Completions on
 * `/llm/...`): while a request is in flight, the CLI's environment (from /proc) holds the task's
 * credential and never a real key; every call is attributed to the task's job, task and
 * programmer; the receipt's tokens are the sum of what the gateway measured.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createDemoRepo } from '../../../src/cli/demo.ts';
import { loadConfig } from '../../../src/config/load-config.ts';
import { agentDemoConfig } from '../../../src/demo/agent-demo.ts';
import { DEMO_MODULES, demoCassette, documentedSource } from '../../../src/demo/demo-fixture.ts';
import { createScriptedAdapter } from '../../../src/llm/providers/scripted-adapter.ts';
import { createScriptedWire } from '../../../src/llm/wire/scripted-wire.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { environsIn } from '../../support/child-environ.ts';
import type { JsonAnswer } from '../../support/json-answer.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { SHIPPED_CONFIGS, tempConfig, type TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import { agentUrl, http, receiptOf, setEnv, waitForTask } from '../programmer/programmer-harness.ts';

const REAL = { GEMINI_API_KEY: 'AIza-real-key-never-in-a-cli-5d1e', OPENAI_API_KEY: 'sk-openai-real-key-never-in-a-cli-8e4f' };
const KEY_VAR = { 'gemini-cli': 'GEMINI_API_KEY', opencode: 'PAS_OPENCODE_API_KEY' } as const;

let tree: TestTree | undefined;
let cfg: TempConfig | undefined;
let restoreEnv: (() => void) | undefined;
afterEach(async () => {
  await tree?.close();
  cfg?.cleanup();
  restoreEnv?.();
  tree = cfg = restoreEnv = undefined;
});

describe('Gemini CLI and opencode behind PAS\'s LLM gateway (real binaries, offline scripted model)', () => {
  it('run with the gateway URL and a task credential in their environment, never a real key, and receipt what the gateway measured per task', async () => {
    restoreEnv = setEnv(REAL);
    const scripted = createScriptedAdapter(demoCassette({ planDelayMs: 0, editDelayMs: 0 }), { source: 'demo cassette' });
    const wire = createScriptedWire(scripted);
    const seen: Record<'gemini-cli' | 'opencode', string[][]> = { 'gemini-cli': [], opencode: [] };
    let workspaces = '';
    const config = agentDemoConfig(loadConfig(SHIPPED_CONFIGS), { executors: ['gemini-cli', 'opencode'], count: 2, binaries: { 'gemini-cli': agentCliBin('gemini'), opencode: agentCliBin('opencode') } });
    cfg = tempConfig('pas-gw-go-');
    const logFile = path.join(cfg.dir, 'pas.log');
    const logger = pino({ level: 'info' }, pino.destination({ dest: logFile, sync: true }));
    tree = await startTestTree({
      config,
      logger,
      services: createDefaultServices({
        offline: true,
        scripted,
        // The gateway's scripted model, looking at the CLIs' environments while their requests are in flight.
        scriptedWire: (route, body, call) => {
          for (const cli of ['gemini-cli', 'opencode'] as const) seen[cli].push(...environsIn(workspaces, KEY_VAR[cli]).map((c) => c.env));
          return wire(route, body, call);
        },
      }),
    });
    workspaces = path.join(tree.runtime.dataDir, 'workspaces');
    const repo = await createDemoRepo(path.join(cfg.dir, 'repo'));

    const tasks = (['gemini-cli', 'opencode'] as const).map(async (cli, i) => {
      const m = DEMO_MODULES[i]!;
      const prog = agentUrl(tree!, `Prog-00${i + 1}`);
      const body = { task_id: `${cli}-t`, job_id: `job-${cli}`, instruction: `Add a JSDoc comment above the exported function in ${m.file}.`, files: [m.file], repo };
      const accepted = await http(`${prog}/execute`, { body });
      expect(accepted.status, accepted.text).toBe(202);
      return waitForTask(prog, body.task_id, 150_000);
    });
    const done = await Promise.all(tasks);
    for (const [i, task] of done.entries()) {
      expect(task.status, JSON.stringify(task.error)).toBe('completed');
      const m = DEMO_MODULES[i]!;
      expect(`${await gitOut(repo, 'show', `${task.result.branch}:${m.file}`)}\n`).toBe(documentedSource(m));
    }

    const calls = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonAnswer).filter((l) => l.msg === 'llm gateway call');
    for (const [i, cli] of (['gemini-cli', 'opencode'] as const).entries()) {
      // The environment of the CLI (and its children) while its calls were in flight.
      const envs = seen[cli];
      expect(envs.length, cli).toBeGreaterThan(0);
      const text = envs.map((e) => e.join('\n')).join('\n');
      for (const real of Object.values(REAL)) expect(text).not.toContain(real);
      for (const env of envs) expect(env.find((e) => e.startsWith(`${KEY_VAR[cli]}=`))).toMatch(new RegExp(`^${KEY_VAR[cli]}=pas-task-`));
      if (cli === 'gemini-cli') expect(envs[0]).toContain(`GOOGLE_GEMINI_BASE_URL=${tree.url}/llm/gemini`);
      else expect(envs[0]!.find((e) => e.startsWith('OPENCODE_CONFIG_CONTENT='))).toContain(`"baseURL":"${tree.url}/llm/openai/v1"`);

      // Every call is the task's; the receipt is their sum.
      const mine = calls.filter((c) => c.taskId === `${cli}-t`);
      expect(mine.length, cli).toBeGreaterThanOrEqual(1);
      for (const c of mine) expect(c).toMatchObject({ jobId: `job-${cli}`, agentId: `Prog-00${i + 1}` });
      const receipt = receiptOf(tree, `${cli}-t`);
      expect(receipt).toMatchObject({ job_id: `job-${cli}`, agent_id: `Prog-00${i + 1}`, provider: 'scripted', status: 'completed', cost_usd: 0 });
      expect(receipt.tokens.input).toBe(mine.reduce((n, c) => n + c.usage.input, 0));
      expect(receipt.tokens.output).toBe(mine.reduce((n, c) => n + c.usage.output, 0));
      expect(JSON.stringify(receipt)).not.toContain('pas-task-');
    }
  }, 200_000);
});
