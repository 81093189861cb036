/**
 * Reads the usage of an answer on the side while its bytes pass through untouched: SSE through
 * eventsource-parser, NDJSON line by line, a plain JSON answer once it is complete. Also notes an
 * error frame inside a 200 stream (the breaker counts it as a failure).
 *
 * A stream's usage and errors sit in a few frames (Anthropic's message_start and message_delta,
 * OpenAI's last chunk, Gemini's usageMetadata, Ollama's done line); the text deltas in between
 * are most of the bytes. So only chunks that mention `usage`, `"error"` (or `"done"` for Ollama)
 * are parsed; the others are skipped with a byte search, the parser resuming at the next line.
 */
import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { TokenUsage } from '../../../machines/domain.ts';
import { record } from '../provider-http.ts';
import type { WireProtocol } from './wire-protocols.ts';

/** A plain JSON answer larger than this is passed on without reading its usage. */
const MAX_JSON_BYTES = 32 * 1024 * 1024;
/** A skipped line longer than this is dropped (it never mentioned usage or an error anyway). */
const MAX_CARRY_BYTES = 1024 * 1024;
const EMPTY = Buffer.alloc(0);
const SSE_NEEDLES = [Buffer.from('usage'), Buffer.from('"error"')];
const NDJSON_NEEDLES = [Buffer.from('"done"'), Buffer.from('"error"')];
const NEEDLE_SPAN = 8;
/** Chunks smaller than this are simply parsed (a skip would cost more than it saves). */
const SKIP_FROM_BYTES = 2048;

export interface TapResult {
  /** Null when the answer carried no usage (a count not reported is null, never 0). */
  usage: TokenUsage | null;
  /** An error frame appeared in the stream. */
  streamFailed: boolean;
}

export class UsageTap {
  private usage: TokenUsage | undefined;
  private failed = false;
  private decoder = new TextDecoder();
  private readonly framing: 'sse' | 'ndjson' | 'json';
  private readonly needles: Buffer[];
  private parser: EventSourceParser | undefined;
  private lineBuffer = '';
  private json: Buffer[] = [];
  private jsonBytes = 0;
  /** Everything so far went to the parser (false after a skip, until the next interesting chunk). */
  private synced = true;
  /** After a skip: the bytes since the last newline (the start of the line the parser resumes at). */
  private carry: Buffer = EMPTY;
  /** The previous chunk's last bytes (a needle or a blank line may span two chunks). */
  private prevTail: Buffer = EMPTY;

  constructor(
    private readonly protocol: WireProtocol,
    contentType: string | undefined,
  ) {
    const type = (contentType ?? '').toLowerCase();
    this.framing = type.includes('text/event-stream') ? 'sse' : type.includes('ndjson') ? 'ndjson' : 'json';
    this.needles = this.framing === 'ndjson' ? NDJSON_NEEDLES : SSE_NEEDLES;
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
    if (this.synced && chunk.length < SKIP_FROM_BYTES) {
      this.prevTail = EMPTY;
      this.take(chunk);
      return;
    }
    const interesting = this.mentions(chunk);
    const tail = this.prevTail;
    this.prevTail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - NEEDLE_SPAN)));
    if (interesting) {
      if (!this.synced) {
        chunk = Buffer.concat([this.carry, chunk]);
        this.carry = EMPTY;
        this.synced = true;
        this.decoder = new TextDecoder();
      }
      this.take(chunk);
      return;
    }
    if (this.synced) {
      // Finish whatever frame the parser is in the middle of, then skip from a frame boundary.
      const end = this.frameEnd(tail, chunk);
      if (end < 0) {
        this.take(chunk);
        return;
      }
      this.take(chunk.subarray(0, end));
      this.resetParser();
      this.synced = false;
      chunk = chunk.subarray(end);
    }
    const nl = chunk.lastIndexOf(0x0a);
    if (nl >= 0) this.carry = Buffer.from(chunk.subarray(nl + 1));
    else if (this.carry.length + chunk.length <= MAX_CARRY_BYTES) this.carry = Buffer.concat([this.carry, chunk]);
  }

  end(): TapResult {
    if (this.framing === 'sse') {
      const tail = this.decoder.decode();
      if (tail) this.parser!.feed(tail);
      this.parser!.reset({ consume: true });
    } else if (this.framing === 'ndjson') {
      this.lineBuffer += this.decoder.decode();
      if (this.lineBuffer.trim()) this.onData(this.lineBuffer.trim(), undefined);
      this.lineBuffer = '';
    } else if (this.jsonBytes <= MAX_JSON_BYTES && this.json.length > 0) {
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
    return { usage: this.usage ?? null, streamFailed: this.failed };
  }

  private mentions(chunk: Buffer): boolean {
    const seam = this.prevTail.length > 0 ? Buffer.concat([this.prevTail, chunk.subarray(0, NEEDLE_SPAN)]) : undefined;
    return this.needles.some((n) => chunk.includes(n) || (seam !== undefined && seam.includes(n)));
  }

  /** Where the frame in progress ends in `chunk` (after its blank line; for NDJSON its newline), or -1. */
  private frameEnd(tail: Buffer, chunk: Buffer): number {
    if (this.framing === 'ndjson') {
      const nl = chunk.indexOf(0x0a);
      return nl < 0 ? -1 : nl + 1;
    }
    const probe = Buffer.concat([tail.subarray(Math.max(0, tail.length - 3)), chunk.subarray(0, Math.min(chunk.length, 4096))]);
    const offset = probe.length - Math.min(chunk.length, 4096);
    for (const sep of ['\n\n', '\n\r\n', '\r\r']) {
      const at = probe.indexOf(sep);
      if (at >= 0 && at + sep.length > offset) return at + sep.length - offset;
    }
    const far = [chunk.indexOf('\n\n'), chunk.indexOf('\n\r\n')].filter((i) => i >= 0);
    if (far.length === 0) return -1;
    const first = Math.min(...far);
    return first + (chunk[first + 1] === 0x0a ? 2 : 3);
  }

  private resetParser(): void {
    this.decoder = new TextDecoder();
    if (this.framing === 'sse') this.parser!.reset();
    else this.lineBuffer = '';
  }

  private take(bytes: Buffer): void {
    const text = this.decoder.decode(bytes, { stream: true });
    if (this.framing === 'sse') {
      this.parser!.feed(text);
      return;
    }
    this.lineBuffer += text;
    let nl: number;
    while ((nl = this.lineBuffer.indexOf('\n')) >= 0) {
      const line = this.lineBuffer.slice(0, nl).trim();
      this.lineBuffer = this.lineBuffer.slice(nl + 1);
      if (line) this.onData(line, undefined);
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
