import { describe, expect, it } from 'vitest';
import { OpencodeOutput, opencodeCost, opencodeHttpFailure, opencodeUsage } from '../../../src/executors/agent-cli/opencode-output.ts';
import { OPENCODE_KEY_ENV, opencodeBaseUrl, opencodeInvocation } from '../../../src/executors/agent-cli/opencode-invocation.ts';
import { isPasError } from '../../../src/errors.ts';

// Lines as opencode 1.18.33 printed them (`run --format json`) against a local server.
const RUN = [
  '{"type":"step_start","timestamp":1796018984976,"sessionID":"ses_1","part":{"id":"prt_1","messageID":"msg_1","sessionID":"ses_1","snapshot":"4b82","type":"step-start"}}',
  '{"type":"tool_use","timestamp":1796018985005,"sessionID":"ses_1","part":{"type":"tool","tool":"edit","callID":"call_1","state":{"status":"completed","input":{"filePath":"/w/a.txt","oldString":"old line","newString":"new line"},"output":"Edit applied successfully.","metadata":{},"title":"a.txt"},"id":"prt_2","sessionID":"ses_1","messageID":"msg_1"}}',
  '{"type":"tool_use","timestamp":1796018985006,"sessionID":"ses_1","part":{"type":"tool","tool":"bash","callID":"call_2","state":{"status":"completed","input":{"command":"cat a.txt; exit 3","description":"x"},"output":"new line\\n","metadata":{"output":"new line\\n","exit":3,"description":"x"},"title":"x"},"id":"prt_3","sessionID":"ses_1","messageID":"msg_1"}}',
  '{"type":"step_finish","timestamp":1796018985108,"sessionID":"ses_1","part":{"id":"prt_4","reason":"tool-calls","snapshot":"7a28","messageID":"msg_1","sessionID":"ses_1","type":"step-finish","tokens":{"total":120,"input":70,"output":16,"reasoning":4,"cache":{"write":0,"read":30}},"cost":0.0004125}}',
  '{"type":"step_start","timestamp":1796018985285,"sessionID":"ses_1","part":{"id":"prt_5","messageID":"msg_2","sessionID":"ses_1","snapshot":"7a28","type":"step-start"}}',
  '{"type":"text","timestamp":1796018985285,"sessionID":"ses_1","part":{"id":"prt_6","messageID":"msg_2","sessionID":"ses_1","type":"text","text":"Done.","time":{"start":1,"end":2}}}',
  '{"type":"step_finish","timestamp":1796018985371,"sessionID":"ses_1","part":{"id":"prt_7","reason":"stop","snapshot":"7a28","messageID":"msg_2","sessionID":"ses_1","type":"step-finish","tokens":{"total":155,"input":150,"output":5,"reasoning":0,"cache":{"write":0,"read":0}},"cost":0.000425}}',
];

describe('OpencodeOutput', () => {
  it('turns tool_use lines into file and command progress with the exit code', () => {
    const out = new OpencodeOutput();
    const progress = RUN.flatMap((line) => out.line(line));
    expect(progress).toEqual([
      { kind: 'file', tool: 'edit', path: '/w/a.txt', action: 'edit' },
      { kind: 'tool_result', tool: 'edit', status: 'completed' },
      { kind: 'command', tool: 'bash', command: 'cat a.txt; exit 3' },
      { kind: 'tool_result', tool: 'bash', status: 'completed', command: 'cat a.txt; exit 3', exitCode: 3 },
    ]);
    expect(out.finished).toBe(true);
    expect(out.lastText).toBe('Done.');
  });

  it('sums the steps into receipt tokens, adding back the cached input and the reasoning output', () => {
    const out = new OpencodeOutput();
    for (const line of RUN) out.line(line);
    // What the server sent: prompt 100 (30 cached) + 150, completion 20 (4 reasoning) + 5.
    expect(opencodeUsage(out.steps)).toEqual({ input: 250, output: 25, thinking: 4, cache_read: 30, cache_write: 0 });
    expect(opencodeCost(out.steps)).toBeCloseTo(0.0008375, 10);
  });

  it('leaves usage null when no step finished, and a step without a count makes that count null', () => {
    expect(opencodeUsage([])).toEqual({ input: null, output: null });
    expect(opencodeUsage([{ reason: 'stop', tokens: { input: 5 }, cost: undefined }])).toMatchObject({ input: 5, output: null, cache_read: null });
    expect(opencodeCost([{ reason: 'stop', tokens: undefined, cost: undefined }])).toBeNull();
  });

  it('a run whose last step asked for tools, or that printed an error, did not finish', () => {
    const out = new OpencodeOutput();
    out.line(RUN[3]!);
    expect(out.finished).toBe(false);
  });
});

