/**
 * `pas up --offline` for any task, not only the demo's: the cassette answers the calls it knows,
 * and every other call gets a visibly synthetic reply instead of PAS_ERR_LLM_CASSETTE, so a new
 * user can run the whole flow (plan → parallel programmers → worktrees → merge) on their own
 * repository with no model at all:
 *
 * - route (Architect): the lane the job asked for, else `Code`;
 * - plan (Manager): one subtask per named file (or one subtask on `PAS_OFFLINE.md` when the job
 *   names none);
 * - edit (Programmer): appends one comment line to each file of the subtask, in the file's own
 *   comment syntax: `PAS offline note (no model was called): <task>`. Files whose format has no
 *   comments (JSON, …) get the note in `PAS_OFFLINE.md` beside them instead.
 *
 * A correction call (`edit.retry`) after a cassette reply that did not apply is not synthesized:
 * that failure stays the cassette's. Every synthetic reply reports zero tokens. The job says it
 * ran offline (see job notes).
 */
import path from 'node:path';
import type { ModelsConfigFile } from '../../config/schemas.ts';
import { isPasError, PasError } from '../../errors.ts';
import { createProviderAdapter } from '../create-adapter.ts';
import type { ChatRequest, ChatResponse, ProviderAdapter } from '../types.ts';
import { streamPieces } from './scripted-adapter.ts';

export const OFFLINE_NOTE_PREFIX = 'PAS offline note (no model was called):';
/** The file a job that names no files, or a file without comments, gets its note in. */
export const OFFLINE_NOTES_FILE = 'PAS_OFFLINE.md';

const COMMENT: Array<[RegExp, (text: string) => string]> = [
  [/\.(js|mjs|cjs|jsx|ts|tsx|mts|cts|java|c|h|cc|cpp|hpp|cs|go|rs|swift|kt|kts|scala|dart|php|groovy|gradle|proto|zig)$/i, (t) => `// ${t}`],
  [/\.(py|sh|bash|zsh|rb|pl|r|yaml|yml|toml|ini|cfg|conf|env|mk|cmake|tf|ps1|dockerfile|gitignore|properties)$|(^|\/)(Makefile|Dockerfile|\.gitignore)$/i, (t) => `# ${t}`],
  [/\.(css|scss|less)$/i, (t) => `/* ${t} */`],
  [/\.(html|htm|xml|svg|vue|svelte)$/i, (t) => `<!-- ${t} -->`],
  [/\.(sql|lua|hs|elm)$/i, (t) => `-- ${t}`],
  [/\.(md|markdown|txt|rst|adoc)$/i, (t) => `\n> ${t}`],
];

/** The note line for a file, or null when its format has no comments. */
export function offlineNoteFor(file: string, task: string): string | null {
  const text = `${OFFLINE_NOTE_PREFIX} ${task.replace(/\s+/g, ' ').trim().slice(0, 200)}`;
  for (const [re, make] of COMMENT) if (re.test(file)) return make(text);
  return null;
}

