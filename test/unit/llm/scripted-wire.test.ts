import type { JsonAnswer } from '../../support/json-answer.ts';
import { describe, expect, it } from 'vitest';
import { createScriptedAdapter } from '../../../src/llm/providers/scripted-adapter.ts';
import { createScriptedWire, estimateTokens } from '../../../src/llm/wire/scripted-wire.ts';
import { requestCwd, scriptedToolCalls, toolDialect } from '../../../src/llm/wire/scripted-tool-calls.ts';
import { encodeWireTurn, readWireRequest } from '../../../src/llm/wire/wire-formats.ts';
import type { WireReply, WireRoute } from '../../../src/llm/wire/wire-turn.ts';
import { wireRouteOf } from '../../../src/llm/wire/wire-http-server.ts';

/** The JSON payloads of an SSE reply's `data:` lines. */
function dataFrames(reply: WireReply): JsonAnswer[] {
  return reply.chunks
    .join('')
    .split(/\r?\n/)
    .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
    .map((l) => JSON.parse(l.slice(6)));
}

const EDIT = 'src/a.js\n<<<<<<< SEARCH\nexport const a = 1;\n=======\n/** A. */\nexport const a = 1;\n>>>>>>> REPLACE\n';

describe('wire encoders', () => {
  it('stream Gemini function calls with the usage on the last frame', () => {
    const reply = encodeWireTurn('gemini-stream', { toolCalls: [{ name: 'write_file', input: { file_path: 'x', content: 'y' } }], usage: { input: 10, output: 3, cacheRead: 4, thinking: 2 } }, readWireRequest('gemini-stream', {}, 'gemini-2.5-pro'));
    const frames = dataFrames(reply);
    const last = frames[frames.length - 1];
    expect(last.candidates[0]).toMatchObject({ content: { role: 'model', parts: [{ functionCall: { name: 'write_file', args: { file_path: 'x', content: 'y' } } }] }, finishReason: 'STOP' });
    expect(last.usageMetadata).toEqual({ promptTokenCount: 10, candidatesTokenCount: 3, cachedContentTokenCount: 4, thoughtsTokenCount: 2, totalTokenCount: 15 });
    expect(reply.chunks.every((c) => c.endsWith('\r\n\r\n'))).toBe(true);
  });

  it('stream Chat Completions tool calls, then the usage chunk only when include_usage was asked', () => {
    const request = readWireRequest('openai-chat', { model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    const frames = dataFrames(encodeWireTurn('openai-chat', { toolCalls: [{ name: 'edit', input: { filePath: 'a' } }], usage: { input: 7, output: 2 } }, request));
    expect(frames.find((f) => f.choices[0]?.delta?.tool_calls?.[0]?.function?.name === 'edit')).toBeTruthy();
    expect(frames.find((f) => f.choices[0]?.finish_reason)?.choices[0].finish_reason).toBe('tool_calls');
    expect(frames[frames.length - 1]).toMatchObject({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 } });
    const without = dataFrames(encodeWireTurn('openai-chat', { text: 'ok', usage: { input: 7, output: 2 } }, { ...request, includeUsage: false }));
    expect(without.some((f) => f.usage)).toBe(false);
  });

  it('stream Anthropic tool_use blocks with input_json_delta and the stop reason', () => {
    const reply = encodeWireTurn('anthropic-messages', { toolCalls: [{ name: 'Edit', input: { file_path: '/w/a' } }], usage: { input: 5, output: 1 } }, readWireRequest('anthropic-messages', { model: 'm', stream: true, messages: [] }));
    const frames = dataFrames(reply);
    expect(frames.map((f) => f.type)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(JSON.parse(frames[2].delta.partial_json)).toEqual({ file_path: '/w/a' });
    expect(frames[4]).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 1 } });
  });

  it('stream a Responses custom tool call (apply_patch) and end with response.completed and its usage', () => {
    const reply = encodeWireTurn('openai-responses', { toolCalls: [{ name: 'apply_patch', input: '*** Begin Patch\n*** End Patch' }], usage: { input: 9, output: 4, cacheRead: 1 } }, readWireRequest('openai-responses', { model: 'gpt-5', stream: true, input: [] }));
    const frames = dataFrames(reply);
    expect(frames.find((f) => f.type === 'response.output_item.done').item).toMatchObject({ type: 'custom_tool_call', name: 'apply_patch', input: '*** Begin Patch\n*** End Patch' });
    expect(frames[frames.length - 1]).toMatchObject({ type: 'response.completed', response: { usage: { input_tokens: 9, output_tokens: 4, input_tokens_details: { cached_tokens: 1 } } } });
  });
});

