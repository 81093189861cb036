/**
 * OpenAI Chat Completions: a turn becomes `message{content, tool_calls[{id, type: function,
 * function{name, arguments}}]}`; the stream sends `chat.completion.chunk`s (role, text deltas,
 * each tool call's name then its arguments, `finish_reason`), then — when the request asked for
 * `stream_options.include_usage` — a chunk with empty `choices` and the usage, then `[DONE]`.
 * Requests carry `messages[]`; tool results come back as `role: "tool"`.
 */
import { callId, jsonReply, rec, sseData, streamReply, textPieces, type WireReply, type WireRequest, type WireTurn, type WireUsage } from './wire-turn.ts';

const CREATED = 1_735_689_600;

export function openAiChatUsage(u: WireUsage | undefined): Record<string, unknown> | undefined {
  if (!u || u.input === undefined || u.output === undefined) return undefined;
  const body: Record<string, unknown> = { prompt_tokens: u.input, completion_tokens: u.output, total_tokens: u.input + u.output };
  if (u.cacheRead !== undefined) body.prompt_tokens_details = { cached_tokens: u.cacheRead };
  if (u.thinking !== undefined) body.completion_tokens_details = { reasoning_tokens: u.thinking };
  return body;
}

export function openAiChatReply(turn: WireTurn, model: string, stream: boolean, includeUsage: boolean, turnIndex = 0): WireReply {
  const id = `chatcmpl-pas${turnIndex}`;
  const calls = (turn.toolCalls ?? []).map((c, i) => ({
    id: c.id ?? callId('call', turnIndex, i),
    type: 'function',
    function: { name: c.name, arguments: typeof c.input === 'string' ? c.input : JSON.stringify(c.input) },
  }));
  const finish = calls.length > 0 ? 'tool_calls' : 'stop';
  const usage = openAiChatUsage(turn.usage);
  if (!stream) {
    return jsonReply(200, {
      id,
      object: 'chat.completion',
      created: CREATED,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: turn.text ?? null, ...(calls.length > 0 ? { tool_calls: calls } : {}) }, finish_reason: finish }],
      ...(usage ? { usage } : {}),
    });
  }
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
    sseData({ id, object: 'chat.completion.chunk', created: CREATED, model, choices: [{ index: 0, delta, finish_reason: finishReason }] });
  const frames = [chunk({ role: 'assistant', content: '' })];
  for (const piece of textPieces(turn.text ?? '')) frames.push(chunk({ content: piece }));
  calls.forEach((call, index) => {
    frames.push(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
    frames.push(chunk({ tool_calls: [{ index, function: { arguments: call.function.arguments } }] }));
  });
  frames.push(chunk({}, finish));
  if (includeUsage && usage) frames.push(sseData({ id, object: 'chat.completion.chunk', created: CREATED, model, choices: [], usage }));
  frames.push('data: [DONE]\n\n');
  return streamReply(frames);
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof rec(p)?.text === 'string' ? (rec(p)!.text as string) : '')).join('');
  return '';
}

export function readOpenAiChatRequest(body: unknown): WireRequest & { includeUsage: boolean } {
  const b = rec(body) ?? {};
  const messages = Array.isArray(b.messages) ? b.messages.map(rec).filter((m) => m !== undefined) : [];
  const system = messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => contentText(m.content)).join('\n');
  const userTexts = messages.filter((m) => m.role === 'user').map((m) => contentText(m.content)).filter((t) => t.length > 0);
  const tools = (Array.isArray(b.tools) ? b.tools : []).flatMap((t) => {
    const name = rec(rec(t)?.function)?.name;
    return typeof name === 'string' ? [name] : [];
  });
  return {
    model: String(b.model ?? ''),
    stream: b.stream === true,
    includeUsage: rec(b.stream_options)?.include_usage === true,
    system,
    userTexts,
    afterToolResults: messages[messages.length - 1]?.role === 'tool',
    toolRounds: messages.filter((m) => m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length > 0).length,
    tools,
  };
}
