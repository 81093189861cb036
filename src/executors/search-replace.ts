/**
 * Aider-style SEARCH/REPLACE edit blocks: parsing a model reply and applying the blocks to file
 * texts. Pure functions; no I/O.
 *
 *     path/to/file.ts
 *     <<<<<<< SEARCH
 *     old lines
 *     =======
 *     new lines
 *     >>>>>>> REPLACE
 *
 * An empty SEARCH creates the file (or appends to it when it already has content).
 */
import { PasError } from '../errors.ts';

export interface EditBlock {
  path: string;
  /** Whole lines, each ending in "\n"; empty for a new file. */
  search: string;
  replace: string;
}

const HEAD = /^\s*<{5,9} SEARCH\s*$/;
const DIVIDER = /^\s*={5,9}\s*$/;
const UPDATED = /^\s*>{5,9} REPLACE\s*$/;
const FENCE = /^\s*(```|~~~)[\w+.-]*\s*$/;

function malformed(message: string, details: Record<string, unknown> = {}): PasError {
  return new PasError('PAS_ERR_EDIT_MALFORMED', message, { details });
}

/** Parses every block of a reply; throws PAS_ERR_EDIT_MALFORMED when none is usable or one is broken. */
export function parseEditBlocks(text: string): EditBlock[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const blocks: EditBlock[] = [];
  let lastPath: string | undefined;

  for (let i = 0; i < lines.length; i++) {
    if (!HEAD.test(lines[i]!)) {
      // A stray "=======" may be a markdown underline; a stray REPLACE marker is a broken block.
      if (UPDATED.test(lines[i]!)) throw malformed(`line ${i + 1}: ">>>>>>> REPLACE" without a "<<<<<<< SEARCH" before it`, { line: i + 1 });
      continue;
    }
    const n = blocks.length + 1;
    const filePath = pathBefore(lines, i) ?? lastPath;
    if (!filePath) {
      throw malformed(`block ${n} (line ${i + 1}): the line before "<<<<<<< SEARCH" must be the file path alone`, { block: n, line: i + 1 });
    }

    const search: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !DIVIDER.test(lines[j]!); j++) {
      if (HEAD.test(lines[j]!) || UPDATED.test(lines[j]!)) break;
      search.push(lines[j]!);
    }
    if (j >= lines.length || !DIVIDER.test(lines[j]!)) {
      throw malformed(`block ${n} for ${filePath} (line ${i + 1}): expected "=======" after the SEARCH lines`, { block: n, path: filePath });
    }
    const replace: string[] = [];
    let k = j + 1;
    for (; k < lines.length && !UPDATED.test(lines[k]!); k++) {
      if (HEAD.test(lines[k]!) || DIVIDER.test(lines[k]!)) break;
      replace.push(lines[k]!);
    }
    if (k >= lines.length || !UPDATED.test(lines[k]!)) {
      throw malformed(`block ${n} for ${filePath} (line ${i + 1}): expected ">>>>>>> REPLACE" after the replacement lines`, { block: n, path: filePath });
    }
    blocks.push({ path: filePath, search: joinLines(search), replace: joinLines(replace) });
    lastPath = filePath;
    i = k;
  }
  if (blocks.length === 0) {
    throw malformed('the reply holds no SEARCH/REPLACE block (path line, "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE")');
  }
  return blocks;
}

function joinLines(lines: string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** The file path written on the lines just before a SEARCH marker (fences and blank lines skipped). */
function pathBefore(lines: string[], head: number): string | undefined {
  for (let i = head - 1; i >= Math.max(0, head - 3); i--) {
    const line = lines[i]!;
    if (line.trim() === '' || FENCE.test(line)) continue;
    const name = line
      .trim()
      .replace(/^#+\s*/, '')
      .replace(/:$/, '')
      .replace(/^[*`'"]+|[*`'"]+$/g, '')
      .trim();
    if (name === '' || /\s/.test(name) || UPDATED.test(line) || DIVIDER.test(line)) return undefined;
    return name;
  }
  return undefined;
}

/**
 * Applies one block to a file's text (null: the file does not exist). Exact match first, then a
 * line match that ignores trailing whitespace, then one that ignores indentation (re-indenting
 * the replacement by the same amount). Returns null when SEARCH matches nowhere.
 */
