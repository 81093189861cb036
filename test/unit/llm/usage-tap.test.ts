import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageTap } from '../../../src/llm/gateway/usage-tap.ts';
import { WIRE_PROTOCOLS, type WireRoute } from '../../../src/llm/gateway/wire-protocols.ts';
import { okBody, streamContentType, streamErrorFrame, streamFrames, type FakeKind } from '../../support/provider-fixtures.ts';
import { responsesBody, responsesStreamFrames } from '../../support/responses-fixtures.ts';

const USAGE = { input: 1234, output: 567, cacheRead: 89, cacheWrite: 12, thinking: 34 };

interface Case {
  route: WireRoute;
  kind: FakeKind;
  stream: string;
  contentType: string;
  expected: Record<string, number | null>;
}

/** `mention`: the text itself says "usage" (every chunk is parsed); otherwise most chunks are skipped. */
function cases(words: number, mention = false): Case[] {
  const text = (mention ? 'lorem usage ipsum ' : 'lorem ipsum dolor ').repeat(words);
  const join = (f: { head: string[]; text: string[]; tail: string[] }) => [...f.head, ...f.text, ...f.tail].join('');
  return [
    { route: 'anthropic-messages', kind: 'anthropic', stream: join(streamFrames('anthropic', 'm', text, USAGE)), contentType: 'text/event-stream', expected: { input: 1234, output: 567, cache_read: 89, cache_write: 12 } },
    { route: 'openai-chat', kind: 'openai', stream: join(streamFrames('openai', 'm', text, USAGE)), contentType: 'text/event-stream', expected: { input: 1234, output: 567, cache_read: 89, thinking: 34 } },
    { route: 'openai-responses', kind: 'openai', stream: join(responsesStreamFrames('m', text, USAGE)), contentType: 'text/event-stream', expected: { input: 1234, output: 567, cache_read: 89, thinking: 34 } },
    { route: 'gemini-stream', kind: 'google', stream: join(streamFrames('google', 'm', text, USAGE)), contentType: 'text/event-stream', expected: { input: 1234, output: 567, thinking: 34, cache_read: 89 } },
    { route: 'ollama-chat', kind: 'ollama', stream: join(streamFrames('ollama', 'm', text, USAGE)), contentType: 'application/x-ndjson', expected: { input: 1234, output: 567 } },
  ];
}

function tap(c: Pick<Case, 'route' | 'contentType'>, bytes: Buffer, cuts: number[]) {
  const t = new UsageTap(WIRE_PROTOCOLS[c.route], c.contentType);
  let at = 0;
  for (const cut of [...cuts.filter((x) => x > 0 && x < bytes.length)].sort((a, b) => a - b)) {
    t.feed(bytes.subarray(at, cut));
    at = cut;
  }
  t.feed(bytes.subarray(at));
  return t.end();
}

