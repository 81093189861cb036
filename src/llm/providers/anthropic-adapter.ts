/**
 * Anthropic Messages (`POST {base}/v1/messages`, `x-api-key`, `anthropic-version: 2023-06-01`).
 * System messages go to the top-level `system`. Streaming is SSE: message_start (usage with
 * input and cache counts), content_block_delta (text_delta), message_delta (final
 * output_tokens), message_stop, ping, and `error` mid-stream.
 * Usage: `input_tokens` (uncached only), `output_tokens` (thinking included; not reported
 * apart), `cache_read_input_tokens`, `cache_creation_input_tokens`.
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import type { ChatRequest, ChatResponse, ProviderAdapter } from '../types.ts';
import { malformed, streamError, truncatedStream } from '../provider-errors.ts';
import { count, parseJson, readSse, prepareCall, type AdapterOptions, record } from '../provider-http.ts';

export const ANTHROPIC_VERSION = '2023-06-01';
/** Anthropic requires max_tokens; used when the caller sets none. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

export function anthropicUsage(u: AnthropicUsage | undefined): TokenUsage {
  return {
    input: count(u?.input_tokens),
    output: count(u?.output_tokens),
    cache_read: count(u?.cache_read_input_tokens),
    cache_write: count(u?.cache_creation_input_tokens),
  };
}


export function anthropicBody(model: string, request: ChatRequest): Record<string, unknown> {
  const system = request.messages.filter((m) => m.role === 'system').map((m) => m.content);
  const body: Record<string, unknown> = {
    model,
    max_tokens: request.maxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
    messages: request.messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role, content: m.content })),
  };
  if (system.length > 0) body.system = system.join('\n\n');
  if (request.temperature !== undefined) body.temperature = Math.min(1, request.temperature);
  if (request.stream) body.stream = true;
  return body;
}

export function createAnthropicAdapter(opts: AdapterOptions): ProviderAdapter {
  const provider = opts.name;
  return {
    provider,
    async chat(model: string, request: ChatRequest): Promise<ChatResponse> {
      const { site, base, key, stream, post } = prepareCall('anthropic', opts, model, request);
      const headers: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION };
      if (key) headers['x-api-key'] = key;
      return post(`${base}/v1/messages`, headers, anthropicBody(model, request), async (res) => {
        if (!stream) {
          const json = record(parseJson(await res.text(), (e) => { throw malformed(site, 'body is not JSON', e); }));
          if (!json || !Array.isArray(json.content)) throw malformed(site, 'no content array');
          const text = json.content
            .map((block) => record(block))
            .filter((b) => b?.type === 'text' && typeof b.text === 'string')
            .map((b) => b!.text as string)
            .join('');
          const out: ChatResponse = { text, usage: anthropicUsage(record(json.usage) as AnthropicUsage | undefined), provider, model };
          if (typeof json.stop_reason === 'string') out.finishReason = json.stop_reason;
          return out;
        }
        let text = '';
        let usage: AnthropicUsage = {};
        let finishReason: string | undefined;
        let stopped = false;
        await readSse(res, (event) => {
          const data = record(parseJson(event.data, (e) => { throw malformed(site, `SSE ${event.event ?? 'message'} data is not JSON`, e); }));
          if (!data) throw malformed(site, 'SSE data is not an object');
          const type = event.event ?? (typeof data.type === 'string' ? data.type : undefined);
          switch (type) {
            case 'message_start': {
              const u = record(record(data.message)?.usage) as AnthropicUsage | undefined;
              if (u) usage = { ...u };
              break;
            }
            case 'content_block_delta': {
              const delta = record(data.delta);
              if (delta?.type === 'text_delta' && typeof delta.text === 'string' && delta.text.length > 0) {
                text += delta.text;
                request.onToken?.(delta.text);
              }
              break;
            }
            case 'message_delta': {
              const u = record(data.usage) as AnthropicUsage | undefined;
              // Cumulative counts: any field present here supersedes message_start's.
              if (u) for (const [k, v] of Object.entries(u)) if (v !== null && v !== undefined) (usage as Record<string, unknown>)[k] = v;
              const stop = record(data.delta)?.stop_reason;
              if (typeof stop === 'string') finishReason = stop;
              break;
            }
            case 'message_stop':
              stopped = true;
              break;
            case 'error':
              throw streamError(site, data);
            default:
              break; // ping, content_block_start/stop and future event types
          }
        });
        if (!stopped) throw truncatedStream(site, 'no message_stop');
        const out: ChatResponse = { text, usage: anthropicUsage(usage), provider, model };
        if (finishReason !== undefined) out.finishReason = finishReason;
        return out;
      });
    },
  };
}
