/**
 * OpenAI Responses API (`POST /v1/responses`) bodies and stream events as the API sends them
 * (what Codex speaks): a `response` object, and SSE events `response.created` …
 * `response.output_text.delta` … `response.completed` (the one carrying the usage).
 */
import { pieces, type FixtureUsage } from './provider-fixtures.ts';

const CREATED = 1_735_689_600;
const RESPONSE_ID = 'resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b';
const MESSAGE_ID = 'msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b';

export function responsesUsageBody(u: FixtureUsage): Record<string, unknown> {
  return {
    input_tokens: u.input ?? 0,
    input_tokens_details: { cached_tokens: u.cacheRead ?? 0 },
    output_tokens: u.output ?? 0,
    output_tokens_details: { reasoning_tokens: u.thinking ?? 0 },
    total_tokens: (u.input ?? 0) + (u.output ?? 0),
  };
}

function message(text: string, status: 'in_progress' | 'completed'): Record<string, unknown> {
  return { type: 'message', id: MESSAGE_ID, status, role: 'assistant', content: status === 'completed' ? [{ type: 'output_text', text, annotations: [] }] : [] };
}

export function responsesBody(model: string, text: string, usage: FixtureUsage | null, status: 'in_progress' | 'completed' = 'completed'): Record<string, unknown> {
  return {
    id: RESPONSE_ID,
    object: 'response',
    created_at: CREATED,
    status,
    error: null,
    incomplete_details: null,
    model,
    output: status === 'completed' ? [message(text, 'completed')] : [],
    parallel_tool_calls: true,
    store: false,
    temperature: 1,
    tool_choice: 'auto',
    tools: [],
    usage: usage ? responsesUsageBody(usage) : null,
  };
}

export function responsesStreamFrames(model: string, text: string, usage: FixtureUsage): { head: string[]; text: string[]; tail: string[] } {
  let seq = 0;
  const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const head = [
    event('response.created', { response: responsesBody(model, '', null, 'in_progress') }),
    event('response.in_progress', { response: responsesBody(model, '', null, 'in_progress') }),
    event('response.output_item.added', { output_index: 0, item: message('', 'in_progress') }),
    event('response.content_part.added', { item_id: MESSAGE_ID, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }),
  ];
  const body = pieces(text).map((delta) => event('response.output_text.delta', { item_id: MESSAGE_ID, output_index: 0, content_index: 0, delta }));
  const tail = [
    event('response.output_text.done', { item_id: MESSAGE_ID, output_index: 0, content_index: 0, text }),
    event('response.content_part.done', { item_id: MESSAGE_ID, output_index: 0, content_index: 0, part: { type: 'output_text', text, annotations: [] } }),
    event('response.output_item.done', { output_index: 0, item: message(text, 'completed') }),
    event('response.completed', { response: responsesBody(model, text, usage) }),
  ];
  return { head, text: body, tail };
}
