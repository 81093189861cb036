/**
 * Byte-level steps through JSON text, for the gateway's reads of a request's model and an
 * answer's usage without parsing the whole body. Structural characters are ASCII, so they never
 * occur inside a UTF-8 multi-byte sequence; inside a string a quote is always escaped.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export const isJsonSpace = (b: number | undefined): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

export function skipSpace(bytes: Buffer, i: number): number {
  while (isJsonSpace(bytes[i])) i++;
  return i;
}

/** The index just past the string whose opening quote is at `i`, or -1 when it never closes. */
export function stringEnd(bytes: Buffer, i: number): number {
  let q = bytes.indexOf(QUOTE, i + 1);
  while (q >= 0) {
    let slashes = 0;
    while (bytes[q - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return q + 1;
    q = bytes.indexOf(QUOTE, q + 1);
  }
  return -1;
}

/**
 * Walks from `i` on, strings skipped, counting `{[` up and `}]` down from `depth`; returns the
 * index just past the byte that brings the count to 0, or -1 (text ended first, or broken).
 */
export function closingIndex(bytes: Buffer, i: number, depth: number): number {
  for (; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) {
      const end = stringEnd(bytes, i);
      if (end < 0) return -1;
      i = end - 1;
    } else if (b === 0x7b || b === 0x5b) depth++;
    else if (b === 0x7d || b === 0x5d) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}