export function applyEditBlock(content: string | null, block: Pick<EditBlock, 'search' | 'replace'>): string | null {
  const { search, replace } = block;
  if (search.trim() === '') {
    if (content === null || content === '') return replace;
    return content.endsWith('\n') ? content + replace : `${content}\n${replace}`;
  }
  if (content === null) return null;

  const exact = content.indexOf(search);
  if (exact >= 0) return content.slice(0, exact) + replace + content.slice(exact + search.length);

  const endsWithNewline = content.endsWith('\n');
  const lines = (endsWithNewline ? content.slice(0, -1) : content).split('\n');
  const searchLines = trimBlankEdges(search.slice(0, -1).split('\n'));
  const replaceLines = replace === '' ? [] : replace.slice(0, -1).split('\n');
  if (searchLines.length === 0) return null;

  const rebuild = (at: number, replacement: string[]) => {
    const out = [...lines.slice(0, at), ...replacement, ...lines.slice(at + searchLines.length)];
    return out.join('\n') + (endsWithNewline ? '\n' : '');
  };

  const at = findLines(lines, searchLines, (a, b) => a.trimEnd() === b.trimEnd());
  if (at >= 0) return rebuild(at, replaceLines);

  const loose = findLines(lines, searchLines, (a, b) => a.trim() === b.trim());
  if (loose >= 0) return rebuild(loose, reindent(lines.slice(loose, loose + searchLines.length), searchLines, replaceLines));
  return null;
}

function trimBlankEdges(lines: string[]): string[] {
  let start = 0;
  let end = lines.length;
  while (start < end && lines[start]!.trim() === '') start++;
  while (end > start && lines[end - 1]!.trim() === '') end--;
  return lines.slice(start, end);
}

function findLines(lines: string[], wanted: string[], same: (a: string, b: string) => boolean): number {
  outer: for (let i = 0; i + wanted.length <= lines.length; i++) {
    for (let j = 0; j < wanted.length; j++) {
      if (!same(lines[i + j]!, wanted[j]!)) continue outer;
    }
    return i;
  }
  return -1;
}

const indentOf = (line: string) => /^\s*/.exec(line)![0];

/** Shifts the replacement by the indentation difference between the file and SEARCH, when uniform. */
function reindent(actual: string[], search: string[], replace: string[]): string[] {
  let delta: { add: string } | { remove: number } | undefined;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i]!.trim() === '') continue;
    const a = indentOf(actual[i]!);
    const s = indentOf(search[i]!);
    const here = a.endsWith(s) ? { add: a.slice(0, a.length - s.length) } : s.endsWith(a) ? { remove: s.length - a.length } : undefined;
    if (!here) return replace;
    if (delta === undefined) delta = here;
    else if (JSON.stringify(delta) !== JSON.stringify(here)) return replace;
  }
  if (!delta) return replace;
  const d = delta;
  return replace.map((line) => {
    if (line.trim() === '') return line;
    if ('add' in d) return d.add + line;
    const lead = indentOf(line);
    return line.slice(Math.min(d.remove, lead.length));
  });
}

export interface AppliedEdits {
  /** New text of every edited file, by path. */
  files: Map<string, string>;
  /** Paths edited, in first-edit order. */
  edited: string[];
}

/**
 * Applies blocks in order to the given file texts (null: missing). Either every block applies
 * or PAS_ERR_EDIT_NO_MATCH is thrown naming each block that did not, and nothing is returned.
 */
export function applyEditBlocks(original: ReadonlyMap<string, string | null>, blocks: readonly EditBlock[]): AppliedEdits {
  const current = new Map(original);
  const edited: string[] = [];
  const failures: string[] = [];
  blocks.forEach((block, index) => {
    const before = current.has(block.path) ? current.get(block.path)! : null;
    const after = applyEditBlock(before, block);
    if (after === null) {
      const why = before === null ? 'the file does not exist (use an empty SEARCH to create it)' : 'the SEARCH lines do not match the file';
      failures.push(`block ${index + 1} for ${block.path}: ${why}:\n<<<<<<< SEARCH\n${block.search}=======`);
      return;
    }
    current.set(block.path, after);
    if (!edited.includes(block.path)) edited.push(block.path);
  });
  if (failures.length > 0) {
    throw new PasError('PAS_ERR_EDIT_NO_MATCH', `${failures.length} SEARCH block(s) did not match:\n${failures.join('\n')}`, {
      details: { failed: failures.length, blocks: blocks.length },
    });
  }
  const files = new Map<string, string>();
  for (const p of edited) files.set(p, current.get(p)!);
  return { files, edited };
}
