import { describe, expect, it } from 'vitest';
import { isPasError } from '../../../src/errors.ts';
import { applyEditBlock, applyEditBlocks, parseEditBlocks } from '../../../src/executors/search-replace.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isPasError(err) ? err.code : 'not-a-pas-error';
  }
  return undefined;
}

describe('parseEditBlocks', () => {
  it('reads the path, search and replace of a plain block', () => {
    const reply = ['src/a.ts', '<<<<<<< SEARCH', 'const a = 1;', '=======', 'const a = 2;', '>>>>>>> REPLACE'].join('\n');
    expect(parseEditBlocks(reply)).toEqual([{ path: 'src/a.ts', search: 'const a = 1;\n', replace: 'const a = 2;\n' }]);
  });

  it('finds the path above a code fence and ignores prose around the blocks', () => {
    const reply = [
      'Here is the change.',
      '',
      'src/a.ts',
      '```typescript',
      '<<<<<<< SEARCH',
      'x',
      '=======',
      'y',
      '>>>>>>> REPLACE',
      '```',
      'Done.',
    ].join('\n');
    expect(parseEditBlocks(reply)).toEqual([{ path: 'src/a.ts', search: 'x\n', replace: 'y\n' }]);
  });

  it('strips markdown decoration from the path line', () => {
    const reply = ['**`docs/readme.md`**:', '<<<<<<< SEARCH', '=======', '# Title', '>>>>>>> REPLACE'].join('\n');
    expect(parseEditBlocks(reply)[0]?.path).toBe('docs/readme.md');
  });

  it('reads several blocks and reuses the previous path when a block names none', () => {
    const reply = [
      'a.ts', '<<<<<<< SEARCH', '1', '=======', 'one', '>>>>>>> REPLACE',
      '<<<<<<< SEARCH', '2', '=======', 'two', '>>>>>>> REPLACE',
      'b.ts', '<<<<<<< SEARCH', '=======', 'new', '>>>>>>> REPLACE',
    ].join('\n');
    expect(parseEditBlocks(reply)).toEqual([
      { path: 'a.ts', search: '1\n', replace: 'one\n' },
      { path: 'a.ts', search: '2\n', replace: 'two\n' },
      { path: 'b.ts', search: '', replace: 'new\n' },
    ]);
  });

  it('keeps an empty replacement as a deletion', () => {
    const reply = ['a.ts', '<<<<<<< SEARCH', 'gone', '=======', '>>>>>>> REPLACE'].join('\n');
    expect(parseEditBlocks(reply)).toEqual([{ path: 'a.ts', search: 'gone\n', replace: '' }]);
  });

  it('accepts CRLF replies', () => {
    const reply = ['a.ts', '<<<<<<< SEARCH', 'x', '=======', 'y', '>>>>>>> REPLACE'].join('\r\n');
    expect(parseEditBlocks(reply)).toEqual([{ path: 'a.ts', search: 'x\n', replace: 'y\n' }]);
  });

  it('refuses a reply without any block', () => {
    expect(codeOf(() => parseEditBlocks('I changed the file for you.'))).toBe('PAS_ERR_EDIT_MALFORMED');
  });

  it('refuses a block without its divider', () => {
    const reply = ['a.ts', '<<<<<<< SEARCH', 'x', '>>>>>>> REPLACE'].join('\n');
    expect(codeOf(() => parseEditBlocks(reply))).toBe('PAS_ERR_EDIT_MALFORMED');
  });

  it('refuses a block that never ends', () => {
    const reply = ['a.ts', '<<<<<<< SEARCH', 'x', '=======', 'y'].join('\n');
    expect(() => parseEditBlocks(reply)).toThrow(/expected ">>>>>>> REPLACE"/);
  });

  it('refuses a first block with no path line', () => {
    const reply = ['<<<<<<< SEARCH', 'x', '=======', 'y', '>>>>>>> REPLACE'].join('\n');
    expect(() => parseEditBlocks(reply)).toThrow(/file path/);
  });

  it('refuses a block whose path line is a sentence', () => {
    const reply = ['Change the file like this', '<<<<<<< SEARCH', 'x', '=======', 'y', '>>>>>>> REPLACE'].join('\n');
    expect(codeOf(() => parseEditBlocks(reply))).toBe('PAS_ERR_EDIT_MALFORMED');
  });

  it('refuses a stray REPLACE marker', () => {
    expect(codeOf(() => parseEditBlocks('a.ts\n>>>>>>> REPLACE'))).toBe('PAS_ERR_EDIT_MALFORMED');
  });
});

