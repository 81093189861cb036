import { describe, expect, it } from 'vitest';
import { FULL_OBJECT_ID, isFullObjectId } from '../../../src/executors/object-id.ts';
import { commitSchema } from '../../../src/distribution/messages.ts';

const sha1 = 'a'.repeat(40);
const sha256 = '0123456789abcdef'.repeat(4);

describe('full object ids', () => {
  it('takes 40 lowercase hex digits (sha1) and 64 (sha256) as full ids', () => {
    expect(isFullObjectId(sha1)).toBe(true);
    expect(isFullObjectId(sha256)).toBe(true);
  });

  it('takes no abbreviation, no length between the two, no upper case, no name and nothing around an id', () => {
    for (const value of ['g'.repeat(40), `${'a'.repeat(63)}g`, 'abc1234', 'a'.repeat(39), 'a'.repeat(41), 'a'.repeat(63), 'a'.repeat(65), 'A'.repeat(40), 'HEAD', 'main', `${sha1}\n`, ` ${sha1}`, `${sha1}^{commit}`, '']) {
      expect(isFullObjectId(value), JSON.stringify(value)).toBe(false);
      expect(commitSchema.safeParse(value).success, JSON.stringify(value)).toBe(false);
    }
  });

  it('lets the pas.v1 messages take full commit ids of both hashes, and answers the same when asked again', () => {
    expect(commitSchema.safeParse(sha1).success).toBe(true);
    expect(commitSchema.safeParse(sha256).success).toBe(true);
    expect([FULL_OBJECT_ID.test(sha1), FULL_OBJECT_ID.test(sha1)]).toEqual([true, true]);
  });
});
