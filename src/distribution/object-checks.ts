/**
 * What `fetch.fsckObjects` (index-pack --strict: git's fsck errors and warnings) refuses in a
 * commit or a tree, checked in-process for the result bundles PAS imports without git. A check
 * answers the parsed object, `invalid` (git refuses it too) or `unsupported`: a form git may
 * take but this reader does not judge (an odd date field, a name git looks into such as
 * `.gitmodules` or an NTFS/HFS+ spelling of `.git`), which the caller hands to git.
 */
import { MODE_EXEC, MODE_FILE, MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE, parseTree, type TreeEntry } from '../executors/object-store.ts';

export type Checked<T> = { ok: T } | { invalid: string } | { unsupported: string };

export interface CheckedCommit {
  tree: string;
  parents: string[];
}


/** A longer entry name is left to git (latin1 names: one character per byte). */
const MAX_NAME_BYTES = 4096;
const MODES = new Set([MODE_FILE, MODE_EXEC, MODE_SYMLINK, MODE_TREE, MODE_SUBMODULE]);
/** Spelled like one of git's special names but plainly none of them. */
const PLAIN = new Set(['.gitignore', '.gitkeep', '.github', '.gitlab', '.gitlab-ci.yml']);

/**
 * A name git's fsck looks into beyond the plain rules: `.git` in its HFS+ spellings (ignorable
 * Unicode points: any non-ASCII byte here) and NTFS ones (`git~1`, trailing dots and spaces,
 * after a backslash), `.gitmodules` and `.gitattributes` (their blobs are parsed) with their
 * short names. A superset: every name it does not match is one fsck only checks by the plain rules.
 */
export function needsGit(name: string): boolean {
  if (PLAIN.has(name)) return false;
  // eslint-disable-next-line no-control-regex
  const folded = name.replace(/[^\x00-\x7f]/g, '').toLowerCase();
  return folded.split('\\').some((part) => /^(\.git|git~|gitmod~|gitatt~|gi7eba~|gi7d29~)/.test(part));
}

/**
 * fsck_tree's checks: whole entries, valid modes, names, git's order, no duplicates, no null ids.
 * Answers the entries, names in latin1 (one character per byte). Names `needsGit` matches are
 * the caller's to hand to git (when the entry is new or changed).
 */
export function checkTree(data: Buffer, hashBytes: number): Checked<TreeEntry[]> {
  let entries: TreeEntry[];
  try {
    entries = parseTree(data, hashBytes, 'latin1');
  } catch {
    return { invalid: 'a malformed tree (an entry without its mode, name or full id)' };
  }
  const nullOid = '0'.repeat(hashBytes * 2);
  const names = new Set<string>();
  let previous: string | undefined;
  for (const e of entries) {
    const shown = JSON.stringify(Buffer.from(e.name, 'latin1').toString('utf8'));
    if (!MODES.has(e.mode)) return { invalid: `entry ${shown} has mode ${JSON.stringify(e.mode)}` };
    if (e.name === '') return { invalid: 'an entry has an empty name' };
    if (e.name.includes('/')) return { invalid: `entry ${shown} holds a "/"` };
    if (e.name === '.' || e.name === '..') return { invalid: `an entry is named ${shown}` };
    if (e.name.toLowerCase() === '.git') return { invalid: `an entry is named ${shown}` };
    if (e.oid === nullOid) return { invalid: `entry ${shown} points to the null id` };
    // Newer gits refuse very long names (largePathname); whether this one does is git's to say.
    if (e.name.length > MAX_NAME_BYTES) return { unsupported: `an entry's name is ${e.name.length} bytes long` };
    if (names.has(e.name)) return { invalid: `entry ${shown} is there twice` };
    names.add(e.name);
    // git's order: byte order of names, a folder's name compared as if it ended in "/" (latin1 code units are the bytes).
    const key = e.mode === MODE_TREE ? `${e.name}/` : e.name;
    if (previous !== undefined && !(previous < key)) return { invalid: `entry ${shown} is out of git's order` };
    previous = key;
  }
  return { ok: entries };
}

