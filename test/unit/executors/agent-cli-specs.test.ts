/**
 * The Claude Code and Codex specs: the argv/env/config they build (keys only in the child's
 * environment, never in argv or config files) and how they read the CLIs' real output lines.
 */
import { describe, expect, it } from 'vitest';
import type { AgentRunContext } from '../../../src/executors/agent-cli/agent-cli-spec.ts';
import { claudeCodeSpec, parseClaudeLine } from '../../../src/executors/agent-cli/claude-code.ts';
import { codexErrorStatus, codexSpec, parseCodexLine } from '../../../src/executors/agent-cli/codex.ts';

const KEY = 'sk-test-key-0123456789';

function ctx(kind: 'anthropic' | 'openai', verify?: string[]): AgentRunContext {
  return {
    worktree: '/w/job/t1',
    home: '/data/agent-runs/t1-ab12',
    tmp: '/data/agent-runs/t1-ab12/tmp',
    prompt: 'Do the task',
    endpoint: { baseUrl: kind === 'openai' ? 'http://127.0.0.1:9/v1' : 'http://127.0.0.1:9', apiKey: KEY, kind, provider: kind, model: kind === 'openai' ? 'gpt-4o' : 'claude-sonnet-4' },
    maxTurns: 7,
    maxRetries: 0,
    verify,
    settings: { sandbox_mode: 'workspace-write' },
  };
}

