/**
 * The native executor: shows the task's files to the programmer's model through the LLM client
 * (primary → backup, breakers, prices), asks for SEARCH/REPLACE blocks, and applies them through
 * the fs guard. A malformed reply or a SEARCH that matches nothing is sent back once, with the
 * error, for a corrected reply; usage is summed over both calls.
 */
import type { TokenUsage } from '../../machines/domain.ts';
import type { FsAllowlist } from '../config/schemas.ts';
import { isPasError, PasError } from '../errors.ts';
import type { ChatMessage, LlmCallResult } from '../llm/types.ts';
import type { Executor, ExecutorInput, ExecutorOutcome, PartialOutcome } from './executor.ts';
import { addUsage, withPartialOutcome } from './executor.ts';
import { normalizeRelativePath } from './fs-guard.ts';
import { applyEditBlocks, parseEditBlocks, type AppliedEdits, type EditBlock } from './search-replace.ts';
import { CheckoutFiles, restrictTo, type TaskFiles } from './task-files.ts';

export interface NativeExecutorOptions {
  fsAllowlist: FsAllowlist;
  /** Larger files are refused rather than sent to the model. */
  maxFileBytes?: number;
  temperature?: number;
  maxTokens?: number;
}

export const NATIVE_SYSTEM_PROMPT = `You are an expert software engineer editing files in a git worktree.
Make exactly the change the task asks for, nothing else.

Reply with one or more SEARCH/REPLACE blocks, each in this exact form:

path/to/file.ext
<<<<<<< SEARCH
lines copied exactly from the current file
=======
the lines that replace them
>>>>>>> REPLACE

Rules:
- The first line of a block is the file path alone, relative to the repository root.
- SEARCH must match the current file exactly, character for character, including indentation and comments; include enough lines to be unique.
- To create a new file, or to add to an empty one, leave SEARCH empty.
- To delete code, leave REPLACE empty.
- Several blocks may edit the same file; they are applied in order.
- Outside the blocks, write at most a short sentence of explanation.`;

const DEFAULT_MAX_FILE_BYTES = 256 * 1024;

export function createNativeExecutor(options: NativeExecutorOptions & { checkout?: 'none' | 'required' }): Executor {
  // It only reads and writes files: no checkout unless asked (a benchmark of the checkout path).
  return { kind: 'native', checkout: options.checkout ?? 'none', run: (input) => runNative(options, input) };
}