/** The files of a native-executor edit prompt (buildEditPrompt), in order. */
export function editPromptFiles(prompt: string): string[] {
  const lines = prompt.split('\n');
  const files: string[] = [];
  // Read-only neighbours come first, under their own heading: only what follows "Files to edit:" is edited.
  const editStart = lines.indexOf('Files to edit:');
  for (let i = editStart < 0 ? 0 : editStart + 1; i < lines.length; i++) {
    const line = lines[i]!;
    const missing = /^(.+) \(does not exist yet; create it with an empty SEARCH\)$/.exec(line);
    if (missing) {
      files.push(missing[1]!);
      continue;
    }
    const fence = /^(`{3,})$/.exec(lines[i + 1] ?? '');
    if (fence && line.trim() !== '' && !line.startsWith('Task: ')) {
      files.push(line);
      const close = lines.indexOf(fence[1]!, i + 2);
      i = close < 0 ? lines.length : close;
    }
  }
  return files;
}

function editReply(prompt: string): string {
  const task = /^Task: (.*)$/m.exec(prompt)?.[1] ?? 'the task';
  const files = editPromptFiles(prompt);
  const blocks: string[] = [];
  const notes: string[] = [];
  for (const file of files.length > 0 ? files : [OFFLINE_NOTES_FILE]) {
    const note = offlineNoteFor(file, task);
    if (note === null) notes.push(file);
    else blocks.push(`${file}\n<<<<<<< SEARCH\n=======\n${note}\n>>>>>>> REPLACE`);
  }
  if (notes.length > 0) {
    for (const dir of new Set(notes.map((f) => path.posix.dirname(f)))) {
      const target = dir === '.' ? OFFLINE_NOTES_FILE : `${dir}/${OFFLINE_NOTES_FILE}`;
      blocks.push(`${target}\n<<<<<<< SEARCH\n=======\n- ${OFFLINE_NOTE_PREFIX} ${task.slice(0, 200)} (for ${notes.filter((f) => path.posix.dirname(f) === dir).join(', ')})\n>>>>>>> REPLACE`);
    }
  }
  return `${blocks.join('\n\n')}\n`;
}

function planReply(prompt: string): string {
  const task = /^Job: (.*)$/m.exec(prompt)?.[1] ?? 'the job';
  const listed = /^Files:\n((?:- .*\n?)+)/m.exec(prompt)?.[1];
  const files = listed ? listed.split('\n').filter((l) => l.startsWith('- ')).map((l) => l.slice(2)) : [];
  const subtasks = files.length > 0
    ? files.map((file) => ({ instruction: task, files: [file] }))
    : [{ instruction: task, files: [OFFLINE_NOTES_FILE], creates: [OFFLINE_NOTES_FILE] }];
  return JSON.stringify({ subtasks });
}

/** The Architect is asked only when the job names no lane: offline, it is Code. */
function routeReply(): string {
  return 'Code';
}

export function synthesize(request: ChatRequest): string | null {
  const purpose = request.meta?.purpose ?? '';
  const prompt = request.messages.filter((m) => m.role === 'user').map((m) => m.content).join('\n');
  if (purpose === 'plan') return planReply(prompt);
  if (purpose === 'route') return routeReply();
  // Only a first edit: a correction (`edit.retry`) follows a cassette reply that did not apply,
  // and that failure is the cassette's to report, not to paper over with a note.
  if (purpose === 'edit') return editReply(request.messages.find((m) => m.role === 'user')?.content ?? prompt);
  return null;
}

export class OfflineAdapter implements ProviderAdapter {
  readonly provider: string;
  constructor(private readonly cassette: ProviderAdapter | undefined) {
    this.provider = cassette?.provider ?? 'scripted';
  }

  async chat(model: string, request: ChatRequest): Promise<ChatResponse> {
    if (this.cassette) {
      try {
        return await this.cassette.chat(model, request);
      } catch (err) {
        if (!isPasError(err) || err.code !== 'PAS_ERR_LLM_CASSETTE') throw err;
      }
    }
    const text = synthesize(request);
    if (text === null) {
      throw new PasError('PAS_ERR_LLM_CASSETTE', `offline: no synthetic reply for a "${request.meta?.purpose ?? 'unknown'}" call`, { details: { purpose: request.meta?.purpose } });
    }
    request.signal?.throwIfAborted();
    if (request.stream && request.onToken) for (const piece of streamPieces(text)) request.onToken(piece);
    return { text, usage: { input: 0, output: 0 }, provider: this.provider, model, finishReason: 'stop' };
  }
}

/** The offline adapter over models.yaml's scripted provider (its cassette answers first), if any. */
export function createOfflineAdapter(models: ModelsConfigFile, configDir: string): OfflineAdapter {
  const entry = Object.entries(models.providers).find(([name, p]) => (p.kind ?? name) === 'scripted');
  let cassette: ProviderAdapter | undefined;
  if (entry) {
    try {
      cassette = createProviderAdapter(entry[0], entry[1], { configDir });
    } catch {
      // A missing or broken cassette: `pas validate` reports it; offline still works without it.
      cassette = undefined;
    }
  }
  return new OfflineAdapter(cassette);
}