describe('opencodeHttpFailure', () => {
  it("classifies the error event's status and provider body", () => {
    const out = new OpencodeOutput();
    out.line(
      '{"type":"error","timestamp":1,"sessionID":"s","error":{"name":"APIError","data":{"message":"Incorrect API key provided: k123.","statusCode":401,"isRetryable":false,"responseBody":"{\\"error\\":{\\"message\\":\\"Incorrect API key provided: k123.\\",\\"type\\":\\"invalid_request_error\\",\\"code\\":\\"invalid_api_key\\"}}"}}}',
    );
    expect(out.finished).toBe(false);
    expect(opencodeHttpFailure(out)).toMatchObject({ code: 'PAS_ERR_LLM_AUTH', status: 401 });
  });

  it('counts stream errors in the log as retries and classifies the last one by its text', () => {
    const out = new OpencodeOutput();
    const log = (msg: string) =>
      `timestamp=2026-11-30T06:10:20.534Z level=ERROR run=dc message="stream error" providerID=pas modelID=gpt-4o session.id=ses_1 small=false agent=build mode=primary error.error="AI_APICallError: ${msg}"`;
    expect(out.logLine('timestamp=x level=INFO run=dc message=loop step=0')).toEqual([]);
    expect(out.logLine(log('Rate limit reached for gpt-4o'))).toEqual([{ kind: 'retry', attempt: 1, message: 'AI_APICallError: Rate limit reached for gpt-4o' }]);
    expect(opencodeHttpFailure(out)).toMatchObject({ code: 'PAS_ERR_LLM_RATE_LIMITED' });
    out.logLine(log('The engine is currently overloaded, please try again later.'));
    expect(out.streamErrors).toBe(2);
    expect(opencodeHttpFailure(out)).toMatchObject({ code: 'PAS_ERR_LLM_OVERLOADED' });
  });

  it('finds no HTTP failure in a run without model errors', () => {
    const out = new OpencodeOutput();
    for (const line of RUN) out.line(line);
    expect(opencodeHttpFailure(out)).toBeUndefined();
  });
});

describe('opencodeInvocation', () => {
  const ctx = {
    worktree: '/w',
    home: '/h',
    tmpdir: '/h/tmp',
    baseEnv: { PATH: '/usr/bin' },
    prompt: '-x starts like a flag',
    endpoint: { provider: 'openai', model: 'gpt-4o', kind: 'openai' as const, baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-secret', price: { input_per_mtok: 2.5, output_per_mtok: 10, cache_read_per_mtok: 1.25 } },
    maxRetries: 0,
  };

  it('configures one OpenAI-compatible provider inline, with the key only in its own variable', () => {
    const inv = opencodeInvocation(ctx);
    expect(inv.args).toEqual(['run', '--print-logs', '--format', 'json', '-m', 'pas/gpt-4o', '--', '-x starts like a flag']);
    const config = JSON.parse(inv.env.OPENCODE_CONFIG_CONTENT!);
    expect(config.provider.pas).toMatchObject({ npm: '@ai-sdk/openai-compatible', options: { baseURL: 'http://127.0.0.1:9/v1', apiKey: `{env:${OPENCODE_KEY_ENV}}` } });
    expect(config.provider.pas.models['gpt-4o'].cost).toEqual({ input: 2.5, output: 10, cache_read: 1.25 });
    expect(config.permission).toMatchObject({ edit: 'allow', bash: 'allow' });
    expect(config.agent.title.disable).toBe(true);
    expect(inv.env.OPENCODE_CONFIG_CONTENT).not.toContain('sk-secret');
    expect(inv.env[OPENCODE_KEY_ENV]).toBe('sk-secret');
    expect(inv.env).toMatchObject({
      HOME: '/h',
      TMPDIR: '/h/tmp',
      XDG_CONFIG_HOME: '/h/config',
      XDG_DATA_HOME: '/h/data',
      OPENCODE_DISABLE_AUTOUPDATE: '1',
      OPENCODE_DISABLE_MODELS_FETCH: '1',
      OPENCODE_DISABLE_PROJECT_CONFIG: '1',
      npm_config_offline: 'true',
    });
  });

  it("points an Ollama model at Ollama's OpenAI-compatible /v1", () => {
    expect(opencodeBaseUrl('ollama', 'http://127.0.0.1:11434/')).toBe('http://127.0.0.1:11434/v1');
    expect(opencodeBaseUrl('openai', 'https://api.openai.com/v1/')).toBe('https://api.openai.com/v1');
  });

  it('refuses a model it is not run against', () => {
    try {
      opencodeInvocation({ ...ctx, endpoint: { ...ctx.endpoint, kind: 'google' } });
      expect.unreachable();
    } catch (err) {
      expect(isPasError(err, 'PAS_ERR_LLM_UNKNOWN_MODEL')).toBe(true);
    }
  });
});
