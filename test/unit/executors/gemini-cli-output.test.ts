import { describe, expect, it } from 'vitest';
import type { AgentRunContext } from '../../../src/executors/agent-cli/agent-cli-spec.ts';
import { geminiLineEvents, geminiStatusFromExit, geminiUsage } from '../../../src/executors/agent-cli/gemini-cli-output.ts';
import { geminiCliSpec, geminiPlan, geminiSettings } from '../../../src/executors/agent-cli/gemini-cli.ts';
import { classifyHttpStatus } from '../../../src/llm/provider-errors.ts';

// Lines as gemini 0.61.0 printed them (`-o stream-json`) against a local server.
const RUN = [
  '{"type":"init","timestamp":"2026-11-30T06:11:12.795Z","session_id":"069b65c1","model":"gemini-2.5-pro"}',
  '{"type":"message","timestamp":"2026-11-30T06:11:12.796Z","role":"user","content":"edit"}',
  '{"type":"tool_use","timestamp":"2026-11-30T06:11:12.936Z","tool_name":"replace","tool_id":"replace__replace_1_0","parameters":{"file_path":"/w/a.txt","old_string":"old line","new_string":"new line","instruction":"x"}}',
  '{"type":"tool_use","timestamp":"2026-11-30T06:11:12.938Z","tool_name":"run_shell_command","tool_id":"run_shell_command__run_shell_command_1_1","parameters":{"command":"cat a.txt; exit 3","description":"x"}}',
  '{"type":"tool_result","timestamp":"2026-11-30T06:11:13.481Z","tool_id":"replace__replace_1_0","status":"success"}',
  '{"type":"tool_result","timestamp":"2026-11-30T06:11:13.481Z","tool_id":"run_shell_command__run_shell_command_1_1","status":"success","output":"new line"}',
  '{"type":"message","timestamp":"2026-11-30T06:11:13.524Z","role":"assistant","content":"Do","delta":true}',
  '{"type":"message","timestamp":"2026-11-30T06:11:13.524Z","role":"assistant","content":"ne.","delta":true}',
  '{"type":"result","timestamp":"2026-11-30T06:11:13.527Z","status":"success","stats":{"total_tokens":282,"input_tokens":250,"output_tokens":25,"cached":40,"input":210,"duration_ms":732,"tool_calls":2,"models":{"gemini-2.5-pro":{"total_tokens":282,"input_tokens":250,"output_tokens":25,"cached":40,"input":210}}}}',
];

describe('geminiLineEvents', () => {
  const events = () => RUN.map((line) => JSON.parse(line) as unknown).flatMap(geminiLineEvents);

  it('turns tool_use and tool_result lines into file, command and tool progress', () => {
    const progress = events().filter((e) => e.type === 'progress').map((e) => (e as { progress: unknown }).progress);
    expect(progress).toEqual([
      { kind: 'file', tool: 'replace', path: '/w/a.txt', change: 'update' },
      { kind: 'command', tool: 'run_shell_command', command: 'cat a.txt; exit 3', exitCode: null },
      { kind: 'tool', tool: 'replace', text: 'replace success' },
      { kind: 'tool', tool: 'run_shell_command', text: 'run_shell_command success' },
    ]);
  });

  it("ends with the result's usage total and a successful result", () => {
    expect(events().slice(-2)).toEqual([
      { type: 'usage.total', usage: { input: 250, output: 25, cache_read: 40, thinking: 7 } },
      { type: 'result', result: { ok: true } },
    ]);
  });

  it('reads the status and the provider message out of an API error result', () => {
    const line = { type: 'result', status: 'error', error: { type: 'unknown', message: '[API Error: {"error":{"code":529,"message":"Overloaded","status":"UNAVAILABLE"}}]' }, stats: { total_tokens: 0, input_tokens: 0, output_tokens: 0, cached: 0 } };
    expect(geminiLineEvents(line)[1]).toEqual({ type: 'result', result: { ok: false, httpStatus: 529, message: 'Overloaded' } });
    const quota = { type: 'result', status: 'error', error: { type: 'unknown', message: '[API Error: Resource has been exhausted (e.g. check quota).]\nPlease wait and try again later.' } };
    expect(geminiLineEvents(quota)).toEqual([{ type: 'result', result: { ok: false, message: 'Resource has been exhausted (e.g. check quota).' } }]);
  });

  it("reads Gemini's suggested wait of a per-minute quota, so PAS tells a rate limit from a spent quota", () => {
    const perMinute = {
      type: 'result',
      status: 'error',
      error: { type: 'unknown', message: '[API Error: You exceeded your current quota, please check your plan and billing details.\nSuggested retry after 4s.]\nPlease wait and try again later.' },
    };
    expect(geminiLineEvents(perMinute)).toEqual([{ type: 'result', result: { ok: false, message: 'You exceeded your current quota, please check your plan and billing details.', retryAfterMs: 4000 } }]);
    expect(classifyHttpStatus('google', 429, { message: 'You exceeded your current quota, please check your plan and billing details.', retryDelayMs: 4000 })).toBe('PAS_ERR_LLM_RATE_LIMITED');
    expect(classifyHttpStatus('google', 429, { message: 'You exceeded your current quota, please check your plan and billing details.' })).toBe('PAS_ERR_LLM_QUOTA');
  });

  it('means nothing for lines that are not JSON objects (warnings, blank lines)', () => {
    expect(geminiLineEvents('YOLO mode is enabled.')).toEqual([]);
    expect(geminiLineEvents([1, 2])).toEqual([]);
    expect(geminiLineEvents(null)).toEqual([]);
  });
});

