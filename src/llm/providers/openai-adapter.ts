/**
 * OpenAI Chat Completions (`POST {base}/chat/completions`, base includes `/v1`), also spoken by
 * OpenAI-compatible servers (vLLM, llama.cpp, LM Studio, Ollama's /v1). Streaming is SSE with
 * `stream_options.include_usage`, so the last chunk (empty `choices`) carries the usage.
 * Usage: `prompt_tokens` (includes cached), `completion_tokens` (includes reasoning),
 * `completion_tokens_details.reasoning_tokens`, `prompt_tokens_details.cached_tokens`.
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import type { ChatRequest, ChatResponse, ProviderAdapter } from '../types.ts';
import { malformed, streamError, truncatedStream } from '../provider-errors.ts';
import { count, parseJson, readSse, prepareCall, type AdapterOptions, record } from '../provider-http.ts';

interface OpenAiUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

export function openAiUsage(u: OpenAiUsage | null | undefined): TokenUsage {
  return {
    input: count(u?.prompt_tokens),
    output: count(u?.completion_tokens),
    thinking: count(u?.completion_tokens_details?.reasoning_tokens),
    cache_read: count(u?.prompt_tokens_details?.cached_tokens),
  };
}


export function createOpenAiAdapter(opts: AdapterOptions): ProviderAdapter {
  const provider = opts.name;
  return {
    provider,
    async chat(model: string, request: ChatRequest): Promise<ChatResponse> {
      const { site, base, key, stream, post } = prepareCall('openai', opts, model, request);
      const body: Record<string, unknown> = { model, messages: request.messages, stream };
      if (request.temperature !== undefined) body.temperature = request.temperature;
      if (request.maxTokens !== undefined) {
        // api.openai.com deprecated max_tokens (reasoning models refuse it); compatible servers know max_tokens.
        body[new URL(base).hostname === 'api.openai.com' ? 'max_completion_tokens' : 'max_tokens'] = request.maxTokens;
      }
      if (stream) body.stream_options = { include_usage: true };
      return post(`${base}/chat/completions`, key ? { authorization: `Bearer ${key}` } : {}, body, async (res) => {
        if (!stream) {
          const text = await res.text();
          const json = record(parseJson(text, (e) => { throw malformed(site, 'body is not JSON', e); }));
          const choice = record(Array.isArray(json?.choices) ? json.choices[0] : undefined);
          const message = record(choice?.message);
          if (!json || !message) throw malformed(site, 'no choices[0].message');
          const out: ChatResponse = {
            text: typeof message.content === 'string' ? message.content : '',
            usage: openAiUsage(json.usage as OpenAiUsage | undefined),
            provider,
            model,
          };
          if (typeof choice?.finish_reason === 'string') out.finishReason = choice.finish_reason;
          return out;
        }
        let text = '';
        let usage: OpenAiUsage | undefined;
        let finishReason: string | undefined;
        let done = false;
        await readSse(res, (event) => {
          if (event.data === '[DONE]') {
            done = true;
            return;
          }
          const chunk = record(parseJson(event.data, (e) => { throw malformed(site, 'SSE data is not JSON', e); }));
          if (!chunk) throw malformed(site, 'SSE data is not an object');
          if (chunk.error) throw streamError(site, { error: chunk.error });
          if (chunk.usage) usage = chunk.usage as OpenAiUsage;
          const choice = record(Array.isArray(chunk.choices) ? chunk.choices[0] : undefined);
          const delta = record(choice?.delta);
          if (typeof delta?.content === 'string' && delta.content.length > 0) {
            text += delta.content;
            request.onToken?.(delta.content);
          }
          if (typeof choice?.finish_reason === 'string') finishReason = choice.finish_reason;
        });
        if (!done && finishReason === undefined) throw truncatedStream(site, 'no finish_reason and no [DONE]');
        const out: ChatResponse = { text, usage: openAiUsage(usage), provider, model };
        if (finishReason !== undefined) out.finishReason = finishReason;
        return out;
      });
    },
  };
}
