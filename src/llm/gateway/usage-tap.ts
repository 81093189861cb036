/**
 * Reads the usage of an answer on the side while its bytes pass through untouched: SSE through
 * eventsource-parser, NDJSON line by line, a plain JSON answer once it is complete. Also notes an
 * error frame inside a 200 stream (the breaker counts it as a failure).
 *
 * A stream's usage and errors sit in a few frames (Anthropic's message_start and message_delta,
 * OpenAI's last chunk, Gemini's usageMetadata, Ollama's done line); the text deltas in between
 * are most of the bytes and most of the frames. So the tap works in whole frames on the raw
 * bytes: each chunk's complete frames (up to its last blank line; for NDJSON its last newline)
 * are decoded and parsed only when they mention `usage` or `"error"` (Ollama: `true` or
 * `"error"`); the others are passed over with a byte search, no decoding, no parsing. Only the
 * unfinished frame at a chunk's end is kept until its end arrives.
 */
import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { TokenUsage } from '../../../machines/domain.ts';
import { record } from '../provider-http.ts';
import { closingIndex, skipSpace } from './json-bytes.ts';
import type { WireProtocol } from './wire-protocols.ts';

/** A plain JSON answer larger than this is passed on without reading its usage. */
const MAX_JSON_BYTES = 32 * 1024 * 1024;
/** How much of a plain JSON answer's end is searched for its usage (it is the last field or nearly). */
const ANSWER_TAIL_BYTES = 16 * 1024;
/** `"usage"`, `"usageMetadata"` as bytes. */
const ANSWER_KEYS = new Map<string, Buffer>();
/** An unfinished frame longer than this is dropped up to the next frame (a stream's frames are small). */
const MAX_FRAME_BYTES = 32 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
const SSE_NEEDLES = [Buffer.from('usage'), Buffer.from('"error"')];
/** Ollama's lines all say `"done"`; only the last says `true` (`"done":true`). */
const NDJSON_NEEDLES = [Buffer.from('true'), Buffer.from('"error"')];
/** The longest needle, less one: how far a needle may reach back across a chunk's seam. */
const SEAM = 6;
/** The blank lines that end an SSE event (`\r\n\r\n` contains `\n\r\n`). */
const SSE_ENDS = [Buffer.from('\n\n'), Buffer.from('\n\r\n'), Buffer.from('\r\r')];
const LF_LF = SSE_ENDS[0]!;
const CR_ENDS = SSE_ENDS.slice(1);

export interface TapResult {
  /** Null when the answer carried no usage (a count not reported is null, never 0). */
  usage: TokenUsage | null;
  /** An error frame appeared in the stream. */
  streamFailed: boolean;
}

export interface UsageTapOptions {
  /** An unfinished frame longer than this is dropped up to the next frame. */
  maxFrameBytes?: number;
}

export class UsageTap {
  private usage: TokenUsage | undefined;
  private failed = false;
  private readonly framing: 'sse' | 'ndjson' | 'json';
  private readonly needles: Buffer[];
  private readonly maxFrameBytes: number;
  private parser: EventSourceParser | undefined;
  private json: Buffer[] = [];
  private jsonBytes = 0;
  /** The unfinished frame (the bytes after the last frame end seen), in the pieces it came in. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Its last bytes (a needle may straddle it and the next chunk). */
  private pendingTail: Buffer = EMPTY;
  /** It mentions a needle already. */
  private pendingMentions = false;
  /** It grew past maxFrameBytes: its bytes are dropped up to the next frame end. */
  private dropping = false;

  constructor(
    private readonly protocol: WireProtocol,
    contentType: string | undefined,
    options: UsageTapOptions = {},
  ) {
    const type = (contentType ?? '').toLowerCase();
    this.framing = type.includes('text/event-stream') ? 'sse' : type.includes('ndjson') ? 'ndjson' : 'json';
    this.needles = this.framing === 'ndjson' ? NDJSON_NEEDLES : SSE_NEEDLES;
    this.maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    if (this.framing === 'sse') {
      this.parser = createParser({ onEvent: (event) => this.onData(event.data, event.event) });
    }
  }

