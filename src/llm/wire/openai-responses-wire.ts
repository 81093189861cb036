/**
 * OpenAI Responses: a turn becomes `output[]` items (`message` with `output_text`,
 * `function_call{call_id, name, arguments}`, or — for a free-form tool such as Codex's
 * `apply_patch` — `custom_tool_call{call_id, name, input}`); the stream announces each item
 * (`response.output_item.added`), streams its text or input, closes it
 * (`response.output_item.done`) and ends with `response.completed` carrying the usage.
 * Requests carry `instructions` and `input[]`; tool results come back as `*_call_output` items.
 */
import { callId, jsonReply, rec, sseEvent, streamReply, textPieces, type WireReply, type WireRequest, type WireTurn, type WireUsage } from './wire-turn.ts';

const CREATED = 1_735_689_600;

export function responsesUsageBody(u: WireUsage | undefined): Record<string, unknown> | null {
  if (!u || u.input === undefined || u.output === undefined) return null;
  return {
    input_tokens: u.input,
    input_tokens_details: { cached_tokens: u.cacheRead ?? 0 },
    output_tokens: u.output,
    output_tokens_details: { reasoning_tokens: u.thinking ?? 0 },
    total_tokens: u.input + u.output,
  };
}

export function openAiResponsesReply(turn: WireTurn, model: string, stream: boolean, turnIndex = 0): WireReply {
  const id = `resp_pas${turnIndex}`;
  const items: Record<string, unknown>[] = [];
  if (turn.text) {
    items.push({ id: `msg_pas${turnIndex}`, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: turn.text, annotations: [] }] });
  }
  (turn.toolCalls ?? []).forEach((c, i) => {
    const call = c.id ?? callId('call', turnIndex, i);
    items.push(
      typeof c.input === 'string'
        ? { id: `ctc_pas${turnIndex}${i}`, type: 'custom_tool_call', status: 'completed', call_id: call, name: c.name, input: c.input }
        : { id: `fc_pas${turnIndex}${i}`, type: 'function_call', status: 'completed', call_id: call, name: c.name, arguments: JSON.stringify(c.input) },
    );
  });
  const response = (status: string, output: unknown[]) => ({
    id,
    object: 'response',
    created_at: CREATED,
    status,
    model,
    output,
    usage: status === 'completed' ? responsesUsageBody(turn.usage) : null,
  });
  if (!stream) return jsonReply(200, response('completed', items));
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>) => sseEvent(type, { type, sequence_number: seq++, ...data });
  const frames = [ev('response.created', { response: response('in_progress', []) }), ev('response.in_progress', { response: response('in_progress', []) })];
  items.forEach((item, output_index) => {
    if (item.type === 'message') {
      const text = String((item.content as { text: string }[])[0]!.text);
      frames.push(ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } }));
      frames.push(ev('response.content_part.added', { item_id: item.id, output_index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }));
      for (const delta of textPieces(text)) frames.push(ev('response.output_text.delta', { item_id: item.id, output_index, content_index: 0, delta }));
      frames.push(ev('response.output_text.done', { item_id: item.id, output_index, content_index: 0, text }));
      frames.push(ev('response.content_part.done', { item_id: item.id, output_index, content_index: 0, part: { type: 'output_text', text, annotations: [] } }));
    } else if (item.type === 'custom_tool_call') {
      frames.push(ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', input: '' } }));
      frames.push(ev('response.custom_tool_call_input.delta', { item_id: item.id, output_index, delta: item.input }));
      frames.push(ev('response.custom_tool_call_input.done', { item_id: item.id, output_index, input: item.input }));
    } else {
      frames.push(ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } }));
      frames.push(ev('response.function_call_arguments.delta', { item_id: item.id, output_index, delta: item.arguments }));
      frames.push(ev('response.function_call_arguments.done', { item_id: item.id, output_index, arguments: item.arguments }));
    }
    frames.push(ev('response.output_item.done', { output_index, item }));
  });
  frames.push(ev('response.completed', { response: response('completed', items) }));
  return streamReply(frames);
}

function itemText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((c) => (typeof rec(c)?.text === 'string' ? (rec(c)!.text as string) : '')).join('\n');
}

const CALL_TYPES = new Set(['function_call', 'custom_tool_call', 'local_shell_call']);
const OUTPUT_TYPES = new Set(['function_call_output', 'custom_tool_call_output', 'local_shell_call_output']);

export function readOpenAiResponsesRequest(body: unknown): WireRequest {
  const b = rec(body) ?? {};
  const input = typeof b.input === 'string' ? [{ type: 'message', role: 'user', content: b.input }] : Array.isArray(b.input) ? b.input.map(rec).filter((i) => i !== undefined) : [];
  const messages = input.filter((i) => i.type === 'message' || (i.type === undefined && typeof i.role === 'string'));
  let toolRounds = 0;
  let inCalls = false;
  for (const item of input) {
    const isCall = CALL_TYPES.has(String(item.type));
    if (isCall && !inCalls) toolRounds++;
    if (!OUTPUT_TYPES.has(String(item.type))) inCalls = isCall;
  }
  const last = input[input.length - 1];
  return {
    model: String(b.model ?? ''),
    stream: b.stream === true,
    system: [typeof b.instructions === 'string' ? b.instructions : '', ...messages.filter((m) => m.role === 'developer' || m.role === 'system').map((m) => itemText(m.content))].filter(Boolean).join('\n'),
    userTexts: messages.filter((m) => m.role === 'user').map((m) => itemText(m.content)).filter((t) => t.length > 0),
    afterToolResults: last !== undefined && OUTPUT_TYPES.has(String(last.type)),
    toolRounds,
    tools: (Array.isArray(b.tools) ? b.tools : []).flatMap((t) => (typeof rec(t)?.name === 'string' ? [rec(t)!.name as string] : [])),
  };
}