function fenceFor(content: string): string {
  const longest = Math.max(0, ...[...content.matchAll(/`+/g)].map((m) => m[0].length));
  return '`'.repeat(Math.max(3, longest + 1));
}

export function buildEditPrompt(instruction: string, files: ReadonlyMap<string, string | null>, context: ReadonlyMap<string, string> = new Map()): string {
  const parts = [`Task: ${instruction.trim()}`, ''];
  if (context.size > 0) {
    parts.push('Read-only context (neighbouring files; do not edit them):', '');
    for (const [file, content] of context) {
      const fence = fenceFor(content);
      parts.push(file, fence, content.replace(/\n$/, ''), fence, '');
    }
    parts.push('Files to edit:', '');
  }
  if (files.size === 0) parts.push('No file was named; create or edit the files the task needs.');
  for (const [file, content] of files) {
    if (content === null) {
      parts.push(`${file} (does not exist yet; create it with an empty SEARCH)`, '');
      continue;
    }
    const fence = fenceFor(content);
    parts.push(file, fence, content.replace(/\n$/, ''), fence, '');
  }
  parts.push('Reply with SEARCH/REPLACE blocks only.');
  return parts.join('\n');
}

async function runNative(options: NativeExecutorOptions, input: ExecutorInput): Promise<ExecutorOutcome> {
  const { task, programmer, signal, llm } = input;
  const guard: TaskFiles = input.files ? restrictTo(input.files, options.fsAllowlist) : new CheckoutFiles(input.worktree, options.fsAllowlist);
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;

  const files = new Map<string, string | null>();
  for (const raw of task.files) {
    const rel = normalizeRelativePath(raw);
    await guard.check(rel, 'write');
    const content = await guard.read(rel);
    if (content !== null && Buffer.byteLength(content) > maxBytes) {
      throw new PasError('PAS_ERR_FS_NOT_ALLOWED', `${rel} is larger than ${maxBytes} bytes and is not sent to the model`, { details: { path: rel } });
    }
    files.set(rel, content);
  }
  const context = new Map<string, string>();
  for (const raw of task.context ?? []) {
    const rel = normalizeRelativePath(raw);
    if (files.has(rel)) continue;
    // Context is a courtesy: a file the allowlist hides, or one too large, is left out, never an error.
    const content = await guard.read(rel).catch(() => null);
    if (content !== null && Buffer.byteLength(content) <= maxBytes / 4) context.set(rel, content);
  }

  const messages: ChatMessage[] = [
    { role: 'system', content: NATIVE_SYSTEM_PROMPT },
    { role: 'user', content: buildEditPrompt(task.instruction, files, context) },
  ];
  let spent: PartialOutcome | undefined;

  for (let attempt = 0; attempt < 2; attempt++) {
    let result: LlmCallResult;
    try {
      result = await llm.call({
        agentId: programmer.id,
        primary: programmer.primary,
        ...(programmer.backup ? { backup: programmer.backup } : {}),
        request: {
          messages: [...messages],
          ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
          ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
          signal,
          meta: { agentId: programmer.id, role: 'programmer', jobId: task.jobId, taskId: task.id, purpose: attempt === 0 ? 'edit' : 'edit.retry' },
        },
      });
    } catch (err) {
      throw spent ? withPartialOutcome(err, spent) : err;
    }
    spent = accumulate(spent, result);
    if (signal.aborted) throw withPartialOutcome(cancelled(task.id), spent);

    let applied: AppliedEdits;
    try {
      const blocks = normalizeBlocks(parseEditBlocks(result.text));
      for (const block of blocks) {
        if (!files.has(block.path)) files.set(block.path, await guard.read(block.path));
      }
      applied = applyEditBlocks(files, blocks);
    } catch (err) {
      const correctable = isPasError(err, 'PAS_ERR_EDIT_MALFORMED') || isPasError(err, 'PAS_ERR_EDIT_NO_MATCH');
      if (!correctable || attempt === 1) throw withPartialOutcome(err, spent);
      input.log?.warn({ taskId: task.id, code: (err as PasError).code }, 'edit reply refused; asking the model once to correct it');
      messages.push(
        { role: 'assistant', content: result.text },
        { role: 'user', content: correctionPrompt((err as PasError).message, files) },
      );
      continue;
    }

    // Every target is checked before anything is written.
    for (const file of applied.edited) await guard.check(file, 'write');
    if (signal.aborted) throw withPartialOutcome(cancelled(task.id), spent);
    for (const [file, content] of applied.files) await guard.write(file, content);

    return {
      summary: `edited ${applied.edited.join(', ')} with ${result.ref}${attempt === 1 ? ' (after one correction)' : ''}`,
      filesEdited: applied.edited,
      provider: result.provider,
      model: result.model,
      usedBackup: spent.usedBackup ?? false,
      tokens: spent.tokens ?? { input: null, output: null },
      costUsd: spent.costUsd ?? 0,
    };
  }
  // Unreachable: the second pass either returns or throws.
  throw withPartialOutcome(new PasError('PAS_ERR_EDIT_MALFORMED'), spent ?? {});
}

function normalizeBlocks(blocks: EditBlock[]): EditBlock[] {
  return blocks.map((b) => ({ ...b, path: normalizeRelativePath(b.path) }));
}

function accumulate(spent: PartialOutcome | undefined, result: LlmCallResult): PartialOutcome {
  const tokens: TokenUsage = spent?.tokens ? addUsage(spent.tokens, result.usage) : { ...result.usage };
  return {
    provider: result.provider,
    model: result.model,
    usedBackup: (spent?.usedBackup ?? false) || result.usedBackup,
    tokens,
    costUsd: (spent?.costUsd ?? 0) + result.costUsd,
  };
}

function correctionPrompt(error: string, files: ReadonlyMap<string, string | null>): string {
  const names = [...files.keys()].join(', ');
  return [
    'Your reply could not be applied; none of its edits were made.',
    '',
    error,
    '',
    `Reply again with ALL the SEARCH/REPLACE blocks the task needs, corrected. SEARCH must copy the current lines of the file exactly (files: ${names || 'none'}).`,
  ].join('\n');
}

function cancelled(taskId: string): PasError {
  return new PasError('PAS_ERR_TASK_CANCELLED', `task ${taskId} was cancelled`, { details: { taskId } });
}
