import { describe, expect, it } from 'vitest';
import { conflictHunks } from '../../../src/runtime/services/conflict-resolver.ts';

describe('conflictHunks', () => {
  it('returns each marked hunk with both sides and three lines around it', () => {
    const text = ['l1', 'l2', 'l3', 'l4', '<<<<<<< head', 'ours', '=======', 'theirs', '>>>>>>> pas/j/t2', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', '<<<<<<< head', 'x', '=======', '>>>>>>> pas/j/t2', 'end'].join('\n');
    expect(conflictHunks(text)).toEqual([
      ['l2', 'l3', 'l4', '<<<<<<< head', 'ours', '=======', 'theirs', '>>>>>>> pas/j/t2', 'm1', 'm2', 'm3'].join('\n'),
      ['m5', 'm6', 'm7', '<<<<<<< head', 'x', '=======', '>>>>>>> pas/j/t2', 'end'].join('\n'),
    ]);
  });

  it('finds nothing in a file without markers', () => {
    expect(conflictHunks('a\nb\n')).toEqual([]);
  });
});