describe('wire request readers', () => {
  it('count tool rounds and see tool results in each format', () => {
    expect(readWireRequest('gemini-stream', { contents: [{ role: 'user', parts: [{ text: 'do' }] }, { role: 'model', parts: [{ functionCall: { name: 'x', args: {} } }] }, { role: 'user', parts: [{ functionResponse: { name: 'x', response: {} } }] }] }, 'g')).toMatchObject({ toolRounds: 1, afterToolResults: true, userTexts: ['do'] });
    expect(readWireRequest('openai-chat', { messages: [{ role: 'user', content: 'do' }, { role: 'assistant', tool_calls: [{ id: '1' }] }, { role: 'tool', content: 'ok' }] })).toMatchObject({ toolRounds: 1, afterToolResults: true });
    expect(readWireRequest('anthropic-messages', { messages: [{ role: 'user', content: 'do' }, { role: 'assistant', content: [{ type: 'tool_use' }] }, { role: 'user', content: [{ type: 'tool_result' }] }] })).toMatchObject({ toolRounds: 1, afterToolResults: true });
    expect(readWireRequest('openai-responses', { input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'do' }] }, { type: 'custom_tool_call' }, { type: 'custom_tool_call_output' }] })).toMatchObject({ toolRounds: 1, afterToolResults: true, userTexts: ['do'] });
  });

  it('route requests by the providers paths', () => {
    expect(wireRouteOf('POST', '/v1/messages?beta=true')).toEqual({ route: 'anthropic-messages' });
    expect(wireRouteOf('POST', '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse')).toEqual({ route: 'gemini-stream', model: 'gemini-2.5-pro' });
    expect(wireRouteOf('POST', '/v1/chat/completions')).toEqual({ route: 'openai-chat' });
    expect(wireRouteOf('HEAD', '/')).toBeUndefined();
  });
});

describe('scripted tool calls', () => {
  it("recognise each CLI by the tools it offers and find its working directory in its prompt", () => {
    expect(toolDialect(['read_file', 'write_file', 'replace'])).toBe('gemini-cli');
    expect(toolDialect(['Read', 'Write', 'Edit', 'Bash'])).toBe('claude-code');
    expect(toolDialect(['bash', 'edit', 'write', 'read'])).toBe('opencode');
    expect(toolDialect(['apply_patch', 'exec_command'])).toBe('codex');
    expect(toolDialect(['exec_command'])).toBe('codex-exec');
    const base = { model: 'm', stream: true, system: '', userTexts: [] as string[], afterToolResults: false, toolRounds: 0, tools: [] };
    expect(requestCwd({ ...base, userTexts: ['<environment_context>\n  <cwd>/w/t1</cwd>'] })).toBe('/w/t1');
    expect(requestCwd({ ...base, system: ' - Primary working directory: /w/t2\n - Is a git repository: true' })).toBe('/w/t2');
    expect(requestCwd({ ...base, userTexts: ['- **Workspace Directories:**\n  - /w/t3\n'] })).toBe('/w/t3');
  });

  it('turn a SEARCH/REPLACE edit into each dialect: Claude Code reads the file first, Codex gets one patch', () => {
    const blocks = [{ path: 'src/a.js', search: 'export const a = 1;\n', replace: '/** A. */\nexport const a = 1;\n' }];
    expect(scriptedToolCalls('claude-code', blocks, 0, '/w')).toEqual([{ name: 'Read', input: { file_path: '/w/src/a.js' } }]);
    expect(scriptedToolCalls('claude-code', blocks, 1, '/w')[0]).toMatchObject({ name: 'Edit', input: { file_path: '/w/src/a.js', old_string: 'export const a = 1;\n' } });
    expect(scriptedToolCalls('gemini-cli', blocks, 0, '/w')[0]).toMatchObject({ name: 'replace', input: { file_path: '/w/src/a.js' } });
    expect(scriptedToolCalls('opencode', blocks, 0, '/w')[0]).toMatchObject({ name: 'edit', input: { filePath: '/w/src/a.js', oldString: 'export const a = 1;\n' } });
    expect(scriptedToolCalls('codex', blocks, 0, '/w')).toEqual([
      { name: 'apply_patch', input: '*** Begin Patch\n*** Update File: src/a.js\n@@\n-export const a = 1;\n+/** A. */\n+export const a = 1;\n*** End Patch' },
    ]);
    expect(scriptedToolCalls('gemini-cli', [{ path: 'n.md', search: '', replace: '# N\n' }], 0, '/w')).toEqual([{ name: 'write_file', input: { file_path: '/w/n.md', content: '# N\n' } }]);
  });
});

