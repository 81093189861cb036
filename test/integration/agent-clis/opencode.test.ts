/**
 * The real opencode (test/agent-clis, 1.18.33) run by PAS against a local server speaking OpenAI
 * Chat Completions with streamed tool_calls and include_usage: it edits files through its own
 * tools, PAS commits them, and the receipt holds exactly the tokens the server reported.
 * opencode starts slowly (3.5–12 s), so this file keeps to a few runs with generous timeouts.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { ModelsConfigFile } from '../../../src/config/schemas.ts';
import { opencodeSpec } from '../../../src/executors/agent-cli/opencode.ts';
import { callCost } from '../../../src/llm/prices.ts';
import { requestCwd } from '../../../src/llm/wire/scripted-tool-calls.ts';
import type { WireRequest } from '../../../src/llm/wire/wire-turn.ts';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { runAgentTask } from '../../support/wire-task-harness.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { wireError, type WireBehaviour } from '../../support/scripted-wire-server.ts';
import { expectNothingLeft, expectRefusedOutsideAllowlist, GIT_STATUS_ALLOWLIST, OPENCODE_WRITE, WIRE_FS_ALLOWLIST, wireCliRig, writesOutsideAllowlist } from './wire-cli-rig.ts';

const OPENCODE = agentCliBin('opencode');
const GPT4O = { input_per_mtok: 2.5, output_per_mtok: 10, cache_read_per_mtok: 1.25 };
const MINI = { input_per_mtok: 0.15, output_per_mtok: 0.6, cache_read_per_mtok: 0.075 };
const SLOW = 180_000;

const rig = wireCliRig();

const programmer: ResolvedProgrammer = {
  id: 'Prog-012',
  port: 6162,
  parent: 'Mgr-Code-01',
  primary: 'openai/gpt-4o',
  backup: 'openai/gpt-4o-mini',
  capabilities: [],
  executor: 'opencode',
  timeoutMs: 150_000,
  free: false,
};

/** Round 0: edit src/math.js and run a command; round 1: a closing text. A request without tools (a title) gets a title. */
function editingModel(request: WireRequest): WireBehaviour {
  if (request.tools.length === 0) return { turn: { text: 'Document add', usage: { input: 40, output: 3 } } };
  if (request.toolRounds === 0) {
    const cwd = requestCwd(request) ?? '';
    return {
      turn: {
        toolCalls: [
          { name: 'edit', input: { filePath: path.join(cwd, 'src/math.js'), oldString: 'export function add(a, b) {', newString: '/** Adds. */\nexport function add(a, b) {' } },
          { name: 'bash', input: { command: 'git status --short', description: 'See what changed' } },
          { name: 'bash', input: { command: 'touch src/forbidden.js', description: 'Not the verify command' } },
        ],
        usage: { input: 3000, output: 90, cacheRead: 1000, thinking: 10 },
      },
    };
  }
  return { turn: { text: 'Documented add in src/math.js.', usage: { input: 3300, output: 15 } } };
}

