/**
 * The real Gemini CLI (test/agent-clis, 0.61.0) run by PAS against a local server speaking
 * Gemini's streamGenerateContent with functionCall turns: it edits files through its own tools,
 * PAS commits them, and the receipt holds exactly the tokens the server reported.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResolvedProgrammer } from '../../../src/config/load-config.ts';
import type { ModelsConfigFile } from '../../../src/config/schemas.ts';
import { geminiCliSpec } from '../../../src/executors/agent-cli/gemini-cli.ts';
import { callCost } from '../../../src/llm/prices.ts';
import { requestCwd } from '../../../src/llm/wire/scripted-tool-calls.ts';
import type { WireRequest } from '../../../src/llm/wire/wire-turn.ts';
import { agentCliBin } from '../../support/agent-cli-bin.ts';
import { runAgentTask } from '../../support/wire-task-harness.ts';
import { gitOut } from '../../support/git-fixtures.ts';
import { wireError, type WireBehaviour } from '../../support/scripted-wire-server.ts';
import { expectNothingLeft, expectRefusedOutsideAllowlist, GIT_STATUS_ALLOWLIST, GEMINI_WRITE, WIRE_FS_ALLOWLIST, wireCliRig, writesOutsideAllowlist } from './wire-cli-rig.ts';

const GEMINI = agentCliBin('gemini');
const PRO = { input_per_mtok: 1.25, output_per_mtok: 10, cache_read_per_mtok: 0.31 };
const FLASH = { input_per_mtok: 0.3, output_per_mtok: 2.5, cache_read_per_mtok: 0.075 };

const rig = wireCliRig();

function models(origin: string): ModelsConfigFile {
  return {
    providers: {
      google: { base_url: origin, base_url_env: 'GOOGLE_GEMINI_BASE_URL', api_key_env: 'GEMINI_API_KEY', timeout_s: 120, models: { 'gemini-2.5-pro': PRO, 'gemini-2.5-flash': FLASH } },
    },
  };
}

const programmer: ResolvedProgrammer = {
  id: 'Prog-011',
  port: 6161,
  parent: 'Mgr-Code-01',
  primary: 'google/gemini-2.5-pro',
  backup: 'google/gemini-2.5-flash',
  capabilities: [],
  executor: 'gemini-cli',
  timeoutMs: 120_000,
  free: false,
};

/** Round 0: edit src/math.js and run a command; round 1: a closing text. */
function editingModel(usage = { first: { input: 1200, output: 80, cacheRead: 200, thinking: 12 }, last: { input: 1500, output: 20 } }) {
  return (request: WireRequest): WireBehaviour => {
    if (request.toolRounds === 0) {
      const cwd = requestCwd(request) ?? '';
      return {
        turn: {
          toolCalls: [
            { name: 'replace', input: { file_path: path.join(cwd, 'src/math.js'), old_string: 'export function add(a, b) {\n', new_string: '/** Adds. */\nexport function add(a, b) {\n', instruction: 'Document add.' } },
            { name: 'run_shell_command', input: { command: 'git status --short', description: 'See what changed.' } },
            { name: 'run_shell_command', input: { command: 'touch src/forbidden.js', description: 'Not the verify command.' } },
          ],
          usage: usage.first,
        },
      };
    }
    return { turn: { text: 'Documented add in src/math.js.', usage: usage.last } };
  };
}