describe('applyEditBlock', () => {
  it('replaces the first exact match only', () => {
    expect(applyEditBlock('a\nb\na\n', { search: 'a\n', replace: 'z\n' })).toBe('z\nb\na\n');
  });

  it('creates a missing file from an empty SEARCH', () => {
    expect(applyEditBlock(null, { search: '', replace: 'new\n' })).toBe('new\n');
  });

  it('appends to an existing file from an empty SEARCH, adding the missing newline', () => {
    expect(applyEditBlock('old', { search: '', replace: 'new\n' })).toBe('old\nnew\n');
  });

  it('answers null when SEARCH names a missing file', () => {
    expect(applyEditBlock(null, { search: 'x\n', replace: 'y\n' })).toBeNull();
  });

  it('answers null when SEARCH matches nowhere', () => {
    expect(applyEditBlock('alpha\nbeta\n', { search: 'gamma\n', replace: 'delta\n' })).toBeNull();
  });

  it('matches a last line that has no newline at the end of the file', () => {
    expect(applyEditBlock('a\nlast', { search: 'last\n', replace: 'final\n' })).toBe('a\nfinal');
  });

  it('tolerates trailing whitespace differences', () => {
    expect(applyEditBlock('a = 1;   \nb = 2;\n', { search: 'a = 1;\n', replace: 'a = 3;\n' })).toBe('a = 3;\nb = 2;\n');
  });

  it('tolerates a SEARCH that lost its indentation and re-indents the replacement', () => {
    const file = 'function f() {\n    if (x) {\n        return 1;\n    }\n}\n';
    const out = applyEditBlock(file, { search: 'if (x) {\n    return 1;\n}\n', replace: 'if (x) {\n    return 2;\n}\n' });
    expect(out).toBe('function f() {\n    if (x) {\n        return 2;\n    }\n}\n');
  });

  it('tolerates a SEARCH indented more than the file and removes the extra indentation', () => {
    const file = 'a()\nb()\n';
    expect(applyEditBlock(file, { search: '  a()\n', replace: '  c()\n' })).toBe('c()\nb()\n');
  });

  it('ignores blank lines around the SEARCH text when matching loosely', () => {
    expect(applyEditBlock('x\ny  \nz\n', { search: '\ny\n\n', replace: 'Y\n' })).toBe('x\nY\nz\n');
  });

  it('deletes the matched lines when REPLACE is empty', () => {
    expect(applyEditBlock('keep\ndrop\nkeep2\n', { search: 'drop\n', replace: '' })).toBe('keep\nkeep2\n');
  });
});

describe('applyEditBlocks', () => {
  it('applies blocks in order so a later block sees an earlier edit', () => {
    const files = new Map<string, string | null>([['a.ts', 'one\n']]);
    const out = applyEditBlocks(files, [
      { path: 'a.ts', search: 'one\n', replace: 'two\n' },
      { path: 'a.ts', search: 'two\n', replace: 'three\n' },
      { path: 'b.ts', search: '', replace: 'bee\n' },
    ]);
    expect(out.edited).toEqual(['a.ts', 'b.ts']);
    expect(Object.fromEntries(out.files)).toEqual({ 'a.ts': 'three\n', 'b.ts': 'bee\n' });
  });

  it('applies nothing and names every failing block when one does not match', () => {
    const files = new Map<string, string | null>([['a.ts', 'one\n']]);
    let error: unknown;
    try {
      applyEditBlocks(files, [
        { path: 'a.ts', search: 'one\n', replace: 'two\n' },
        { path: 'a.ts', search: 'missing\n', replace: 'x\n' },
        { path: 'c.ts', search: 'y\n', replace: 'z\n' },
      ]);
    } catch (err) {
      error = err;
    }
    expect(isPasError(error, 'PAS_ERR_EDIT_NO_MATCH')).toBe(true);
    expect((error as Error).message).toMatch(/block 2 for a\.ts: the SEARCH lines do not match/);
    expect((error as Error).message).toMatch(/block 3 for c\.ts: the file does not exist/);
    expect(files.get('a.ts')).toBe('one\n');
  });
});