describe('UsageTap', () => {
  it('reads the usage of every streamed wire format however the bytes are cut into chunks', () => {
    for (const c of [...cases(1500), ...cases(300, true)]) {
      const bytes = Buffer.from(c.stream);
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 }), fc.integer({ min: 300, max: 70_000 }), (cuts, every) => {
          const regular = Array.from({ length: Math.floor(bytes.length / every) }, (_, i) => (i + 1) * every);
          const result = tap(c, bytes, [...cuts, ...regular]);
          expect(result.streamFailed).toBe(false);
          expect(result.usage, c.route).toMatchObject(c.expected);
        }),
        { numRuns: 25 },
      );
    }
  });

  it('resumes parsing at the start of the line that carries the usage after skipping text chunks', () => {
    for (const c of cases(1500)) {
      const needle = c.route === 'ollama-chat' ? '"done":true' : 'usage';
      const at = c.stream.lastIndexOf(needle);
      const lineStart = c.stream.lastIndexOf('\n', at) + 1;
      const bytes = Buffer.from(c.stream);
      for (const cut of [lineStart + 1, lineStart + 7, Math.floor((lineStart + at) / 2), at - 1, at + 2]) {
        // Big chunks before (skipped), then a cut inside the line that carries the usage.
        const before = Array.from({ length: Math.floor(lineStart / 8192) }, (_, i) => (i + 1) * 8192).filter((x) => x < lineStart);
        expect(tap(c, bytes, [...before, cut]).usage, `${c.route} cut at ${cut - lineStart} into the line`).toMatchObject(c.expected);
      }
    }
  });

  it('notes an error frame in the middle of a long stream', () => {
    for (const c of cases(3000).filter((x) => x.route !== 'openai-responses')) {
      const half = Math.floor(c.stream.length / 2);
      const cut = c.stream.indexOf(c.kind === 'ollama' ? '\n' : c.kind === 'google' ? '\r\n\r\n' : '\n\n', half) + (c.kind === 'ollama' ? 1 : c.kind === 'google' ? 4 : 2);
      const bytes = Buffer.from(c.stream.slice(0, cut) + streamErrorFrame(c.kind) + c.stream.slice(cut));
      for (const every of [100, 4096, 65536]) {
        const regular = Array.from({ length: Math.floor(bytes.length / every) }, (_, i) => (i + 1) * every);
        expect(tap(c, bytes, regular).streamFailed, `${c.route} in chunks of ${every}`).toBe(true);
      }
    }
  });

  it('reads a plain JSON answer once it is complete, and reports null when the provider sent no usage', () => {
    const anthropic = Buffer.from(JSON.stringify(okBody('anthropic', 'm', 'hi', { input: 3, output: 4 })));
    expect(tap({ route: 'anthropic-messages', contentType: 'application/json' }, anthropic, [5, 17]).usage).toMatchObject({ input: 3, output: 4 });
    const responses = Buffer.from(JSON.stringify(responsesBody('m', 'hi', { input: 5, output: 6 })));
    expect(tap({ route: 'openai-responses', contentType: 'application/json' }, responses, []).usage).toMatchObject({ input: 5, output: 6 });
    const noUsage = Buffer.from(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [] }));
    expect(tap({ route: 'openai-chat', contentType: 'application/json' }, noUsage, []).usage).toBeNull();
    expect(streamContentType('ollama')).toContain('ndjson');
  });

  it('reads only the frames that may carry usage or an error when the stream comes one frame per chunk', () => {
    for (const c of cases(2000)) {
      const frames = c.stream.split(c.kind === 'ollama' ? /(?<=\n)/ : c.kind === 'google' ? /(?<=\r\n\r\n)/ : /(?<=\n\n)/);
      let looked = 0;
      let parsed = 0;
      const worthReading = (data: string, event: string | undefined) => {
        looked++;
        const worth = WIRE_PROTOCOLS[c.route].worthReading(data, event);
        if (worth) parsed++;
        return worth;
      };
      const protocol = { ...WIRE_PROTOCOLS[c.route], worthReading };
      const t = new UsageTap(protocol, c.contentType);
      for (const frame of frames) t.feed(Buffer.from(frame));
      expect(t.end().usage, c.route).toMatchObject(c.expected);
      // Text frames are passed over undecoded. OpenAI's chat chunks all say "usage":null (looked
      // at, not parsed); Gemini repeats usageMetadata in every frame.
      if (c.route === 'openai-chat') expect(parsed, c.route).toBeLessThan(10);
      else if (c.route !== 'gemini-stream') expect(looked, c.route).toBeLessThan(10);
    }
  });

  it('drops a frame longer than its limit and still reads the frames after it', () => {
    const c = cases(50).find((x) => x.route === 'anthropic-messages')!;
    const huge = `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${'x'.repeat(5000)} usage"}}\n\n`;
    const at = c.stream.indexOf('event: content_block_stop');
    const bytes = Buffer.from(c.stream.slice(0, at) + huge + c.stream.slice(at));
    for (const every of [64, 1000, 4096]) {
      const t = new UsageTap(WIRE_PROTOCOLS[c.route], c.contentType, { maxFrameBytes: 2048 });
      for (let i = 0; i < bytes.length; i += every) t.feed(bytes.subarray(i, i + every));
      expect(t.end().usage, `chunks of ${every}`).toMatchObject(c.expected);
    }
  });

  it('reads a plain JSON answer\'s top-level usage wherever the answer also says "usage" (text, a tool\'s input), in either key order', () => {
    const text = 'the "usage" of it; '.repeat(3000);
    const toolInput = { usage: { input_tokens: 999, output_tokens: 999 }, note: 'usage' };
    const content = [{ type: 'text', text }, { type: 'tool_use', id: 't1', name: 'Edit', input: toolInput }];
    const usage = { input_tokens: 11, output_tokens: 22, cache_read_input_tokens: 3 };
    const last = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content, stop_reason: 'end_turn', usage };
    const first = { usage, id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content, stop_reason: 'end_turn' };
    for (const [name, answer] of [['usage last', last], ['usage first', first]] as const) {
      const bytes = Buffer.from(JSON.stringify(answer, null, name === 'usage first' ? 2 : undefined));
      for (const every of [100, 7000, bytes.length]) {
        const cuts = Array.from({ length: Math.floor(bytes.length / every) }, (_, i) => (i + 1) * every);
        expect(tap({ route: 'anthropic-messages', contentType: 'application/json' }, bytes, cuts).usage, `${name}, chunks of ${every}`).toMatchObject({ input: 11, output: 22, cache_read: 3 });
      }
    }
    // Gemini's answers, one object (usageMetadata then more fields) or an array of chunks.
    const gemini = (tokens: number) => ({ candidates: [{ content: { parts: [{ text: 'hi' }], role: 'model' } }], usageMetadata: { promptTokenCount: tokens, candidatesTokenCount: 5, totalTokenCount: tokens + 5 }, modelVersion: 'g', responseId: 'r' });
    expect(tap({ route: 'gemini-generate', contentType: 'application/json; charset=UTF-8' }, Buffer.from(JSON.stringify(gemini(7))), [10]).usage).toMatchObject({ input: 7, output: 5 });
    expect(tap({ route: 'gemini-stream', contentType: 'application/json' }, Buffer.from(JSON.stringify([gemini(1), gemini(8)])), []).usage).toMatchObject({ input: 8, output: 5 });
  });
});
