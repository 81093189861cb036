import { describe, expect, it } from 'vitest';
import { refLockContended } from '../../../src/executors/object-store.ts';

const a = 'a'.repeat(40);
const b = 'b'.repeat(40);

describe('which failed ref updates are tried again', () => {
  it('tries again when another process holds the ref\'s lock file', () => {
    expect(refLockContended(`fatal: cannot lock ref 'refs/heads/pas/j/t1': Unable to create '/r/.git/refs/heads/pas/j/t1.lock': File exists.`)).toBe(true);
    expect(refLockContended(`fatal: Unable to create '/r/.git/packed-refs.lock': File exists.`)).toBe(true);
  });

  it('answers at once when the ref exists for a create, is elsewhere for a compare, or is updated twice', () => {
    expect(refLockContended(`fatal: commit: cannot lock ref 'refs/heads/pas/j/t1': reference already exists`)).toBe(false);
    expect(refLockContended(`fatal: cannot lock ref 'refs/heads/pas/j/t1': is at ${a} but expected ${b}`)).toBe(false);
    expect(refLockContended(`fatal: multiple updates for ref 'refs/heads/x' not allowed`)).toBe(false);
  });

  it('answers at once when a compare-and-delete finds the ref gone, as git 2.39 and later gits word it', () => {
    expect(refLockContended(`fatal: commit: cannot lock ref 'refs/pas/haves/${a}': unable to resolve reference 'refs/pas/haves/${a}'`)).toBe(false);
    expect(refLockContended(`fatal: commit: cannot lock ref 'refs/pas/haves/${a}': reference is missing but expected ${a}`)).toBe(false);
  });

  it('answers at once for a failure that is not about a lock', () => {
    expect(refLockContended(`fatal: update refs/heads/x: invalid new value provided`)).toBe(false);
  });
});
