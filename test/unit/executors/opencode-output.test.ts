import { describe, expect, it } from 'vitest';
import type { AgentRunContext } from '../../../src/executors/agent-cli/agent-cli-spec.ts';
import { opencodeLineEvents, opencodeLogEvents, stepUsage } from '../../../src/executors/agent-cli/opencode-output.ts';
import { OPENCODE_KEY_ENV, opencodeBaseUrl, opencodePlan, opencodeSpec } from '../../../src/executors/agent-cli/opencode.ts';

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

describe('opencodeLineEvents', () => {
  const events = () => RUN.map((line) => JSON.parse(line) as unknown).flatMap(opencodeLineEvents);

  it('turns tool_use lines into file and command progress with the exit code', () => {
    const progress = events().filter((e) => e.type === 'progress').map((e) => (e as { progress: unknown }).progress);
    expect(progress).toEqual([
      { kind: 'file', tool: 'edit', path: '/w/a.txt', change: 'update' },
      { kind: 'command', tool: 'bash', command: 'cat a.txt; exit 3', exitCode: 3 },
      { kind: 'message', text: 'Done.' },
    ]);
  });

  it("gives each step's usage with opencode's own cost, and a result once a step ends without tool calls", () => {
    const rest = events().filter((e) => e.type !== 'progress');
    expect(rest).toEqual([
      // What the server sent: prompt 100 (30 cached), completion 20 (4 reasoning).
      { type: 'usage', usage: { input: 100, output: 20, thinking: 4, cache_read: 30, cache_write: 0 }, costUsd: 0.0004125 },
      { type: 'usage', usage: { input: 150, output: 5, thinking: 0, cache_read: 0, cache_write: 0 }, costUsd: 0.000425 },
      { type: 'result', result: { ok: true } },
    ]);
  });

  it('leaves a count the step did not report null', () => {
    expect(stepUsage({ input: 5 })).toEqual({ input: 5, output: null, thinking: null, cache_read: null, cache_write: null });
    expect(stepUsage(undefined)).toBeUndefined();
  });

  it("reads an error event's status and message as a failed result", () => {
    const line = JSON.parse(
      '{"type":"error","timestamp":1,"sessionID":"s","error":{"name":"APIError","data":{"message":"Incorrect API key provided: k123.","statusCode":401,"isRetryable":false,"responseBody":"{}"}}}',
    ) as unknown;
    expect(opencodeLineEvents(line)).toEqual([{ type: 'result', result: { ok: false, message: 'Incorrect API key provided: k123.', httpStatus: 401 } }]);
  });
});

describe('opencodeLogEvents', () => {
  const log = (msg: string) =>
    `timestamp=2026-11-30T06:10:20.534Z level=ERROR run=dc message="stream error" providerID=pas modelID=gpt-4o session.id=ses_1 small=false agent=build mode=primary error.error="AI_APICallError: ${msg}"`;

  it('reads a failed model call in the log as a retry and an HTTP error, the status from its text', () => {
    expect(opencodeLogEvents(log('Rate limit reached for gpt-4o'))).toEqual([
      { type: 'progress', progress: { kind: 'retry', status: 429, text: 'Rate limit reached for gpt-4o' } },
      { type: 'http.error', status: 429, message: 'Rate limit reached for gpt-4o' },
    ]);
    expect(opencodeLogEvents(log('The engine is currently overloaded, please try again later.'))[1]).toMatchObject({ status: 529 });
    expect(opencodeLogEvents(log('Incorrect API key provided: sk-x.'))[1]).toMatchObject({ status: 401 });
    expect(opencodeLogEvents(log('The server had an error while processing your request.'))[1]).toMatchObject({ status: 500 });
  });

  it('ignores every other log line', () => {
    expect(opencodeLogEvents('timestamp=x level=INFO run=dc message=loop step=0')).toEqual([]);
    expect(opencodeLogEvents('timestamp=x level=WARN message="background dependency install failed"')).toEqual([]);
  });
});

describe('opencodePlan', () => {
  const ctx: AgentRunContext = {
    worktree: '/w',
    home: '/h',
    tmp: '/h/tmp',
    prompt: '-x starts like a flag',
    endpoint: { provider: 'openai', model: 'gpt-4o', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-secret', price: { input_per_mtok: 2.5, output_per_mtok: 10, cache_read_per_mtok: 1.25 } },
    maxTurns: 10,
    maxRetries: 0,
    verify: undefined,
    settings: {},
  };

  it('configures one OpenAI-compatible provider inline, with the key only in its own variable', () => {
    const inv = opencodePlan(ctx);
    expect(inv.args).toEqual(['run', '--print-logs', '--format', 'json', '-m', 'pas/gpt-4o', '--', '-x starts like a flag']);
    const config = JSON.parse(inv.env.OPENCODE_CONFIG_CONTENT!);
    expect(config.provider.pas).toMatchObject({ npm: '@ai-sdk/openai-compatible', options: { baseURL: 'http://127.0.0.1:9/v1', apiKey: `{env:${OPENCODE_KEY_ENV}}` } });
    expect(config.provider.pas.models['gpt-4o'].cost).toEqual({ input: 2.5, output: 10, cache_read: 1.25 });
    expect(config.permission).toMatchObject({ edit: 'allow', bash: 'deny', webfetch: 'deny' });
    expect(config.agent.build.steps).toBe(10);
    expect(config.agent.title.disable).toBe(true);
    expect(inv.env.OPENCODE_CONFIG_CONTENT).not.toContain('sk-secret');
    expect(inv.env[OPENCODE_KEY_ENV]).toBe('sk-secret');
    expect(inv.env).toMatchObject({
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

  it('allows the verify command as the only shell command (the last matching rule wins)', () => {
    const config = JSON.parse(opencodePlan({ ...ctx, verify: ['npm', 'test'] }).env.OPENCODE_CONFIG_CONTENT!);
    expect(config.permission.bash).toEqual({ '*': 'deny', 'npm test': 'allow', 'npm test *': 'allow' });
  });

  it('is run against OpenAI-compatible endpoints only', () => {
    expect(opencodeSpec.kinds).toEqual(['openai', 'ollama']);
  });
});
