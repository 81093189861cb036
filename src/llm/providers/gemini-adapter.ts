/**
 * Gemini API (`POST {base}/v1beta/models/{model}:generateContent`, streaming
 * `:streamGenerateContent?alt=sse`, key in `x-goog-api-key`). Assistant turns are role
 * `model`; system messages become `systemInstruction`. Thought parts (`thought: true`) are not
 * reply text. Usage (`usageMetadata`): `promptTokenCount` (includes cached),
 * `candidatesTokenCount` (excludes thoughts), `thoughtsTokenCount`, `cachedContentTokenCount`.
 */
import { PasError } from '../../errors.ts';
import type { TokenUsage } from '../../../machines/domain.ts';
import type { ChatRequest, ChatResponse, ProviderAdapter } from '../types.ts';
import { malformed, streamError, type CallSite } from '../provider-errors.ts';
import { count, parseJson, readSse, prepareCall, type AdapterOptions, record } from '../provider-http.ts';

interface UsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
}

export function geminiUsage(u: UsageMetadata | undefined): TokenUsage {
  return {
    input: count(u?.promptTokenCount),
    output: count(u?.candidatesTokenCount),
    thinking: count(u?.thoughtsTokenCount),
    cache_read: count(u?.cachedContentTokenCount),
  };
}


export function geminiBody(request: ChatRequest): Record<string, unknown> {
  const system = request.messages.filter((m) => m.role === 'system').map((m) => ({ text: m.content }));
  const body: Record<string, unknown> = {
    contents: request.messages
      .filter((m) => m.role !== 'system')
      .map((m) => ({ role: m.role === 'assistant' ? 'model' : 'user', parts: [{ text: m.content }] })),
  };
  if (system.length > 0) body.systemInstruction = { parts: system };
  const generationConfig: Record<string, unknown> = {};
  if (request.temperature !== undefined) generationConfig.temperature = request.temperature;
  if (request.maxTokens !== undefined) generationConfig.maxOutputTokens = request.maxTokens;
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  return body;
}

/** Reply text of one GenerateContentResponse (first candidate, thoughts skipped). */
function chunkText(json: Record<string, unknown>): { text: string; finishReason?: string } {
  const candidate = record(Array.isArray(json.candidates) ? json.candidates[0] : undefined);
  const parts = record(candidate?.content)?.parts;
  const text = Array.isArray(parts)
    ? parts
        .map(record)
        .filter((p) => p && p.thought !== true && typeof p.text === 'string')
        .map((p) => p!.text as string)
        .join('')
    : '';
  const out: { text: string; finishReason?: string } = { text };
  if (typeof candidate?.finishReason === 'string') out.finishReason = candidate.finishReason;
  return out;
}

function blocked(site: CallSite, json: Record<string, unknown>): PasError | undefined {
  if (Array.isArray(json.candidates) && json.candidates.length > 0) return undefined;
  const reason = record(json.promptFeedback)?.blockReason;
  if (typeof reason !== 'string') return undefined;
  return new PasError('PAS_ERR_LLM_BAD_REQUEST', `${site.provider}/${site.model}: prompt blocked: ${reason}`, {
    details: { provider: site.provider, model: site.model, blockReason: reason },
  });
}

export function createGeminiAdapter(opts: AdapterOptions): ProviderAdapter {
  const provider = opts.name;
  return {
    provider,
    async chat(model: string, request: ChatRequest): Promise<ChatResponse> {
      const { site, base, key, stream, post } = prepareCall('google', opts, model, request);
      const path = `${base}/v1beta/models/${encodeURIComponent(model)}`;
      return post(stream ? `${path}:streamGenerateContent?alt=sse` : `${path}:generateContent`, key ? { 'x-goog-api-key': key } : {}, geminiBody(request), async (res) => {
        if (!stream) {
          const json = record(parseJson(await res.text(), (e) => { throw malformed(site, 'body is not JSON', e); }));
          if (!json) throw malformed(site, 'body is not an object');
          const refused = blocked(site, json);
          if (refused) throw refused;
          if (!Array.isArray(json.candidates)) throw malformed(site, 'no candidates');
          const { text, finishReason } = chunkText(json);
          const out: ChatResponse = { text, usage: geminiUsage(record(json.usageMetadata) as UsageMetadata | undefined), provider, model };
          if (finishReason !== undefined) out.finishReason = finishReason;
          return out;
        }
        let text = '';
        let usage: UsageMetadata | undefined;
        let finishReason: string | undefined;
        let chunks = 0;
        await readSse(res, (event) => {
          const json = record(parseJson(event.data, (e) => { throw malformed(site, 'SSE data is not JSON', e); }));
          if (!json) throw malformed(site, 'SSE data is not an object');
          if (json.error) throw streamError(site, json);
          const refused = blocked(site, json);
          if (refused) throw refused;
          chunks++;
          const piece = chunkText(json);
          if (piece.text) {
            text += piece.text;
            request.onToken?.(piece.text);
          }
          if (piece.finishReason) finishReason = piece.finishReason;
          // Each chunk repeats the running usage; the last one is the total.
          const u = record(json.usageMetadata);
          if (u) usage = u as UsageMetadata;
        });
        if (chunks === 0) throw malformed(site, 'empty stream');
        const out: ChatResponse = { text, usage: geminiUsage(usage), provider, model };
        if (finishReason !== undefined) out.finishReason = finishReason;
        return out;
      });
    },
  };
}
