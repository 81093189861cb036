/**
 * Anthropic Messages: a turn becomes `content[]` blocks (`text`, `tool_use{id, name, input}`);
 * the stream is `message_start` (input usage), one `content_block_start/delta/stop` run per
 * block (text deltas; tool input as `input_json_delta`), `message_delta` (stop reason, output
 * usage) and `message_stop`. Requests carry `system` and `messages[]`; tool results come back
 * as `tool_result` blocks of a user message.
 */
import { callId, jsonReply, rec, sseEvent, streamReply, textPieces, type WireReply, type WireRequest, type WireTurn, type WireUsage } from './wire-turn.ts';

function usageBody(u: WireUsage | undefined, output: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (u?.input !== undefined) body.input_tokens = u.input;
  if (u?.cacheWrite !== undefined) body.cache_creation_input_tokens = u.cacheWrite;
  if (u?.cacheRead !== undefined) body.cache_read_input_tokens = u.cacheRead;
  if (output && u?.output !== undefined) body.output_tokens = u.output;
  return body;
}

export function anthropicReply(turn: WireTurn, model: string, stream: boolean, turnIndex = 0): WireReply {
  const id = `msg_pas${turnIndex}`;
  const blocks: Record<string, unknown>[] = [];
  if (turn.text) blocks.push({ type: 'text', text: turn.text });
  (turn.toolCalls ?? []).forEach((c, i) => blocks.push({ type: 'tool_use', id: c.id ?? callId('toolu', turnIndex, i), name: c.name, input: typeof c.input === 'string' ? { input: c.input } : c.input }));
  const stopReason = (turn.toolCalls ?? []).length > 0 ? 'tool_use' : 'end_turn';
  if (!stream) {
    return jsonReply(200, { id, type: 'message', role: 'assistant', model, content: blocks, stop_reason: stopReason, stop_sequence: null, usage: usageBody(turn.usage, true) });
  }
  const frames = [
    sseEvent('message_start', {
      type: 'message_start',
      message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usageBody(turn.usage, false), output_tokens: 1 } },
    }),
  ];
  blocks.forEach((block, index) => {
    if (block.type === 'text') {
      frames.push(sseEvent('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
      for (const piece of textPieces(String(block.text))) frames.push(sseEvent('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } }));
    } else {
      frames.push(sseEvent('content_block_start', { type: 'content_block_start', index, content_block: { ...block, input: {} } }));
      frames.push(sseEvent('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } }));
    }
    frames.push(sseEvent('content_block_stop', { type: 'content_block_stop', index }));
  });
  const outUsage = turn.usage?.output !== undefined ? { output_tokens: turn.usage.output } : {};
  frames.push(sseEvent('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: outUsage }));
  frames.push(sseEvent('message_stop', { type: 'message_stop' }));
  return streamReply(frames);
}

function blocksText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((b) => (rec(b)?.type === 'text' && typeof rec(b)?.text === 'string' ? (rec(b)!.text as string) : '')).join('\n');
}

export function readAnthropicRequest(body: unknown): WireRequest {
  const b = rec(body) ?? {};
  const messages = Array.isArray(b.messages) ? b.messages.map(rec).filter((m) => m !== undefined) : [];
  const hasBlock = (m: Record<string, unknown> | undefined, type: string) => Array.isArray(m?.content) && m.content.some((c) => rec(c)?.type === type);
  const last = messages[messages.length - 1];
  return {
    model: String(b.model ?? ''),
    stream: b.stream === true,
    // Claude Code may put system text in a last message of role `system` in its first request.
    system: [blocksText(b.system), ...messages.filter((m) => m.role === 'system').map((m) => blocksText(m.content))].filter(Boolean).join('\n'),
    userTexts: messages.filter((m) => m.role === 'user').map((m) => blocksText(m.content)).filter((t) => t.length > 0),
    afterToolResults: last?.role === 'user' && hasBlock(last, 'tool_result'),
    toolRounds: messages.filter((m) => m.role === 'assistant' && hasBlock(m, 'tool_use')).length,
    tools: (Array.isArray(b.tools) ? b.tools : []).flatMap((t) => (typeof rec(t)?.name === 'string' ? [rec(t)!.name as string] : [])),
  };
}
