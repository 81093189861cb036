/**
 * Gemini `generateContent` / `streamGenerateContent?alt=sse`: a turn becomes candidate parts
 * (`text`, `functionCall{name, args}`); the stream sends text piece by piece, the calls in one
 * frame and `usageMetadata` with `finishReason: STOP` on the last frame (frames end in CRLF
 * pairs as Google's do). Requests carry `contents[]` whose tool results are `functionResponse`
 * parts of a `user` turn.
 */
import { rec, sseData, streamReply, textPieces, jsonReply, type WireReply, type WireRequest, type WireTurn, type WireUsage } from './wire-turn.ts';

const EOL = '\r\n';

export function geminiUsageMetadata(u: WireUsage | undefined): Record<string, unknown> | undefined {
  if (!u) return undefined;
  const out: Record<string, unknown> = {};
  if (u.input !== undefined) out.promptTokenCount = u.input;
  if (u.output !== undefined) out.candidatesTokenCount = u.output;
  if (u.cacheRead !== undefined) out.cachedContentTokenCount = u.cacheRead;
  if (u.thinking !== undefined) out.thoughtsTokenCount = u.thinking;
  if (u.input !== undefined && u.output !== undefined) out.totalTokenCount = u.input + u.output + (u.thinking ?? 0);
  return out;
}

function callParts(turn: WireTurn): Record<string, unknown>[] {
  return (turn.toolCalls ?? []).map((c) => ({ functionCall: { name: c.name, args: typeof c.input === 'string' ? { input: c.input } : c.input } }));
}

export function geminiReply(turn: WireTurn, model: string, stream: boolean): WireReply {
  const usageMetadata = geminiUsageMetadata(turn.usage);
  const frame = (parts: Record<string, unknown>[], last: boolean) => ({
    candidates: [{ content: { role: 'model', parts }, ...(last ? { finishReason: 'STOP' } : {}), index: 0 }],
    ...(last && usageMetadata ? { usageMetadata } : {}),
    modelVersion: model,
  });
  const calls = callParts(turn);
  if (!stream) return jsonReply(200, frame([...(turn.text ? [{ text: turn.text }] : []), ...calls], true));
  const frames: string[] = [];
  const pieces = textPieces(turn.text ?? '');
  pieces.forEach((piece, i) => {
    const last = calls.length === 0 && i === pieces.length - 1;
    frames.push(sseData(frame([{ text: piece }], last), EOL));
  });
  if (calls.length > 0 || pieces.length === 0) frames.push(sseData(frame(calls.length > 0 ? calls : [{ text: '' }], true), EOL));
  return streamReply(frames);
}

function partsText(parts: unknown): string {
  return Array.isArray(parts) ? parts.map((p) => (typeof rec(p)?.text === 'string' ? (rec(p)!.text as string) : '')).join('') : '';
}

/** `model` comes from the URL (`/v1beta/models/{model}:…`). */
export function readGeminiRequest(body: unknown, model: string, stream: boolean): WireRequest {
  const b = rec(body) ?? {};
  const contents = Array.isArray(b.contents) ? b.contents.map(rec).filter((c) => c !== undefined) : [];
  const userTexts: string[] = [];
  for (const c of contents) {
    if (c.role !== 'user' && c.role !== undefined) continue;
    const text = partsText(c.parts);
    if (text) userTexts.push(text);
  }
  const last = contents[contents.length - 1];
  const afterToolResults = Array.isArray(last?.parts) && last.parts.some((p) => rec(p)?.functionResponse !== undefined);
  const toolRounds = contents.filter((c) => c.role === 'model' && Array.isArray(c.parts) && c.parts.some((p) => rec(p)?.functionCall !== undefined)).length;
  const tools: string[] = [];
  for (const t of Array.isArray(b.tools) ? b.tools : []) {
    for (const d of Array.isArray(rec(t)?.functionDeclarations) ? (rec(t)!.functionDeclarations as unknown[]) : []) {
      const name = rec(d)?.name;
      if (typeof name === 'string') tools.push(name);
    }
  }
  return { model, stream, system: partsText(rec(b.systemInstruction)?.parts), userTexts, afterToolResults, toolRounds, tools };
}