/**
 * fsck_commit's checks: headers end (no NUL anywhere), `tree`, any `parent`s, exactly one
 * `author`, then `committer`, each ident `Name <email> <seconds> <+hhmm>`.
 */
export function checkCommit(data: Buffer, hexLength: number): Checked<CheckedCommit> {
  if (data.includes(0)) return { invalid: 'the commit holds a NUL byte' };
  const text = data.toString('latin1');
  if (!text.includes('\n\n') && !text.endsWith('\n')) return { invalid: 'the commit header is unterminated' };
  const lines = text.split('\n');
  let i = 0;
  const id = (line: string, field: string): Checked<string> => {
    const value = line.slice(field.length + 1);
    if (new RegExp(`^[0-9a-f]{${hexLength}}$`).test(value)) return { ok: value };
    // Upper-case hex is read by git's parser; leave such a commit to it.
    if (new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(value)) return { unsupported: `the ${field} line is in upper case` };
    return { invalid: `bad ${field} line ${JSON.stringify(line.slice(0, 80))}` };
  };
  if (!lines[i]!.startsWith('tree ')) return { invalid: 'the commit has no tree line first' };
  const tree = id(lines[i++]!, 'tree');
  if (!('ok' in tree)) return tree;
  const parents: string[] = [];
  while (lines[i]!.startsWith('parent ')) {
    const parent = id(lines[i++]!, 'parent');
    if (!('ok' in parent)) return parent;
    parents.push(parent.ok);
  }
  let authors = 0;
  while (lines[i]?.startsWith('author ')) {
    authors++;
    const bad = checkIdent(lines[i++]!.slice('author '.length));
    if (bad) return bad;
  }
  if (authors !== 1) return { invalid: authors === 0 ? 'the commit has no author line' : 'the commit has more than one author line' };
  if (!lines[i]?.startsWith('committer ')) return { invalid: 'the commit has no committer line after its author' };
  const bad = checkIdent(lines[i]!.slice('committer '.length));
  if (bad) return bad;
  return { ok: { tree: tree.ok, parents } };
}

/** fsck_ident: `Name <email> <seconds> <+hhmm>`; undefined when it passes. */
function checkIdent(ident: string): { invalid: string } | { unsupported: string } | undefined {
  const bad = (why: string) => ({ invalid: `bad author/committer line (${why}): ${JSON.stringify(ident.slice(0, 80))}` });
  if (ident.startsWith('<')) return bad('no name before the email');
  const open = ident.search(/[<>]/);
  if (open < 0) return bad('no email');
  if (ident[open] === '>') return bad('a ">" in the name');
  if (ident[open - 1] !== ' ') return bad('no space before the email');
  const close = ident.slice(open + 1).search(/[<>]/) + open + 1;
  if (close === open || ident[close] !== '>') return bad('a bad email');
  if (ident[close + 1] !== ' ') return bad('no space before the date');
  const date = ident.slice(close + 2);
  if (date.startsWith('0') && date[1] !== ' ') return bad('a zero-padded date');
  const digits = /^[0-9]+/.exec(date)?.[0];
  // git reads the date with strtoumax (leading blanks and signs taken): anything but digits is git's to judge.
  if (!digits) return /^[\s+-]/.test(date) ? { unsupported: 'an unusual date field' } : bad('no date');
  if (digits.length > 18) return { unsupported: 'a date git checks for overflow' };
  if (date[digits.length] !== ' ') return bad('a bad date');
  if (!/^[+-][0-9]{4}$/.test(date.slice(digits.length + 1))) return bad('a bad time zone');
  return undefined;
}

/** The tree a commit names (its first line). */
export function commitTreeOf(data: Buffer): string | undefined {
  return /^tree ([0-9a-f]+)\n/.exec(data.toString('latin1', 0, Math.min(data.length, 200)))?.[1];
}
