import { describe, expect, it } from 'vitest';
import { GeminiOutput, geminiHttpFailure, geminiUsage } from '../../../src/executors/agent-cli/gemini-cli-output.ts';
import { geminiInvocation, geminiSettings } from '../../../src/executors/agent-cli/gemini-cli-invocation.ts';
import { isPasError } from '../../../src/errors.ts';

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

describe('GeminiOutput', () => {
  it('turns tool_use and tool_result lines into file, command and result progress', () => {
    const out = new GeminiOutput();
    const progress = RUN.flatMap((line) => out.line(line));
    expect(progress).toEqual([
      { kind: 'file', tool: 'replace', path: '/w/a.txt', action: 'edit' },
      { kind: 'command', tool: 'run_shell_command', command: 'cat a.txt; exit 3' },
      { kind: 'tool_result', tool: 'replace', status: 'success' },
      { kind: 'tool_result', tool: 'run_shell_command', status: 'success', command: 'cat a.txt; exit 3' },
    ]);
    expect([...out.filesTouched]).toEqual(['/w/a.txt']);
    expect(out.lastMessage).toBe('Done.');
    expect(out.result?.status).toBe('success');
  });

  it('ignores lines that are not JSON objects (warnings on stdout, blank lines)', () => {
    const out = new GeminiOutput();
    expect(out.line('YOLO mode is enabled.')).toEqual([]);
    expect(out.line('')).toEqual([]);
    expect(out.line('[1,2]')).toEqual([]);
    expect(out.result).toBeUndefined();
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

describe('geminiHttpFailure', () => {
  const errorResult = (message: string) => ({ status: 'error', errorMessage: message });

  it('reads the status from the API error JSON in the result message', () => {
    const f = geminiHttpFailure(errorResult('[API Error: {"error":{"code":529,"message":"Overloaded","status":"UNAVAILABLE"}}]'), '', 17);
    expect(f).toMatchObject({ code: 'PAS_ERR_LLM_OVERLOADED', status: 529 });
    const auth = geminiHttpFailure(errorResult('[API Error: {"error":{"code":401,"message":"API key not valid.","status":"UNAUTHENTICATED"}}]'), '', 145);
    expect(auth).toMatchObject({ code: 'PAS_ERR_LLM_AUTH', status: 401 });
  });

  it('reads the status from the stack dump on stderr when the message has none (429)', () => {
    const stderr = "TerminalQuotaError: Resource has been exhausted\n  cause: {\n    code: 429,\n  },\n  retryDelayMs: undefined,\n  status: 429\n}";
    const f = geminiHttpFailure(errorResult('[API Error: Resource has been exhausted (e.g. check quota).]\nPlease wait and try again later.'), stderr, 0);
    expect(f).toMatchObject({ code: 'PAS_ERR_LLM_RATE_LIMITED', status: 429 });
  });

  it.each([
    [173, 429, 'PAS_ERR_LLM_RATE_LIMITED'],
    [244, 500, 'PAS_ERR_LLM_SERVER'],
    [17, 529, 'PAS_ERR_LLM_OVERLOADED'],
    [145, 401, 'PAS_ERR_LLM_AUTH'],
  ])('falls back to the exit code: %d is HTTP %d', (exit, status, code) => {
    expect(geminiHttpFailure(undefined, '', exit)).toMatchObject({ code, status });
  });

  it('finds no HTTP failure in a run that failed otherwise', () => {
    expect(geminiHttpFailure({ status: 'error', errorMessage: 'Tool failed' }, 'some warning', 1)).toBeUndefined();
    expect(geminiHttpFailure(undefined, '', 55)).toBeUndefined();
  });
});

describe('geminiInvocation', () => {
  const ctx = {
    worktree: '/w',
    home: '/h',
    tmpdir: '/h/tmp',
    baseEnv: { PATH: '/usr/bin' },
    prompt: '--version is not a flag here',
    endpoint: { provider: 'google', model: 'gemini-2.5-pro', kind: 'google' as const, baseUrl: 'http://127.0.0.1:9/', apiKey: 'k-1' },
    maxRetries: 0,
  };

  it('runs headless in stream-json with the model, and the prompt as one argument', () => {
    const inv = geminiInvocation(ctx);
    expect(inv.args).toEqual(['--prompt=--version is not a flag here', '-o', 'stream-json', '--yolo', '--skip-trust', '-m', 'gemini-2.5-pro']);
    expect(inv.env).toMatchObject({ HOME: '/h', TMPDIR: '/h/tmp', GOOGLE_GEMINI_BASE_URL: 'http://127.0.0.1:9', GEMINI_API_KEY: 'k-1', GEMINI_TELEMETRY_ENABLED: 'false', PATH: '/usr/bin' });
    const settings = JSON.parse(inv.files.find((f) => f.path === '/h/.gemini/settings.json')!.content);
    expect(settings).toEqual(geminiSettings(0));
    expect(settings.security.auth.selectedType).toBe('gemini-api-key');
    expect(settings.general).toMatchObject({ maxAttempts: 1, enableAutoUpdate: false });
    expect(settings.privacy.usageStatisticsEnabled).toBe(false);
  });

  it('refuses a model Gemini CLI cannot speak to', () => {
    try {
      geminiInvocation({ ...ctx, endpoint: { ...ctx.endpoint, provider: 'openai', model: 'gpt-4o', kind: 'openai' } });
      expect.unreachable();
    } catch (err) {
      expect(isPasError(err, 'PAS_ERR_LLM_UNKNOWN_MODEL')).toBe(true);
    }
  });
});
