/**
 * OpenAI Responses as Codex calls it: `POST /v1/responses`, streamed SSE. A file write is the
 * free-form `apply_patch` custom tool call (`*** Begin Patch / *** Add File: … / *** End Patch`),
 * a command an `exec_command` function call, the final answer an assistant message; the stream
 * carries `response.output_item.done` and `response.completed` with usage. Tool results come back
 * as `custom_tool_call_output` / `function_call_output` input items.
 */
import type { ServerResponse } from 'node:http';
import { errorFixture } from '../provider-fixtures.ts';
import { sseFrame, type FakeDialect } from './dialect.ts';

type Json = Record<string, unknown>;

const ERROR_NAME: Record<number, Parameters<typeof errorFixture>[1]> = { 429: 'rate_limited', 500: 'server', 503: 'overloaded', 401: 'auth', 400: 'bad_request', 404: 'not_found' };

/** The apply_patch text that creates (or replaces) a file. */
export function addFilePatch(file: string, content: string): string {
  const lines = content.replace(/\n$/, '').split('\n').map((l) => `+${l}`);
  return ['*** Begin Patch', `*** Add File: ${file}`, ...lines, '*** End Patch', ''].join('\n');
}

export const openAiResponsesDialect: FakeDialect = {
  name: 'openai-responses',
  route: (method, p) => method === 'POST' && /^\/v1\/responses(\?|$)/.test(p),
  model: (body) => String(body.model ?? ''),
  toolResults(body) {
    const input = Array.isArray(body.input) ? (body.input as Json[]) : [];
    return input.filter((i) => i && (i.type === 'custom_tool_call_output' || i.type === 'function_call_output')).length;
  },
  cwd(body) {
    return /<cwd>([^<]+)<\/cwd>/.exec(JSON.stringify(body.input ?? ''))?.[1];
  },
  error(status) {
    const name = ERROR_NAME[status];
    if (name) {
      const fx = errorFixture('openai', name);
      return { body: fx.body };
    }
    if (status === 529) return { body: { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: null } } };
    return { body: { error: { message: `HTTP ${status}`, type: 'server_error', param: null, code: null } } };
  },
  answer(res: ServerResponse, turn, ctx) {
    const usage = turn.usage!;
    const responseId = `resp_fake_${ctx.index}_${Date.now()}`;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': `req_fake_${ctx.index}` });
    const send = (data: Json) => res.write(sseFrame(data, String(data.type)));
    send({ type: 'response.created', sequence_number: 0, response: { id: responseId, object: 'response', status: 'in_progress', model: ctx.model, output: [] } });
    let item: Json;
    if ('write' in turn) {
      item = { type: 'custom_tool_call', id: `ctc_fake_${ctx.index}`, call_id: `call_fake_${ctx.index}`, name: 'apply_patch', input: addFilePatch(turn.write.path, turn.write.content), status: 'completed' };
    } else if ('bash' in turn || 'read' in turn) {
      const cmd = 'bash' in turn ? turn.bash : `cat ${turn.read}`;
      item = { type: 'function_call', id: `fc_fake_${ctx.index}`, call_id: `call_fake_${ctx.index}`, name: 'exec_command', arguments: JSON.stringify({ cmd }), status: 'completed' };
    } else {
      item = { type: 'message', id: `msg_fake_${ctx.index}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: turn.text, annotations: [] }] };
    }
    send({ type: 'response.output_item.added', sequence_number: 1, output_index: 0, item: { ...item, status: 'in_progress' } });
    send({ type: 'response.output_item.done', sequence_number: 2, output_index: 0, item });
    send({
      type: 'response.completed',
      sequence_number: 3,
      response: {
        id: responseId,
        object: 'response',
        status: 'completed',
        model: ctx.model,
        output: [item],
        usage: {
          input_tokens: usage.input,
          input_tokens_details: { cached_tokens: usage.cacheRead ?? 0 },
          output_tokens: usage.output,
          output_tokens_details: { reasoning_tokens: usage.thinking ?? 0 },
          total_tokens: usage.input + usage.output,
        },
      },
    });
    res.end();
  },
};