describe('geminiUsage', () => {
  it("maps the result's stats onto receipt tokens, thinking being the total beyond input and output", () => {
    expect(geminiUsage({ total_tokens: 282, input_tokens: 250, output_tokens: 25, cached: 40 })).toEqual({ input: 250, output: 25, cache_read: 40, thinking: 7 });
  });

  it('leaves every count the stats did not carry null', () => {
    expect(geminiUsage(undefined)).toEqual({ input: null, output: null, cache_read: null, thinking: null });
    expect(geminiUsage({ input_tokens: 10, output_tokens: 2 })).toEqual({ input: 10, output: 2, cache_read: null, thinking: null });
  });
});

describe('geminiStatusFromExit', () => {
  it('reads the status from the error Gemini dumps on stderr (a 429 says it only there)', () => {
    const stderr = 'TerminalQuotaError: Resource has been exhausted\n  cause: {\n    code: 429,\n  },\n  retryDelayMs: undefined,\n  status: 429\n}';
    expect(geminiStatusFromExit(0, stderr)).toBe(429);
  });

  it.each([
    [173, 429],
    [244, 500],
    [17, 529],
    [145, 401],
  ])('falls back to the exit code: %d is HTTP %d (the status mod 256)', (exit, status) => {
    expect(geminiStatusFromExit(exit, '')).toBe(status);
  });

  it('finds no status in a run that failed otherwise (untrusted folder, auth type refused)', () => {
    expect(geminiStatusFromExit(55, 'some warning')).toBeUndefined();
    expect(geminiStatusFromExit(41, '')).toBeUndefined();
    expect(geminiStatusFromExit(null, '')).toBeUndefined();
  });
});

describe('geminiPlan', () => {
  const ctx: AgentRunContext = {
    worktree: '/w',
    home: '/h',
    tmp: '/h/tmp',
    prompt: '--version is not a flag here',
    endpoint: { provider: 'google', model: 'gemini-2.5-pro', kind: 'google', baseUrl: 'http://127.0.0.1:9/', apiKey: 'k-1' },
    maxTurns: 10,
    maxRetries: 0,
    verify: undefined,
    settings: {},
  };

  it('runs headless in stream-json with the model, and the prompt as one argument', () => {
    const plan = geminiPlan(ctx);
    expect(plan.args).toEqual(['--prompt=--version is not a flag here', '-o', 'stream-json', '--approval-mode', 'auto_edit', '--skip-trust', '-m', 'gemini-2.5-pro']);
    expect(plan.env).toMatchObject({ GOOGLE_GEMINI_BASE_URL: 'http://127.0.0.1:9', GEMINI_API_KEY: 'k-1', GEMINI_TELEMETRY_ENABLED: 'false' });
    expect(plan.args.join(' ')).not.toContain('k-1');
    const settings = JSON.parse(plan.files!['.gemini/settings.json']!);
    expect(settings).toEqual(geminiSettings(0, 10));
    expect(settings.tools.allowed).toEqual([]);
    expect(settings.model.maxSessionTurns).toBe(10);
    expect(settings.security.auth.selectedType).toBe('gemini-api-key');
    expect(settings.general).toMatchObject({ maxAttempts: 1, enableAutoUpdate: false });
    expect(settings.privacy.usageStatisticsEnabled).toBe(false);
  });

  it('allows the verify command as the only shell command', () => {
    const settings = JSON.parse(geminiPlan({ ...ctx, verify: ['npm', 'test'] }).files!['.gemini/settings.json']!);
    expect(settings.tools.allowed).toEqual(['run_shell_command(npm test)']);
  });

  it('caps its own attempts at max_retries + 1', () => {
    expect(JSON.parse(geminiPlan({ ...ctx, maxRetries: 2 }).files!['.gemini/settings.json']!).general.maxAttempts).toBe(3);
    expect(geminiCliSpec.kinds).toEqual(['google']);
  });
});
