/**
 * The results a worker keeps to send again when a task is delivered again: bounded by count and
 * by bytes, so results carrying their bundle inline cannot fill the worker's memory.
 */
import { describe, expect, it } from 'vitest';
import { SentResults } from '../../../src/distribution/sent-results.ts';

describe('sent results', () => {
  it('forgets the oldest results once the kept ones hold more bytes than allowed, however few they are', () => {
    const sent = new SentResults(256, 1_000_000);
    for (let i = 0; i < 10; i++) sent.set(`a${i}`, new Uint8Array(350_000));
    expect(sent.size).toEqual({ count: 2, bytes: 700_000 });
    expect(sent.get('a7')).toBeUndefined();
    expect(sent.get('a8')).toBeDefined();
    expect(sent.get('a9')).toBeDefined();
  });

  it('forgets the oldest results past the count, and counts a result sent again under the same attempt once', () => {
    const sent = new SentResults(3, 1_000_000);
    for (const id of ['a', 'b', 'c', 'd']) sent.set(id, new Uint8Array(10));
    sent.set('d', new Uint8Array(20));
    expect(sent.size).toEqual({ count: 3, bytes: 40 });
    expect(sent.get('a')).toBeUndefined();
    expect(sent.get('d')!.byteLength).toBe(20);
  });

  it('keeps no result bigger than the whole byte budget, and forgets none of the others for it', () => {
    const sent = new SentResults(256, 1_000);
    sent.set('small', new Uint8Array(100));
    sent.set('huge', new Uint8Array(2_000));
    expect(sent.get('huge')).toBeUndefined();
    expect(sent.get('small')).toBeDefined();
  });
});
