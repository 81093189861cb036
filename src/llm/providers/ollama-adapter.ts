/**
 * Ollama (`POST {host}/api/chat`). Non-streaming needs an explicit `stream: false` (the server
 * streams by default); streaming is NDJSON, one object per line, the last with `done: true`
 * and the counts. Usage: `prompt_eval_count` (absent when the prompt was cached), `eval_count`.
 * An `{"error": "…"}` line mid-stream is a stream error.
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import type { ChatRequest, ChatResponse, ProviderAdapter } from '../types.ts';
import { malformed, streamError, truncatedStream } from '../provider-errors.ts';
import { count, parseJson, readNdjson, prepareCall, type AdapterOptions, record } from '../provider-http.ts';

export function ollamaUsage(json: Record<string, unknown> | undefined): TokenUsage {
  return { input: count(json?.prompt_eval_count), output: count(json?.eval_count) };
}


export function createOllamaAdapter(opts: AdapterOptions): ProviderAdapter {
  const provider = opts.name;
  return {
    provider,
    async chat(model: string, request: ChatRequest): Promise<ChatResponse> {
      // A key, when configured, is sent as a bearer token (a proxied Ollama may sit behind one).
      const { site, base, key, stream, post } = prepareCall('ollama', opts, model, request);
      const options: Record<string, unknown> = {};
      if (request.temperature !== undefined) options.temperature = request.temperature;
      if (request.maxTokens !== undefined) options.num_predict = request.maxTokens;
      const body: Record<string, unknown> = { model, messages: request.messages, stream };
      if (Object.keys(options).length > 0) body.options = options;
      return post(`${base}/api/chat`, key ? { authorization: `Bearer ${key}` } : {}, body, async (res) => {
        if (!stream) {
          const json = record(parseJson(await res.text(), (e) => { throw malformed(site, 'body is not JSON', e); }));
          if (!json) throw malformed(site, 'body is not an object');
          if (json.error !== undefined) throw streamError(site, json);
          const message = record(json.message);
          if (!message) throw malformed(site, 'no message');
          const out: ChatResponse = {
            text: typeof message.content === 'string' ? message.content : '',
            usage: ollamaUsage(json),
            provider,
            model,
          };
          if (typeof json.done_reason === 'string') out.finishReason = json.done_reason;
          return out;
        }
        let text = '';
        let last: Record<string, unknown> | undefined;
        await readNdjson(res, (line) => {
          const json = record(parseJson(line, (e) => { throw malformed(site, 'NDJSON line is not JSON', e); }));
          if (!json) throw malformed(site, 'NDJSON line is not an object');
          if (json.error !== undefined) throw streamError(site, json);
          const content = record(json.message)?.content;
          if (typeof content === 'string' && content.length > 0) {
            text += content;
            request.onToken?.(content);
          }
          if (json.done === true) last = json;
        });
        if (!last) throw truncatedStream(site, 'no line with done: true');
        const out: ChatResponse = { text, usage: ollamaUsage(last), provider, model };
        if (typeof last.done_reason === 'string') out.finishReason = last.done_reason;
        return out;
      });
    },
  };
}
