/**
 * The native executor, a small agent loop: shows the task's files to the programmer's model
 * through the LLM client (primary → backup, breakers, prices) and asks for SEARCH/REPLACE blocks.
 * The model may first ask to read more files (`READ path` lines, bounded, inside the allowlist).
 * Edits are applied through the fs guard. A malformed reply or a SEARCH that matches nothing is
 * sent back once per round, with the error, for a corrected reply. When the task has a `verify`
 * command, it runs after each round's edits; on failure the model sees its output (head and
 * tail) and the files as they now are, and edits again, up to `verify_rounds`. Each round's
 * usage, reads and verify result are kept for the receipt.
 */
import type { TokenUsage } from '../../machines/domain.ts';
import type { FsAllowlist } from '../config/schemas.ts';
import { isPasError, PasError } from '../errors.ts';
import { verifyFailedError } from './verify-output.ts';
import type { ChatMessage, LlmCallResult } from '../llm/types.ts';
import type { Executor, ExecutorInput, ExecutorOutcome, PartialOutcome, TaskRound, VerifyRun } from './executor.ts';
import { addUsage, withPartialOutcome } from './executor.ts';
import { normalizeRelativePath } from './fs-guard.ts';
import { applyEditBlocks, parseEditBlocks, type AppliedEdits, type EditBlock } from './search-replace.ts';
import { CheckoutFiles, restrictTo, type TaskFiles } from './task-files.ts';
import { roundUsd } from '../llm/prices.ts';

export interface NativeExecutorOptions {
  fsAllowlist: FsAllowlist;
  /** Larger files are refused rather than sent to the model. */
  maxFileBytes?: number;
  temperature?: number;
  maxTokens?: number;
  /** Files the model may ask to read (`READ path` lines) over the whole task; 0 turns reading off. */
  maxReads?: number;
  /** Epoch milliseconds, for round durations; injectable for tests. */
  now?: () => number;
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
const DEFAULT_MAX_READS = 8;

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
  const { task, programmer, signal, llm, verify } = input;
  const guard: TaskFiles = input.files ? restrictTo(input.files, options.fsAllowlist) : new CheckoutFiles(input.worktree, options.fsAllowlist);
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const maxReads = options.maxReads ?? DEFAULT_MAX_READS;
  const now = options.now ?? Date.now;

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
    { role: 'system', content: NATIVE_SYSTEM_PROMPT + (maxReads > 0 ? readRule(maxReads) : '') },
    { role: 'user', content: buildEditPrompt(task.instruction, files, context) },
  ];
  const maxRounds = verify ? Math.max(1, verify.maxRounds) : 1;
  const rounds: TaskRound[] = [];
  let spent: PartialOutcome | undefined;
  let readsLeft = maxReads;
  let purpose = 'edit';
  const edited = new Set<string>();
  let lastRef = '';

  for (let round = 1; round <= maxRounds; round++) {
    const roundStart = now();
    let roundSpent: PartialOutcome | undefined;
    let roundReads = 0;
    let corrected = false;
    const record = (extra: Partial<TaskRound> = {}): TaskRound => ({
      round,
      tokens: roundSpent?.tokens ?? { input: null, output: null },
      cost_usd: roundSpent?.costUsd ?? 0,
      reads: roundReads,
      ...extra,
      duration_ms: Math.max(0, now() - roundStart),
    });
    const fail = (err: unknown): never => {
      throw withPartialOutcome(err, { ...(spent ?? {}), rounds: [...rounds, record()] });
    };

    // One round: model calls until an edit applies (reads and one correction in between).
    let applied: AppliedEdits | undefined;
    while (!applied) {
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
            meta: { agentId: programmer.id, role: 'programmer', jobId: task.jobId, taskId: task.id, purpose },
          },
        });
      } catch (err) {
        return fail(err);
      }
      spent = accumulate(spent, result);
      roundSpent = accumulate(roundSpent, result);
      lastRef = result.ref;
      if (signal.aborted) return fail(cancelled(task.id));

      // Once the budget is spent, a read request is a reply without edits (corrected once, then refused).
      const wanted = readsLeft > 0 ? readRequests(result.text) : [];
      if (wanted.length > 0) {
        const answer = await answerReads(wanted, readsLeft, guard, maxBytes);
        readsLeft -= answer.served;
        roundReads += answer.served;
        input.log?.info({ taskId: task.id, round, asked: wanted, served: answer.served }, 'the model asked to read files');
        input.onProgress?.({ kind: 'tool', tool: 'read', text: `round ${round}: read ${wanted.join(', ')}` });
        messages.push({ role: 'assistant', content: result.text }, { role: 'user', content: answer.text });
        purpose = 'edit.read';
        continue;
      }

      try {
        const blocks = normalizeBlocks(parseEditBlocks(result.text));
        for (const block of blocks) {
          if (!files.has(block.path)) files.set(block.path, await guard.read(block.path));
        }
        applied = applyEditBlocks(files, blocks);
      } catch (err) {
        const correctable = isPasError(err, 'PAS_ERR_EDIT_MALFORMED') || isPasError(err, 'PAS_ERR_EDIT_NO_MATCH');
        if (!correctable || corrected) return fail(err);
        corrected = true;
        input.log?.warn({ taskId: task.id, round, code: (err as PasError).code }, 'edit reply refused; asking the model once to correct it');
        messages.push({ role: 'assistant', content: result.text }, { role: 'user', content: correctionPrompt((err as PasError).message, files) });
        purpose = 'edit.retry';
        continue;
      }
      messages.push({ role: 'assistant', content: result.text });
    }

    // Every target is checked before anything is written.
    try {
      for (const file of applied.edited) await guard.check(file, 'write');
      if (signal.aborted) throw cancelled(task.id);
      for (const [file, content] of applied.files) {
        await guard.write(file, content);
        files.set(file, content);
      }
    } catch (err) {
      return fail(err);
    }
    for (const file of applied.edited) edited.add(file);

    if (!verify) {
      rounds.push(record());
      break;
    }
    let ran: VerifyRun;
    try {
      ran = await verify.run();
    } catch (err) {
      return fail(err);
    }
    rounds.push(record({ verify_exit_code: ran.exitCode, verify_duration_ms: ran.durationMs }));
    input.onProgress?.({ kind: 'command', command: ran.command, exitCode: ran.exitCode, round, text: `round ${round} of ${maxRounds}` });
    input.log?.info({ taskId: task.id, round, command: ran.command, exitCode: ran.exitCode, durationMs: ran.durationMs }, 'verify command finished');
    if (ran.exitCode === 0) break;
    if (round === maxRounds) {
      throw withPartialOutcome(
        verifyFailedError(ran, maxRounds),
        { ...(spent ?? {}), rounds },
      );
    }
    input.onProgress?.({ kind: 'retry', attempt: round + 1, round: round + 1, text: `verify failed (exit ${ran.exitCode}); round ${round + 1} of ${maxRounds}` });
    messages.push({ role: 'user', content: verifyFailurePrompt(ran, round, maxRounds, files, edited) });
    purpose = 'edit.verify';
  }

  const last = rounds[rounds.length - 1]!;
  const verified = verify !== undefined && last.verify_exit_code === 0;
  const roundsNote = rounds.length > 1 ? ` in ${rounds.length} rounds` : '';
  return {
    summary: `edited ${[...edited].join(', ')} with ${lastRef}${roundsNote}${verified ? ' (verify passed)' : ''}`,
    filesEdited: [...edited],
    provider: spent!.provider!,
    model: spent!.model!,
    usedBackup: spent!.usedBackup ?? false,
    tokens: spent!.tokens ?? { input: null, output: null },
    costUsd: spent!.costUsd ?? 0,
    ...(verified ? { rounds } : {}),
  };
}