  feed(chunk: Buffer): void {
    if (this.framing === 'json') {
      this.jsonBytes += chunk.length;
      if (this.jsonBytes <= MAX_JSON_BYTES) this.json.push(chunk);
      return;
    }
    if (chunk.length === 0) return;
    if (this.dropping) {
      // Skip the rest of the oversized frame, then carry on from the frame after it.
      const first = this.firstFrameEnd(chunk);
      if (first < 0) return;
      this.dropping = false;
      chunk = chunk.subarray(first);
      if (chunk.length === 0) return;
    }
    const end = this.lastFrameEnd(chunk);
    if (end < 0) {
      this.hold(chunk);
      return;
    }
    const frames = end === chunk.length ? chunk : chunk.subarray(0, end);
    if (this.pendingMentions || this.mentions(this.pendingTail, frames)) {
      this.read(this.pending.length > 0 ? Buffer.concat([...this.pending, frames]) : frames);
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingTail = EMPTY;
    this.pendingMentions = false;
    // The unfinished frame is copied: a small view would keep the socket's whole read buffer alive.
    if (end < chunk.length) this.hold(Buffer.from(chunk.subarray(end)));
  }

  end(): TapResult {
    if (this.framing === 'json') {
      const fast = this.jsonBytes <= MAX_JSON_BYTES && this.json.length > 0 ? this.answerUsage() : undefined;
      if (fast) this.usage = fast;
      else if (this.jsonBytes <= MAX_JSON_BYTES && this.json.length > 0) {
        let value: unknown;
        try {
          value = JSON.parse(Buffer.concat(this.json).toString('utf8'));
        } catch {
          value = undefined;
        }
        // Gemini's streamGenerateContent without alt=sse answers one JSON array of chunks.
        for (const item of Array.isArray(value) ? value : [value]) {
          const json = record(item);
          if (json) this.usage = this.protocol.usageFrom(json, this.usage, undefined);
        }
        this.json = [];
      }
    } else {
      // A last frame without its end: read it as it is.
      if (this.pendingMentions) this.read(Buffer.concat(this.pending));
      this.pending = [];
      this.parser?.reset({ consume: true });
    }
    return { usage: this.usage ?? null, streamFailed: this.failed };
  }

  /**
   * A plain JSON answer's usage from its top-level usage object alone (it sits at the answer's
   * end), or undefined when that cannot be told so (then the whole answer is parsed): the last
   * `"usage":` key of the last chunks, its object, and a check that only the top-level object
   * closes after it.
   */
  private answerUsage(): TokenUsage | undefined {
    const spec = this.protocol.answerUsage;
    if (!spec) return undefined;
    let tailBytes = 0;
    let from = this.json.length;
    while (from > 0 && tailBytes < ANSWER_TAIL_BYTES) tailBytes += this.json[--from]!.length;
    const tail = from === this.json.length - 1 ? this.json[from]! : Buffer.concat(this.json.slice(from));
    let key = ANSWER_KEYS.get(spec.key);
    if (!key) ANSWER_KEYS.set(spec.key, (key = Buffer.from(`"${spec.key}"`)));
    const at = tail.lastIndexOf(key);
    if (at < 0) return undefined;
    const colon = skipSpace(tail, at + key.length);
    if (tail[colon] !== 0x3a) return undefined;
    const start = skipSpace(tail, colon + 1);
    if (tail[start] !== 0x7b) return undefined;
    const end = closingIndex(tail, start, 0);
    const close = end < 0 ? -1 : closingIndex(tail, end, 1);
    if (close < 0 || tail[close - 1] !== 0x7d || skipSpace(tail, close) !== tail.length) return undefined;
    try {
      const usage = record(JSON.parse(tail.toString('utf8', start, end)));
      return usage ? spec.read(usage) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Adds bytes without a frame end to the unfinished frame. */
  private hold(bytes: Buffer): void {
    if (this.pendingBytes + bytes.length > this.maxFrameBytes) {
      this.pending = [];
      this.pendingBytes = 0;
      this.pendingTail = EMPTY;
      this.pendingMentions = false;
      this.dropping = true;
      return;
    }
    this.pendingMentions ||= this.mentions(this.pendingTail, bytes);
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.pendingTail = bytes.length >= SEAM ? bytes.subarray(bytes.length - SEAM) : Buffer.concat([this.pendingTail, bytes]).subarray(-SEAM);
  }

  /** Whether `bytes` mention a needle, counting one that starts in `before` (the bytes just ahead of them). */
  private mentions(before: Buffer, bytes: Buffer): boolean {
    for (const needle of this.needles) if (bytes.includes(needle)) return true;
    if (before.length === 0) return false;
    const seam = Buffer.concat([before, bytes.subarray(0, SEAM)]);
    return this.needles.some((needle) => seam.includes(needle));
  }

  /** Where the first frame in `chunk` ends (after the unfinished one), or -1. */
  private firstFrameEnd(chunk: Buffer): number {
    if (this.framing === 'ndjson') {
      const nl = chunk.indexOf(0x0a);
      return nl < 0 ? -1 : nl + 1;
    }
    let end = -1;
    for (const sep of SSE_ENDS) {
      const at = chunk.indexOf(sep);
      if (at >= 0 && (end < 0 || at + sep.length < end)) end = at + sep.length;
    }
    return end;
  }

  /** Where the last complete frame in the unfinished frame + `chunk` ends, as an offset into `chunk`, or -1. */
  private lastFrameEnd(chunk: Buffer): number {
    if (this.framing === 'ndjson') {
      const nl = chunk.lastIndexOf(0x0a);
      return nl < 0 ? -1 : nl + 1;
    }
    const lf = chunk.lastIndexOf(LF_LF);
    let end = lf < 0 ? -1 : lf + 2;
    // Blank lines with a CR (Gemini's CRLF): only worth looking for where a CR follows.
    if (chunk.indexOf(0x0d, Math.max(0, end)) >= 0) {
      for (const sep of CR_ENDS) {
        const at = chunk.lastIndexOf(sep);
        if (at >= 0) end = Math.max(end, at + sep.length);
      }
    }
    if (end >= 0 || this.pendingTail.length === 0) return end;
    // A blank line split across the seam (the unfinished frame ends in a line end, the chunk starts one).
    const back = Math.min(3, this.pendingTail.length);
    const probe = Buffer.concat([this.pendingTail.subarray(this.pendingTail.length - back), chunk.subarray(0, 3)]);
    for (const sep of SSE_ENDS) {
      const at = probe.lastIndexOf(sep);
      if (at >= 0 && at + sep.length > back) end = Math.max(end, at + sep.length - back);
    }
    return end;
  }

  /** Parses whole frames (a frame ends in ASCII, so the text decodes alone). */
  private read(frames: Buffer): void {
    const text = frames.toString('utf8');
    if (this.framing === 'sse') {
      this.parser!.feed(text);
      return;
    }
    for (const line of text.split('\n')) {
      const trimmed = line.trim();
      if (trimmed) this.onData(trimmed, undefined);
    }
  }

  private onData(data: string, event: string | undefined): void {
    if (data === '[DONE]' || !this.protocol.worthReading(data, event)) return;
    let json: Record<string, unknown> | undefined;
    try {
      json = record(JSON.parse(data));
    } catch {
      return;
    }
    if (!json) return;
    if (this.protocol.streamFailed(json, event)) this.failed = true;
    this.usage = this.protocol.usageFrom(json, this.usage, event);
  }
}
