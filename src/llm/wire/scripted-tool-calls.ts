/**
 * Turns the scripted model's SEARCH/REPLACE reply (the same cassette the native editor uses)
 * into the tool calls of the agent CLI asking, recognised by the tools its request offers:
 * Gemini CLI `write_file`/`replace`, Claude Code `Read` then `Write`/`Edit`, opencode
 * `write`/`edit`, Codex `apply_patch` (its free-form patch, or through `exec_command`).
 */
import path from 'node:path';
import type { EditBlock } from '../../executors/search-replace.ts';
import type { WireRequest, WireToolCall } from './wire-turn.ts';

export type ToolDialect = 'gemini-cli' | 'claude-code' | 'opencode' | 'codex' | 'codex-exec' | 'none';

export function toolDialect(tools: readonly string[]): ToolDialect {
  const has = (name: string) => tools.includes(name);
  if (has('write_file') && has('replace')) return 'gemini-cli';
  if (has('Write') && has('Edit')) return 'claude-code';
  if (has('write') && has('edit')) return 'opencode';
  if (has('apply_patch')) return 'codex';
  if (has('exec_command') || has('shell')) return 'codex-exec';
  return 'none';
}

const CWD_PATTERNS = [
  /<cwd>([^<\n]+)<\/cwd>/,
  /Primary working directory: ([^\n]+)/,
  /Workspace Directories:\**\s*\n\s*- ([^\n]+)/,
  /Working directory: ([^\n]+)/i,
];

/** The directory the CLI runs in, as its prompt tells the model. */
export function requestCwd(request: WireRequest): string | undefined {
  const text = [request.system, ...request.userTexts].join('\n');
  for (const re of CWD_PATTERNS) {
    const m = re.exec(text);
    if (m) return m[1]!.trim();
  }
  return undefined;
}

/** How many tool rounds come before the edits (Claude Code edits only files it has read). */
export function roundsBeforeEdits(dialect: ToolDialect, blocks: readonly EditBlock[]): number {
  return dialect === 'claude-code' && blocks.some((b) => b.search !== '') ? 1 : 0;
}

function patchFor(blocks: readonly EditBlock[]): string {
  const lines = ['*** Begin Patch'];
  const byFile = new Map<string, EditBlock[]>();
  for (const b of blocks) byFile.set(b.path, [...(byFile.get(b.path) ?? []), b]);
  const body = (text: string, mark: string) => text.replace(/\n$/, '').split('\n').map((l) => `${mark}${l}`);
  for (const [file, edits] of byFile) {
    if (edits.every((e) => e.search === '')) {
      lines.push(`*** Add File: ${file}`, ...edits.flatMap((e) => body(e.replace, '+')));
      continue;
    }
    lines.push(`*** Update File: ${file}`);
    for (const e of edits) lines.push('@@', ...body(e.search, '-'), ...(e.replace === '' ? [] : body(e.replace, '+')));
  }
  lines.push('*** End Patch');
  return lines.join('\n');
}

/** The calls for one round: reads before the edits (round < roundsBeforeEdits), else the edits. */
export function scriptedToolCalls(dialect: ToolDialect, blocks: readonly EditBlock[], round: number, cwd: string | undefined): WireToolCall[] {
  const abs = (file: string) => (cwd ? path.join(cwd, file) : file);
  if (round < roundsBeforeEdits(dialect, blocks)) {
    const files = [...new Set(blocks.filter((b) => b.search !== '').map((b) => b.path))];
    return files.map((f) => ({ name: 'Read', input: { file_path: abs(f) } }));
  }
  switch (dialect) {
    case 'gemini-cli':
      return blocks.map((b) =>
        b.search === ''
          ? { name: 'write_file', input: { file_path: abs(b.path), content: b.replace } }
          : { name: 'replace', input: { file_path: abs(b.path), old_string: b.search, new_string: b.replace, instruction: `Edit ${b.path} as the task asks.` } },
      );
    case 'claude-code':
      return blocks.map((b) =>
        b.search === '' ? { name: 'Write', input: { file_path: abs(b.path), content: b.replace } } : { name: 'Edit', input: { file_path: abs(b.path), old_string: b.search, new_string: b.replace, replace_all: false } },
      );
    case 'opencode':
      return blocks.map((b) =>
        b.search === '' ? { name: 'write', input: { filePath: abs(b.path), content: b.replace } } : { name: 'edit', input: { filePath: abs(b.path), oldString: b.search, newString: b.replace } },
      );
    case 'codex':
      return [{ name: 'apply_patch', input: patchFor(blocks) }];
    case 'codex-exec':
      return [{ name: 'exec_command', input: { cmd: `apply_patch <<'PATCH'\n${patchFor(blocks)}\nPATCH`, ...(cwd ? { workdir: cwd } : {}) } }];
    case 'none':
      return [];
  }
}
