/**
 * Reads the usage of an answer on the side while its bytes pass through untouched: SSE through
 * eventsource-parser, NDJSON line by line, a plain JSON answer once it is complete. Also notes an
 * error frame inside a 200 stream (the breaker counts it as a failure).
 */
import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { TokenUsage } from '../../../machines/domain.ts';
import { record } from '../provider-http.ts';
import type { WireProtocol } from './wire-protocols.ts';

/** A plain JSON answer larger than this is passed on without reading its usage. */
const MAX_JSON_BYTES = 32 * 1024 * 1024;

export interface TapResult {
  /** Null when the answer carried no usage (a count not reported is null, never 0). */
  usage: TokenUsage | null;
  /** An error frame appeared in the stream. */
  streamFailed: boolean;
}

export class UsageTap {
  private usage: TokenUsage | undefined;
  private failed = false;
  private readonly decoder = new TextDecoder();
  private readonly framing: 'sse' | 'ndjson' | 'json';
  private parser: EventSourceParser | undefined;
  private lineBuffer = '';
  private json: Buffer[] = [];
  private jsonBytes = 0;

  constructor(
    private readonly protocol: WireProtocol,
    contentType: string | undefined,
  ) {
    const type = (contentType ?? '').toLowerCase();
    this.framing = type.includes('text/event-stream') ? 'sse' : type.includes('ndjson') ? 'ndjson' : 'json';
    if (this.framing === 'sse') {
      this.parser = createParser({ onEvent: (event) => this.onData(event.data, event.event) });
    }
  }

  feed(chunk: Buffer): void {
    switch (this.framing) {
      case 'sse':
        this.parser!.feed(this.decoder.decode(chunk, { stream: true }));
        break;
      case 'ndjson': {
        this.lineBuffer += this.decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = this.lineBuffer.indexOf('\n')) >= 0) {
          const line = this.lineBuffer.slice(0, nl).trim();
          this.lineBuffer = this.lineBuffer.slice(nl + 1);
          if (line) this.onData(line, undefined);
        }
        break;
      }
      case 'json':
        this.jsonBytes += chunk.length;
        if (this.jsonBytes <= MAX_JSON_BYTES) this.json.push(chunk);
        break;
    }
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
