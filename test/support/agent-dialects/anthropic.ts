/**
 * Anthropic Messages as Claude Code calls it: `HEAD /` (a connectivity check), then
 * `POST /v1/messages?beta=true`, streamed SSE (`message_start` with input usage, content blocks
 * — `tool_use` with `input_json_delta`, or text — `message_delta` with `stop_reason` and output
 * usage, `message_stop`). Tool results come back as `tool_result` blocks in user messages.
 */
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { errorFixture } from '../provider-fixtures.ts';
import { sseFrame, type FakeDialect } from './dialect.ts';

type Json = Record<string, unknown>;

function countToolResults(body: Json): number {
  const messages = Array.isArray(body.messages) ? (body.messages as Json[]) : [];
  let n = 0;
  for (const m of messages) {
    if (m.role !== 'user' || !Array.isArray(m.content)) continue;
    for (const block of m.content as Json[]) if (block && block.type === 'tool_result') n += 1;
  }
  return n;
}

function systemText(body: Json): string {
  const system = body.system;
  if (typeof system === 'string') return system;
  if (Array.isArray(system)) return system.map((b) => (b && typeof b === 'object' ? String((b as Json).text ?? '') : '')).join('\n');
  return '';
}

const ERROR_NAME: Record<number, Parameters<typeof errorFixture>[1]> = { 429: 'rate_limited', 529: 'overloaded', 500: 'server', 401: 'auth', 400: 'bad_request', 404: 'not_found' };

export const anthropicDialect: FakeDialect = {
  name: 'anthropic',
  route: (method, p) => method === 'POST' && /^\/v1\/messages(\?|$)/.test(p),
  model: (body) => String(body.model ?? ''),
  toolResults: countToolResults,
  cwd: (body) => /Primary working directory: (\S+)/.exec(systemText(body))?.[1] ?? /Working directory: (\S+)/.exec(systemText(body))?.[1],
  error(status) {
    const name = ERROR_NAME[status];
    if (name) {
      const fx = errorFixture('anthropic', name);
      // No retry-after: the CLI's retry count alone decides (PAS caps it).
      return { body: fx.body };
    }
    return { body: { type: 'error', error: { type: 'api_error', message: `HTTP ${status}` } } };
  },
  answer(res: ServerResponse, turn, ctx) {
    const usage = turn.usage!;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'request-id': `req_fake_${ctx.index}` });
    const id = `msg_fake_${ctx.index}_${Date.now()}`;
    res.write(
      sseFrame(
        {
          type: 'message_start',
          message: {
            id,
            type: 'message',
            role: 'assistant',
            model: ctx.model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: usage.input, output_tokens: 1, cache_creation_input_tokens: usage.cacheWrite ?? 0, cache_read_input_tokens: usage.cacheRead ?? 0 },
          },
        },
        'message_start',
      ),
    );
    let stop = 'end_turn';
    if ('write' in turn || 'bash' in turn || 'read' in turn) {
      stop = 'tool_use';
      const toolId = `toolu_fake_${ctx.index}`;
      const abs = (p: string) => (path.isAbsolute(p) ? p : path.join(ctx.cwd ?? '.', p));
      const [name, input] =
        'write' in turn
          ? ['Write', { file_path: abs(turn.write.path), content: turn.write.content }]
          : 'read' in turn
            ? ['Read', { file_path: abs(turn.read) }]
            : ['Bash', { command: turn.bash, description: 'run the check' }];
      res.write(sseFrame({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: toolId, name, input: {} } }, 'content_block_start'));
      const json = JSON.stringify(input);
      const half = Math.floor(json.length / 2);
      res.write(sseFrame({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: json.slice(0, half) } }, 'content_block_delta'));
      res.write(sseFrame({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: json.slice(half) } }, 'content_block_delta'));
    } else {
      res.write(sseFrame({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start'));
      res.write(sseFrame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: turn.text } }, 'content_block_delta'));
    }
    res.write(sseFrame({ type: 'content_block_stop', index: 0 }, 'content_block_stop'));
    res.write(sseFrame({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output } }, 'message_delta'));
    res.write(sseFrame({ type: 'message_stop' }, 'message_stop'));
    res.end();
  },
};