async function run(respond: (request: WireRequest) => WireBehaviour, opts: { timeout_s?: number; signal?: AbortSignal } = {}) {
  const { fixture, server, runsDir } = await rig.start({ 'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n', 'README.md': '# lib\n' }, respond);
  const models: ModelsConfigFile = {
    providers: { openai: { base_url: `${server.origin}/v1`, base_url_env: 'OPENAI_BASE_URL', api_key_env: 'OPENAI_API_KEY', timeout_s: 120, models: { 'gpt-4o': GPT4O, 'gpt-4o-mini': MINI } } },
  };
  const result = await runAgentTask({
    spec: opencodeSpec,
    settings: { binary: OPENCODE, timeout_s: opts.timeout_s ?? 120, stall_timeout_s: 120, max_turns: 10, max_retries: 0 },
    fixture,
    models,
    fsAllowlist: WIRE_FS_ALLOWLIST,
    programmer,
    env: { PATH: process.env.PATH, OPENAI_API_KEY: 'sk-opencode-test' },
    task: { instruction: 'Add a doc comment above add in src/math.js.', files: ['src/math.js'], verify: ['git', 'status', '--short'] },
    cmdAllowlist: GIT_STATUS_ALLOWLIST,
    runsDir,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { ...result, runsDir };
}

describe('the opencode executor (real opencode)', () => {
  it(
    'completes a subtask through its own tools: committed, receipt tokens as the server sent them, priced as opencode priced them',
    async () => {
      const { result, receipts, progress, runsDir } = await run(editingModel);
      expect(result.status, JSON.stringify(result.error)).toBe('completed');
      expect(await gitOut(rig.fixture.repo, 'show', `${result.branch}:src/math.js`)).toBe('/** Adds. */\nexport function add(a, b) {\n  return a + b;\n}');
      const receipt = receipts[0]!;
      // Two model turns: 3000 + 3300 in (1000 cached), 90 + 15 out (10 reasoning).
      expect(receipt.tokens).toEqual({ input: 6300, output: 105, thinking: 10, cache_read: 1000, cache_write: 0 });
      expect(receipt).toMatchObject({ provider: 'openai', model: 'gpt-4o', used_backup: false, status: 'completed' });
      expect(receipt.cost_usd).toBeCloseTo(callCost('openai', GPT4O, receipt.tokens), 6);
      expect(progress).toContainEqual(expect.objectContaining({ kind: 'file', tool: 'edit', path: 'src/math.js' }));
      expect(progress).toContainEqual(expect.objectContaining({ kind: 'command', command: 'git status --short', exitCode: 0 }));
      // Any shell command but the verify command is refused by opencode's own permissions.
      expect(receipt.kpi.files_changed).toBe(1);
      expect(await gitOut(rig.fixture.repo, 'ls-tree', '-r', '--name-only', result.branch!)).not.toContain('forbidden');
      // Chat Completions, streamed with usage, the key as a bearer token; no title request.
      const call = rig.server.calls[0]!;
      expect(call.path).toBe('/v1/chat/completions');
      expect(call.headers.authorization).toBe('Bearer sk-opencode-test');
      expect(call.body).toMatchObject({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true } });
      expect(rig.server.calls.every((c) => c.request.tools.length > 0)).toBe(true);
      expect(await readdir(runsDir)).toEqual([]);
    },
    SLOW,
  );

  it(
    'stops opencode at its first retry of a 429, counts it on the primary breaker and finishes on the backup',
    async () => {
      const { result, receipts, breakers } = await run((request) => (request.model === 'gpt-4o' ? wireError('openai-chat', 429) : editingModel(request)));
      expect(result.status, JSON.stringify(result.error)).toBe('completed');
      expect(breakers[0]).toMatchObject({ ref: 'openai/gpt-4o', outcome: 'failure', error: { code: 'PAS_ERR_LLM_RATE_LIMITED' } });
      expect(rig.server.calls.filter((c) => c.request.model === 'gpt-4o')).toHaveLength(1);
      expect(receipts[0]).toMatchObject({ model: 'gpt-4o-mini', used_backup: true, status: 'completed' });
      expect(receipts[0]!.tokens).toEqual({ input: 6300, output: 105, thinking: 10, cache_read: 1000, cache_write: 0 });
    },
    SLOW,
  );

  it(
    'classifies 529 on the primary and 401 on the backup, and fails the subtask naming both',
    async () => {
      const { result, breakers } = await run((request) => wireError('openai-chat', request.model === 'gpt-4o' ? 529 : 401));
      expect(result.status).toBe('failed');
      expect(result.error?.code).toBe('PAS_ERR_LLM_ALL_FAILED');
      expect(breakers.map((b) => [b.ref, b.error?.code])).toEqual([
        ['openai/gpt-4o', 'PAS_ERR_LLM_OVERLOADED'],
        ['openai/gpt-4o-mini', 'PAS_ERR_LLM_AUTH'],
      ]);
      expect(JSON.stringify(result.error)).not.toContain('sk-opencode-test');
    },
    SLOW,
  );

  it(
    'fails the subtask and commits nothing when opencode writes outside the allowlist',
    async () => {
      const { result } = await run(writesOutsideAllowlist(OPENCODE_WRITE));
      await expectRefusedOutsideAllowlist(result, rig.fixture);
    },
    SLOW,
  );

  it(
    'kills the whole tree of a run that hangs past its timeout, and of a cancelled one: no process, no temp dir',
    async () => {
      const hung = await run(() => 'hang', { timeout_s: 20 });
      expect(hung.result.status).toBe('failed');
      expect(hung.result.error?.code).toBe('PAS_ERR_TASK_TIMEOUT');
      await expectNothingLeft(rig.fixture, hung.runsDir);
      await rig.server.close();
      await rig.fixture.cleanup();

      const controller = new AbortController();
      const cancelled = await run(
        () => {
          setTimeout(() => controller.abort(), 200);
          return 'hang';
        },
        { signal: controller.signal },
      );
      expect(cancelled.result.status).toBe('cancelled');
      await expectNothingLeft(rig.fixture, cancelled.runsDir);
    },
    SLOW,
  );
});