async function run(respond: (request: WireRequest) => WireBehaviour, opts: { timeout_s?: number; signal?: AbortSignal; files?: string[] } = {}) {
  const { fixture, server, runsDir } = await rig.start({ 'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n', 'README.md': '# lib\n' }, respond);
  const run = await runAgentTask({
    spec: geminiCliSpec,
    settings: { binary: GEMINI, timeout_s: opts.timeout_s ?? 90, stall_timeout_s: 90, max_turns: 10, max_retries: 0 },
    fixture,
    models: models(server.origin),
    fsAllowlist: WIRE_FS_ALLOWLIST,
    programmer,
    env: { PATH: process.env.PATH, GEMINI_API_KEY: 'gemini-test-key' },
    task: { instruction: 'Add a doc comment above add in src/math.js.', files: opts.files ?? ['src/math.js'], verify: ['git', 'status', '--short'] },
    cmdAllowlist: GIT_STATUS_ALLOWLIST,
    runsDir,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { ...run, runsDir };
}

// Gemini CLI starts in 1.7–4.1 s on an idle machine; a failover test runs it twice.
describe('the gemini-cli executor (real Gemini CLI)', { timeout: 180_000 }, () => {
  it('completes a subtask through its own tools: committed on the task branch, receipt tokens as the server sent them', async () => {
    const { result, receipts, progress, runsDir } = await run(editingModel());
    expect(result.status, JSON.stringify(result.error)).toBe('completed');
    expect(await gitOut(rig.fixture.repo, 'show', `${result.branch}:src/math.js`)).toBe('/** Adds. */\nexport function add(a, b) {\n  return a + b;\n}');
    expect(receipts).toHaveLength(1);
    const receipt = receipts[0]!;
    // Two model turns: 1200 + 1500 in (200 cached), 80 + 20 out, 12 thinking.
    expect(receipt.tokens).toEqual({ input: 2700, output: 100, cache_read: 200, thinking: 12 });
    expect(receipt).toMatchObject({ provider: 'google', model: 'gemini-2.5-pro', used_backup: false, status: 'completed' });
    expect(receipt.cost_usd).toBe(callCost('google', PRO, receipt.tokens));
    // The verify command ran; any other shell command was refused by Gemini's own policy.
    expect(receipt.kpi.files_changed).toBe(1);
    expect(await gitOut(rig.fixture.repo, 'ls-tree', '-r', '--name-only', result.branch!)).not.toContain('forbidden');
    expect(progress).toContainEqual(expect.objectContaining({ kind: 'file', tool: 'replace', path: 'src/math.js' }));
    expect(progress).toContainEqual(expect.objectContaining({ kind: 'command', command: 'git status --short' }));
    expect(progress.filter((p) => p.kind === 'tool' && p.tool === 'run_shell_command').map((p) => p.text)).toEqual(['run_shell_command success', 'run_shell_command error']);
    // The request was Gemini's, with the key in its header and the model from -m.
    expect(rig.server.calls[0]!.path).toBe('/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
    expect(rig.server.calls[0]!.headers['x-goog-api-key']).toBe('gemini-test-key');
    expect(await readdir(runsDir)).toEqual([]);
  });

  it.each([
    [429, 'PAS_ERR_LLM_RATE_LIMITED'],
    [529, 'PAS_ERR_LLM_OVERLOADED'],
    [401, 'PAS_ERR_LLM_AUTH'],
  ] as const)('classifies HTTP %d as %s, counts it on the primary breaker and finishes on the backup', async (status, code) => {
    const model = editingModel();
    const { result, receipts, breakers } = await run((request) => (request.model === 'gemini-2.5-pro' ? wireError('gemini-stream', status) : model(request)));
    expect(result.status, JSON.stringify(result.error)).toBe('completed');
    expect(breakers[0]).toMatchObject({ ref: 'google/gemini-2.5-pro', outcome: 'failure', error: { code } });
    expect(breakers[1]).toMatchObject({ ref: 'google/gemini-2.5-flash', outcome: 'success' });
    expect(rig.server.calls.filter((c) => c.request.model === 'gemini-2.5-pro')).toHaveLength(1); // its own retries are capped
    expect(receipts[0]).toMatchObject({ model: 'gemini-2.5-flash', used_backup: true, status: 'completed' });
    expect(receipts[0]!.tokens).toEqual({ input: 2700, output: 100, cache_read: 200, thinking: 12 });
  });

  it('fails the subtask and commits nothing when the CLI writes outside the allowlist', async () => {
    const { result } = await run(writesOutsideAllowlist(GEMINI_WRITE));
    await expectRefusedOutsideAllowlist(result, rig.fixture);
  });

  it('kills the whole process tree of a run that hangs past its timeout, leaving no process or temp dir', async () => {
    const { result, runsDir } = await run(() => 'hang', { timeout_s: 8 });
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('PAS_ERR_TASK_TIMEOUT');
    await expectNothingLeft(rig.fixture, runsDir);
  });

  it('stops a cancelled run at once: no process, no temp dir, status cancelled', async () => {
    const controller = new AbortController();
    // The CLI's model call hangs; PAS is cancelled while it waits.
    const { result, runsDir } = await run(
      () => {
        setTimeout(() => controller.abort(), 200);
        return 'hang';
      },
      { signal: controller.signal },
    );
    expect(result.status).toBe('cancelled');
    await expectNothingLeft(rig.fixture, runsDir);
  });
});