const READ_LINE = /^READ\s+(\S.*?)\s*$/gm;

/** The paths of `READ path` lines, when the reply asks to read instead of editing (no edit block). */
export function readRequests(reply: string): string[] {
  if (reply.includes('<<<<<<< SEARCH')) return [];
  return [...new Set([...reply.matchAll(READ_LINE)].map((m) => m[1]!.replace(/^[`'"]|[`'"]$/g, '')))];
}

function readRule(maxReads: number): string {
  return `

To see a file you were not shown, reply with nothing but lines of the form
READ path/to/file
and its contents come back in the next message (at most ${maxReads} files in all); then reply with the SEARCH/REPLACE blocks.`;
}

/** The next user message for a read request: each file's contents, or why it is not shown. */
async function answerReads(paths: string[], budget: number, guard: TaskFiles, maxBytes: number): Promise<{ text: string; served: number }> {
  const parts: string[] = [];
  let served = 0;
  for (const raw of paths) {
    if (served >= budget) {
      parts.push(`${raw}: not shown (the read budget is spent).`, '');
      continue;
    }
    served++;
    let content: string | null;
    try {
      content = await guard.read(normalizeRelativePath(raw));
    } catch (err) {
      parts.push(`${raw}: not readable (${err instanceof Error ? err.message : String(err)}).`, '');
      continue;
    }
    if (content === null) {
      parts.push(`${raw}: does not exist.`, '');
      continue;
    }
    if (Buffer.byteLength(content) > maxBytes) {
      parts.push(`${raw}: larger than ${maxBytes} bytes; not shown.`, '');
      continue;
    }
    const fence = fenceFor(content);
    parts.push(raw, fence, content.replace(/\n$/, ''), fence, '');
  }
  parts.push(budget - served > 0 ? 'Reply with SEARCH/REPLACE blocks (or READ lines for more files).' : 'No more reads: reply with SEARCH/REPLACE blocks now.');
  return { text: parts.join('\n'), served };
}

/** What the model is told when its edits are in place but the verify command failed. */
export function verifyFailurePrompt(ran: VerifyRun, round: number, maxRounds: number, files: ReadonlyMap<string, string | null>, edited: ReadonlySet<string>): string {
  const parts = [
    `Your edits were applied, but the verify command ${ran.command} failed (exit ${ran.exitCode ?? 'by signal'}); round ${round} of ${maxRounds}. Its output:`,
    '',
    '```text',
    ran.output,
    '```',
    '',
    'The files you edited now read:',
    '',
  ];
  for (const file of edited) {
    const content = files.get(file) ?? '';
    const fence = fenceFor(content);
    parts.push(file, fence, content.replace(/\n$/, ''), fence, '');
  }
  parts.push('Reply with SEARCH/REPLACE blocks against these current contents that make the command pass.');
  return parts.join('\n');
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
    costUsd: roundUsd((spent?.costUsd ?? 0) + result.costUsd),
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
