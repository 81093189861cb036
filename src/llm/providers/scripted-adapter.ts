/**
 * The offline provider: replies replayed from a YAML cassette (or in-memory entries). The first
 * entry whose `match` fits the call and that has uses left answers it; no match is
 * PAS_ERR_LLM_CASSETTE naming the prompt's first line. Streaming sends the reply word by word
 * through `onToken`.
 *
 * Cassette file: a list of entries, or `{entries: [...]}`:
 *   - match: {purpose?, agent?, role?, contains?, regex?}
 *     reply: "literal text"
 *     usage: {input: 12, output: 40}    # omitted → null counts (never made up)
 *     delay_ms: 50
 *     error: {code: PAS_ERR_LLM_RATE_LIMITED, message?: "..."}
 *     times: 1                           # omitted → unlimited
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { isErrorCode, PasError, type ErrorCode } from '../../errors.ts';
import { abortableSleep } from '../sleep.ts';
import type { ChatRequest, ChatResponse, ProviderAdapter } from '../types.ts';

const errorCode = z.string().refine((c): c is ErrorCode => isErrorCode(c), { message: 'not a PAS_ERR_* code of machines/error-codes.ts' });

export const cassetteEntrySchema = z
  .strictObject({
    match: z
      .strictObject({
        purpose: z.string().optional(),
        agent: z.string().optional(),
        role: z.string().optional(),
        contains: z.string().optional(),
        regex: z.string().optional(),
      })
      .default({}),
    reply: z.string().optional(),
    usage: z.strictObject({ input: z.number().int().min(0), output: z.number().int().min(0) }).optional(),
    delay_ms: z.number().min(0).optional(),
    error: z.strictObject({ code: errorCode, message: z.string().optional() }).optional(),
    times: z.number().int().positive().optional(),
  })
  .refine((e) => e.reply !== undefined || e.error !== undefined, { message: 'an entry needs a reply or an error' });

export const cassetteSchema = z.union([z.array(cassetteEntrySchema), z.strictObject({ entries: z.array(cassetteEntrySchema) })]);

export type CassetteEntry = z.input<typeof cassetteEntrySchema>;
type ParsedEntry = z.output<typeof cassetteEntrySchema>;

export interface ScriptedCall {
  entry: number;
  purpose?: string;
  agent?: string;
  firstLine: string;
}

export interface ScriptedAdapterOptions {
  /** The provider name reported in responses (default `scripted`). */
  provider?: string;
  /** Where the entries came from, for error messages. */
  source?: string;
  /** Waits `delay_ms`; abortable. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** The text matched against `contains`/`regex`: every message, in order. */
function promptText(request: ChatRequest): string {
  return request.messages.map((m) => m.content).join('\n');
}

/** The first line of the last user message (what identifies a call in an error). */
export function promptFirstLine(request: ChatRequest): string {
  const users = request.messages.filter((m) => m.role === 'user');
  const last = users[users.length - 1] ?? request.messages[request.messages.length - 1];
  return (last?.content ?? '').split('\n', 1)[0]!.slice(0, 200);
}

/** Replies by word with trailing whitespace kept, so joined chunks equal the reply. */
export function streamPieces(reply: string): string[] {
  return reply.match(/\S+\s*|\s+/g) ?? [];
}

export class ScriptedAdapter implements ProviderAdapter {
  readonly provider: string;
  readonly calls: ScriptedCall[] = [];
  private readonly entries: ParsedEntry[];
  private readonly regexes: (RegExp | undefined)[];
  private readonly used: number[];
  private readonly source: string;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(entries: readonly CassetteEntry[], options: ScriptedAdapterOptions = {}) {
    const parsed = z.array(cassetteEntrySchema).safeParse(entries);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new PasError('PAS_ERR_CONFIG_INVALID', `${options.source ?? 'cassette'}: [${issue.path.join('.')}]: ${issue.message}`);
    }
    this.entries = parsed.data;
    this.regexes = this.entries.map((e) => (e.match.regex === undefined ? undefined : new RegExp(e.match.regex, 'm')));
    this.used = this.entries.map(() => 0);
    this.provider = options.provider ?? 'scripted';
    this.source = options.source ?? 'in-memory cassette';
    this.sleep = options.sleep ?? abortableSleep;
  }

  /** Uses left per entry (Infinity when unlimited). */
  remaining(): number[] {
    return this.entries.map((e, i) => (e.times === undefined ? Infinity : e.times - this.used[i]!));
  }

  private find(request: ChatRequest): number {
    const text = promptText(request);
    const meta = request.meta ?? {};
    return this.entries.findIndex((e, i) => {
      if (e.times !== undefined && this.used[i]! >= e.times) return false;
      const m = e.match;
      if (m.purpose !== undefined && m.purpose !== meta.purpose) return false;
      if (m.agent !== undefined && m.agent !== meta.agentId) return false;
      if (m.role !== undefined && m.role !== meta.role) return false;
      if (m.contains !== undefined && !text.includes(m.contains)) return false;
      const re = this.regexes[i];
      if (re && !re.test(text)) return false;
      return true;
    });
  }

  async chat(model: string, request: ChatRequest): Promise<ChatResponse> {
    const firstLine = promptFirstLine(request);
    const index = this.find(request);
    if (index < 0) {
      throw new PasError('PAS_ERR_LLM_CASSETTE', `${this.source}: no reply for "${firstLine}"`, {
        details: { provider: this.provider, model, firstLine, purpose: request.meta?.purpose, agent: request.meta?.agentId },
      });
    }
    this.used[index] = this.used[index]! + 1;
    const call: ScriptedCall = { entry: index, firstLine };
    if (request.meta?.purpose !== undefined) call.purpose = request.meta.purpose;
    if (request.meta?.agentId !== undefined) call.agent = request.meta.agentId;
    this.calls.push(call);
    const entry = this.entries[index]!;
    if (entry.delay_ms) await this.sleep(entry.delay_ms, request.signal);
    request.signal?.throwIfAborted();
    if (entry.error) {
      const code = entry.error.code as ErrorCode;
      throw new PasError(code, entry.error.message ?? `${this.source}: scripted ${code}`, {
        details: { provider: this.provider, model, entry: index },
      });
    }
    const reply = entry.reply ?? '';
    if (request.stream && request.onToken) for (const piece of streamPieces(reply)) request.onToken(piece);
    return {
      text: reply,
      usage: { input: entry.usage?.input ?? null, output: entry.usage?.output ?? null },
      provider: this.provider,
      model,
      finishReason: 'stop',
    };
  }
}

/** A ScriptedAdapter over in-memory entries (tests, benchmarks). */
export function createScriptedAdapter(entries: readonly CassetteEntry[], options: ScriptedAdapterOptions = {}): ScriptedAdapter {
  return new ScriptedAdapter(entries, options);
}

/** Reads and validates a cassette file. */
export function loadCassette(file: string): CassetteEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PasError('PAS_ERR_CONFIG_NOT_FOUND', `${file}: cassette not found`, { details: { file }, cause: err });
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new PasError('PAS_ERR_CONFIG_YAML', `${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err });
  }
  const parsed = cassetteSchema.safeParse(doc ?? []);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PasError('PAS_ERR_CONFIG_INVALID', `${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, {
      details: { file, issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  return (Array.isArray(parsed.data) ? parsed.data : parsed.data.entries) as CassetteEntry[];
}

/** A ScriptedAdapter over a cassette file. */
export function createCassetteAdapter(file: string, options: ScriptedAdapterOptions = {}): ScriptedAdapter {
  return new ScriptedAdapter(loadCassette(file), { source: file, ...options });
}