describe('claude-code spec', () => {
  it('runs headless in stream-json with the model, the turn cap, its retries capped and the key only in the environment', () => {
    const plan = claudeCodeSpec.plan(ctx('anthropic', ['npm', 'test']));
    expect(plan.args).toEqual(expect.arrayContaining(['-p', 'Do the task', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits', '--model', 'claude-sonnet-4', '--max-turns', '7']));
    expect(plan.args[plan.args.indexOf('--allowedTools') + 1]).toContain('Bash(npm test)');
    expect(plan.env).toMatchObject({
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
      ANTHROPIC_API_KEY: KEY,
      CLAUDE_CONFIG_DIR: '/data/agent-runs/t1-ab12/.claude',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_MAX_RETRIES: '0',
    });
    expect(JSON.stringify(plan.args)).not.toContain(KEY);
  });

  it('reads tool calls, retries and the final result with usage and cost from real stream-json lines', () => {
    const write = parseClaudeLine({ type: 'assistant', message: { content: [{ type: 'tool_use', id: 'toolu_1', name: 'Write', input: { file_path: '/w/job/t1/src/a.ts', content: 'x' } }] } });
    expect(write).toEqual([{ type: 'progress', progress: { kind: 'file', tool: 'Write', path: '/w/job/t1/src/a.ts', change: 'write' } }]);
    expect(parseClaudeLine({ type: 'system', subtype: 'api_retry', attempt: 1, max_retries: 1, retry_delay_ms: 568, error_status: 429, error: 'rate_limit' })).toEqual([
      { type: 'progress', progress: { kind: 'retry', attempt: 1, status: 429, text: 'rate_limit' } },
    ]);
    const ok = parseClaudeLine({
      type: 'result',
      subtype: 'success',
      is_error: false,
      api_error_status: null,
      result: 'Done.',
      total_cost_usd: 0.000975,
      usage: { input_tokens: 200, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 25 },
    });
    expect(ok).toEqual([
      { type: 'usage.total', usage: { input: 200, output: 25, cache_read: 0, cache_write: 0 }, costUsd: 0.000975 },
      { type: 'result', result: { ok: true, summary: 'Done.' } },
    ]);
    const failed = parseClaudeLine({ type: 'result', subtype: 'success', is_error: true, api_error_status: 529, result: 'API Error: 529 nope.', total_cost_usd: 0, usage: { input_tokens: 0, output_tokens: 0 } });
    expect(failed.at(-1)).toEqual({ type: 'result', result: { ok: false, httpStatus: 529, message: 'API Error: 529 nope.' } });
    const refused = parseClaudeLine({ type: 'result', subtype: 'success', is_error: true, api_error_status: null, result: 'API Error: Unable to connect to API (ConnectionRefused)', usage: { input_tokens: 0, output_tokens: 0 } });
    expect(refused).toContainEqual({ type: 'connection.error', message: 'API Error: Unable to connect to API (ConnectionRefused)' });
    const noUsage = parseClaudeLine({ type: 'result', subtype: 'error_max_turns', is_error: true });
    expect(noUsage).toEqual([{ type: 'result', result: { ok: false, message: 'error_max_turns' } }]);
  });
});

describe('codex spec', () => {
  it('writes a config.toml with its provider, no approvals, update checks and analytics off and its retries capped, and keeps the key in the environment', () => {
    const plan = codexSpec.plan(ctx('openai'));
    expect(plan.args).toEqual(['exec', '--json', '--skip-git-repo-check', '--ephemeral', '-C', '/w/job/t1', 'Do the task']);
    const toml = plan.files!['config.toml']!;
    expect(toml).toContain('model = "gpt-4o"');
    expect(toml).toContain('approval_policy = "never"');
    expect(toml).toContain('check_for_update_on_startup = false');
    expect(toml).toContain('base_url = "http://127.0.0.1:9/v1"');
    expect(toml).toContain('request_max_retries = 0');
    expect(toml).toContain('stream_max_retries = 0');
    expect(toml).toMatch(/\[analytics\]\nenabled = false/);
    expect(JSON.parse(plan.files!['model-catalog.json']!).models[0]).toMatchObject({ slug: 'gpt-4o', apply_patch_tool_type: 'freeform' });
    expect(plan.env).toEqual({ PAS_CODEX_API_KEY: KEY, CODEX_HOME: '/data/agent-runs/t1-ab12' });
    expect(JSON.stringify([plan.args, plan.files])).not.toContain(KEY);
  });

  it('reads file changes, commands with exit codes, usage and failed turns from real JSONL lines', () => {
    expect(parseCodexLine({ type: 'item.completed', item: { id: 'item_0', type: 'file_change', changes: [{ path: '/w/job/t1/hello.txt', kind: 'add' }], status: 'completed' } })).toEqual([
      { type: 'progress', progress: { kind: 'file', tool: 'apply_patch', path: '/w/job/t1/hello.txt', change: 'add' } },
    ]);
    expect(parseCodexLine({ type: 'item.completed', item: { id: 'item_1', type: 'command_execution', command: 'bash -lc "npm test"', aggregated_output: 'ok', exit_code: 0, status: 'completed' } })).toEqual([
      { type: 'progress', progress: { kind: 'command', tool: 'exec_command', command: 'bash -lc "npm test"', exitCode: 0 } },
    ]);
    expect(parseCodexLine({ type: 'turn.completed', usage: { input_tokens: 200, cached_input_tokens: 20, cache_write_input_tokens: 0, output_tokens: 40, reasoning_output_tokens: 6 } })).toEqual([
      { type: 'usage', usage: { input: 200, output: 40, cache_read: 20, thinking: 6, cache_write: 0 } },
      { type: 'result', result: { ok: true } },
    ]);
    expect(parseCodexLine({ type: 'turn.failed', error: { message: 'exceeded retry limit, last status: 429 Too Many Requests' } })).toEqual([
      { type: 'result', result: { ok: false, message: 'exceeded retry limit, last status: 429 Too Many Requests', httpStatus: 429 } },
    ]);
    expect(parseCodexLine({ type: 'error', message: 'exceeded retry limit, last status: 429 Too Many Requests' })).toEqual([
      { type: 'http.error', status: 429, message: 'exceeded retry limit, last status: 429 Too Many Requests' },
    ]);
    expect(parseCodexLine({ type: 'error', message: 'Reconnecting... waiting for network (Connection failed: error sending request)' })).toEqual([
      { type: 'connection.error', message: 'Reconnecting... waiting for network (Connection failed: error sending request)' },
    ]);
    expect(codexErrorStatus('unexpected status 401 Unauthorized: Incorrect API key provided')).toBe(401);
    expect(codexErrorStatus('stream disconnected before completion')).toBeUndefined();
  });
});
