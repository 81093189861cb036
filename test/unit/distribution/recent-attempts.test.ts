/** The attempt ids the central process remembers (given up, applied): bounded, the oldest forgotten first. */
import { describe, expect, it } from 'vitest';
import { RecentAttempts } from '../../../src/distribution/recent-attempts.ts';

describe('recent attempts', () => {
  it('remembers at most its bound, forgetting the oldest first', () => {
    const recent = new RecentAttempts(3);
    for (const id of ['t1.a1.00000001', 't2.a1.00000002', 't3.a1.00000003', 't4.a1.00000004']) recent.add(id);
    expect(recent.size).toBe(3);
    expect(recent.has('t1.a1.00000001')).toBe(false);
    expect(recent.has('t4.a1.00000004')).toBe(true);
  });

  it('moves an attempt added again up to the newest, so it outlives the ones added after it first', () => {
    const recent = new RecentAttempts(2);
    recent.add('a');
    recent.add('b');
    recent.add('a');
    recent.add('c');
    expect(recent.has('a')).toBe(true);
    expect(recent.has('b')).toBe(false);
    expect(recent.size).toBe(2);
  });

  it('stays within its default bound over a long life of one id per task', () => {
    const recent = new RecentAttempts();
    for (let i = 0; i < 25_000; i++) recent.add(`job-1/t${i}.a1.${i.toString(16).padStart(8, '0')}`);
    expect(recent.size).toBe(10_000);
    expect(recent.has('job-1/t24999.a1.000061a7')).toBe(true);
    expect(recent.has('job-1/t0.a1.00000000')).toBe(false);
  });
});
