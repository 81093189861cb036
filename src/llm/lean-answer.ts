/**
 * A provider's answer read the cheap way: node's IncomingMessage as Node stream chunks, decoded
 * by the stream (a UTF-8 character split across two chunks is joined), gzip/deflate/br undone
 * as fetch would (the request asks for gzip and deflate as fetch's did). What the adapters read of
 * it is `ProviderBody`, which a fetch `Response` also is.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { HeaderReader } from './provider-errors.ts';

/** What an adapter reads of a 2xx answer: its whole text, or its body chunk by chunk. */
export interface ProviderBody {
  text(): Promise<string>;
  /** Bytes (a fetch body) or text already decoded (the lean path); null when there is none. */
  readonly body: AsyncIterable<Uint8Array | string> | null;
}

/** `IncomingHttpHeaders` read like fetch's `Headers` (repeated values joined with ", "). */
export function headerReader(headers: IncomingHttpHeaders): HeaderReader {
  return {
    get(name) {
      const value = headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** `content-encoding`, read from the raw header list (a 2xx answer's header object is never built). */
function contentEncoding(res: IncomingMessage): string | undefined {
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 16 && raw[i]!.toLowerCase() === 'content-encoding') return raw[i + 1]!.trim().toLowerCase();
  }
  return undefined;
}

function decoded(res: IncomingMessage): Readable {
  const encoding = contentEncoding(res);
  const flush = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  const unzip =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? zlib.createGunzip(flush)
      : encoding === 'deflate'
        ? zlib.createInflate(flush)
        : encoding === 'br'
          ? zlib.createBrotliDecompress({ flush: zlib.constants.BROTLI_OPERATION_FLUSH, finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH })
          : undefined;
  if (!unzip) return res;
  // An error of the answer (reset, abort) ends the decoder with it.
  return pipeline(res, unzip, () => {});
}

/**
 * A 2xx answer as `ProviderBody`: `text()` joins the bytes once and decodes them, `body` yields
 * strings decoded by the stream (a character cut between two chunks is joined).
 */
export function leanBody(res: IncomingMessage): ProviderBody {
  const stream = decoded(res);
  let decoding = false;
  return {
    get body() {
      if (!decoding) stream.setEncoding('utf8');
      decoding = true;
      return stream as AsyncIterable<string>;
    },
    text() {
      return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.once('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
        stream.once('error', reject);
        // Closed without its end and without an error: an answer cut short all the same.
        stream.once('close', () => {
          if (!stream.readableEnded) reject(Object.assign(new Error('answer closed before its end'), { code: 'ECONNRESET' }));
        });
      });
    },
  };
}