describe('createScriptedWire', () => {
  const gemini = (round: number) => ({
    contents: [
      { role: 'user', parts: [{ text: '- **Workspace Directories:**\n  - /w\n' }, { text: 'Document a in src/a.js' }] },
      ...(round > 0 ? [{ role: 'model', parts: [{ functionCall: { name: 'replace', args: {} } }] }, { role: 'user', parts: [{ functionResponse: { name: 'replace', response: {} } }] }] : []),
    ],
    tools: [{ functionDeclarations: [{ name: 'write_file' }, { name: 'replace' }] }],
  });

  it("answers a CLI's conversation from the cassette: its edit as tool calls with the entry's usage, then a closing text", async () => {
    const adapter = createScriptedAdapter([{ match: { purpose: 'edit', contains: 'Document a' }, reply: EDIT, usage: { input: 120, output: 30 }, times: 1 }]);
    const wire = createScriptedWire(adapter);
    const first = dataFrames(await wire('gemini-stream', gemini(0), { model: 'scripted' }));
    expect(first[first.length - 1].candidates[0].content.parts[0].functionCall).toMatchObject({ name: 'replace', args: { file_path: '/w/src/a.js', new_string: '/** A. */\nexport const a = 1;\n' } });
    expect(first[first.length - 1].usageMetadata).toMatchObject({ promptTokenCount: 120, candidatesTokenCount: 30 });
    // The next round reuses the conversation's answer (the entry allows one use).
    const second = dataFrames(await wire('gemini-stream', gemini(1), { model: 'scripted' }));
    expect(second.map((f) => f.candidates[0].content.parts[0].text ?? '').join('')).toBe('Edited src/a.js.');
  });

  it('knows a Claude Code conversation by its opening, whatever reminders later rounds add', async () => {
    const adapter = createScriptedAdapter([{ match: { purpose: 'edit', contains: 'Document a' }, reply: EDIT, usage: { input: 120, output: 30 }, times: 1 }]);
    const wire = createScriptedWire(adapter);
    const opening = [{ role: 'user', content: [{ type: 'text', text: 'Document a in src/a.js' }] }];
    const tools = [{ name: 'Read' }, { name: 'Write' }, { name: 'Edit' }];
    const round = (n: number) => ({
      model: 'm',
      stream: true,
      system: 'Primary working directory: /w',
      tools,
      messages: [
        ...opening,
        ...Array.from({ length: n }, (_, i) => [
          { role: 'assistant', content: [{ type: 'tool_use', id: `t${i}`, name: 'Read', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: `t${i}`, content: 'ok' }, { type: 'text', text: `<system-reminder>round ${i}</system-reminder>` }] },
        ]).flat(),
      ],
    });
    const calls = async (n: number) => dataFrames(await wire('anthropic-messages', round(n))).filter((f) => f.type === 'content_block_start').map((f) => f.content_block.name ?? 'text');
    expect(await calls(0)).toEqual(['Read']);
    expect(await calls(1)).toEqual(['Edit']);
    expect(await calls(2)).toEqual(['text']);
    expect(adapter.calls).toHaveLength(1);
  });

  it("answers a cassette error entry with that error's status in the provider's shape", async () => {
    const adapter = createScriptedAdapter([{ match: { purpose: 'edit' }, error: { code: 'PAS_ERR_LLM_RATE_LIMITED', message: 'slow down' } }]);
    const wire = createScriptedWire(adapter);
    const routes: [WireRoute, unknown][] = [
      ['gemini-stream', gemini(0)],
      ['anthropic-messages', { model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }], tools: [{ name: 'Write' }, { name: 'Edit' }] }],
    ];
    const [g, a] = await Promise.all(routes.map(([route, body]) => wire(route, body, { model: 'scripted' })));
    expect(g!.status).toBe(429);
    expect(JSON.parse(g!.chunks[0]!)).toMatchObject({ error: { code: 429, status: 'RESOURCE_EXHAUSTED' } });
    expect(JSON.parse(a!.chunks[0]!)).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
  });

  it('answers a request without tools (a title) with a short text and estimated usage', async () => {
    const wire = createScriptedWire(createScriptedAdapter([]));
    const reply = await wire('openai-chat', { model: 'm', stream: false, messages: [{ role: 'user', content: 'Generate a title for: add docs to every module please now' }] });
    const body = JSON.parse(reply.chunks[0]!);
    expect(body.choices[0].message.content).toBe('Generate a title for: add docs');
    expect(body.usage.prompt_tokens).toBe(estimateTokens('Generate a title for: add docs to every module please now'));
  });
});
