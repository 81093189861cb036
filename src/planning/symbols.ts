/**
 * What a repository map says of one file: its top-level definitions (one short line each) and the
 * identifiers it uses. TypeScript and JavaScript go through the TypeScript compiler's parser;
 * other languages through line heuristics for their top-level definition forms.
 */
import { createRequire } from 'node:module';
import type ts from 'typescript';

/** The TypeScript compiler (a large module) is loaded on the first map, not at start-up. */
let compiler: typeof ts | undefined;
function typescript(): typeof ts {
  compiler ??= createRequire(import.meta.url)('typescript') as typeof ts;
  return compiler;
}

export interface FileSymbols {
  /** Names the file defines at top level. */
  defs: string[];
  /** One display line per definition, in file order (`export function add(a, b)`). */
  lines: string[];
  /** Identifiers the file mentions (for the reference graph). */
  refs: Set<string>;
}

const MAX_LINE = 100;
const IDENTIFIER = /[A-Za-z_$][\w$]*/g;
/** Words too common to link files by. */
const STOP_WORDS = new Set(
  (
    'if else for while do return const let var function class import export from default new this true false null undefined ' +
    'typeof instanceof in of async await yield try catch finally throw switch case break continue def self None True False ' +
    'pass elif lambda with as is not and or fn pub use mod impl struct enum trait match mut ref type interface extends implements ' +
    'package func go chan map range defer select static public private protected void int string bool number any unknown never ' +
    'object boolean err error ctx value data result name index item key args kwargs options config test it describe expect'
  ).split(' '),
);

const SCRIPT_KINDS: Record<string, 'TS' | 'TSX' | 'JS' | 'JSX'> = {
  '.ts': 'TS',
  '.mts': 'TS',
  '.cts': 'TS',
  '.tsx': 'TSX',
  '.js': 'JS',
  '.mjs': 'JS',
  '.cjs': 'JS',
  '.jsx': 'JSX',
};

/** Top-level definition forms by file extension, for languages without a parser here. */
const LINE_RULES: Array<{ exts: string[]; pattern: RegExp; headings?: true }> = [
  { exts: ['.py'], pattern: /^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)/ },
  { exts: ['.go'], pattern: /^(?:func(?:\s+\([^)]*\))?|type)\s+([A-Za-z_]\w*)/ },
  { exts: ['.rs'], pattern: /^(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:fn|struct|enum|trait|type|mod|const|static)\s+([A-Za-z_]\w*)/ },
  { exts: ['.rb'], pattern: /^(?:def|class|module)\s+([A-Za-z_][\w.]*[?!]?)/ },
  { exts: ['.java', '.kt', '.cs', '.scala', '.swift'], pattern: /^(?:(?:public|private|protected|internal|open|final|abstract|static|sealed|data)\s+)*(?:class|interface|enum|object|record|struct|fun|func)\s+([A-Za-z_]\w*)/ },
  { exts: ['.c', '.h', '.cc', '.cpp', '.hpp'], pattern: /^(?:static\s+|inline\s+|extern\s+)*(?:struct|enum|union|class)?\s*[A-Za-z_][\w\s*<>:,]*?\b([A-Za-z_]\w*)\s*\([^;]*$/ },
  { exts: ['.sh', '.bash'], pattern: /^(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{?/ },
  { exts: ['.md', '.markdown'], pattern: /^#{1,3}\s+(.+?)\s*#*$/, headings: true },
];

export function extensionOf(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}

function clip(line: string): string {
  const one = line.replace(/\s+/g, ' ').trim();
  return one.length > MAX_LINE ? `${one.slice(0, MAX_LINE - 1)}…` : one;
}

export function identifiersOf(text: string): Set<string> {
  const refs = new Set<string>();
  for (const match of text.matchAll(IDENTIFIER)) {
    const word = match[0];
    if (word.length > 2 && !STOP_WORDS.has(word)) refs.add(word);
  }
  return refs;
}

function isExported(node: ts.Node): boolean {
  const ts = typescript();
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

function parameters(source: ts.SourceFile, params: ts.NodeArray<ts.ParameterDeclaration>): string {
  return params.map((p) => p.name.getText(source)).join(', ');
}

function scriptSymbols(file: string, text: string, kind: keyof typeof ts.ScriptKind): FileSymbols {
  const ts = typescript();
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind[kind]);
  const defs: string[] = [];
  const lines: string[] = [];
  const add = (name: string, line: string) => {
    defs.push(name);
    lines.push(clip(line));
  };
  for (const statement of source.statements) {
    const exported = isExported(statement) ? 'export ' : '';
    if (ts.isFunctionDeclaration(statement) && statement.name) {
      add(statement.name.text, `${exported}function ${statement.name.text}(${parameters(source, statement.parameters)})`);
    } else if (ts.isClassDeclaration(statement) && statement.name) {
      const methods = statement.members
        .filter((m): m is ts.MethodDeclaration => ts.isMethodDeclaration(m) && !!m.name && ts.isIdentifier(m.name))
        .map((m) => (m.name as ts.Identifier).text);
      add(statement.name.text, `${exported}class ${statement.name.text}${methods.length > 0 ? ` { ${methods.join(', ')} }` : ''}`);
    } else if (ts.isInterfaceDeclaration(statement)) {
      add(statement.name.text, `${exported}interface ${statement.name.text}`);
    } else if (ts.isTypeAliasDeclaration(statement)) {
      add(statement.name.text, `${exported}type ${statement.name.text}`);
    } else if (ts.isEnumDeclaration(statement)) {
      add(statement.name.text, `${exported}enum ${statement.name.text}`);
    } else if (ts.isVariableStatement(statement)) {
      const keyword = statement.declarationList.flags & ts.NodeFlags.Const ? 'const' : 'let';
      for (const decl of statement.declarationList.declarations) {
        if (!ts.isIdentifier(decl.name)) continue;
        const init = decl.initializer;
        const fn = init && (ts.isArrowFunction(init) || ts.isFunctionExpression(init)) ? `(${parameters(source, init.parameters)}) =>` : '';
        add(decl.name.text, `${exported}${keyword} ${decl.name.text}${fn ? ` = ${fn}` : ''}`);
      }
    } else if (ts.isExpressionStatement(statement) && ts.isBinaryExpression(statement.expression)) {
      // CommonJS: module.exports.name = … / exports.name = …
      const left = statement.expression.left;
      if (ts.isPropertyAccessExpression(left) && /^(module\.)?exports$/.test(left.expression.getText(source))) add(left.name.text, `exports.${left.name.text}`);
    }
  }
  return { defs, lines, refs: identifiersOf(text) };
}

/** Definitions found line by line; headings are shown but define nothing other files refer to. */
function lineSymbols(text: string, pattern: RegExp, headings: boolean): FileSymbols {
  const defs: string[] = [];
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    const match = pattern.exec(line);
    if (!match?.[1]) continue;
    if (!headings) defs.push(match[1]);
    lines.push(clip(line.replace(/[{:]\s*$/, '')));
  }
  return { defs, lines, refs: identifiersOf(text) };
}

/** The symbols of one file's text, chosen by its extension; unknown kinds give identifiers only. */
export function symbolsOf(file: string, text: string): FileSymbols {
  const ext = extensionOf(file);
  const kind = SCRIPT_KINDS[ext];
  if (kind !== undefined) return scriptSymbols(file, text, kind);
  const rule = LINE_RULES.find((r) => r.exts.includes(ext));
  if (rule) return lineSymbols(text, rule.pattern, rule.headings === true);
  return { defs: [], lines: [], refs: identifiersOf(text) };
}
