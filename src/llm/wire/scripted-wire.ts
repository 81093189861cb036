/**
 * The offline `scripted` model served in the providers' wire formats, so agent CLIs can run
 * against it: one function answers a request of any of the
 * formats (Anthropic Messages, OpenAI Responses and Chat Completions, Gemini generate/stream):
 * `createScriptedWire(adapter)` gives `(route, body, {model}) → WireReply`.
 *
 * The reply comes from the scripted adapter (the cassette the native editor uses): its
 * SEARCH/REPLACE blocks become the CLI's own edit tool calls (see scripted-tool-calls.ts); once
 * the CLI reports the results, a closing text ends the turn. A request without tools (a title
 * request) gets a short text. A cassette error entry answers with that error's HTTP status in
 * the provider's shape. Turns whose cassette entry gives no usage count one token per four
 * characters (the scripted model has no tokenizer; its price is 0).
 *
 * Mounting (LLM gateway, `pas demo`): route the provider paths to this function and write the
 * WireReply out as is — `status`, `headers`, then each chunk in order.
 */
import { ERRORS, isPasError } from '../../errors.ts';
import { parseEditBlocks, type EditBlock } from '../../executors/search-replace.ts';
import type { ProviderAdapter } from '../types.ts';
import { scriptedToolCalls, requestCwd, roundsBeforeEdits, toolDialect } from './scripted-tool-calls.ts';
import { encodeWireTurn, readWireRequest, wireErrorReply } from './wire-formats.ts';
import type { WireReply, WireRequest, WireRoute, WireTurn, WireUsage } from './wire-turn.ts';

/** Rough token count of a text (no tokenizer offline): one per four characters. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function estimatedUsage(request: WireRequest, replyText: string): WireUsage {
  return { input: estimateTokens([request.system, ...request.userTexts].filter(Boolean).join('\n')), output: Math.max(1, estimateTokens(replyText)) };
}

export type ScriptedWire = (route: WireRoute, body: unknown, call?: ScriptedWireCall) => Promise<WireReply>;

export interface ScriptedWireCall {
  /** Gemini's model comes from the URL. */
  model?: string;
  /** Who is calling, for the cassette's `agent` matcher. */
  agentId?: string;
  signal?: AbortSignal;
}

interface Conversation {
  text: string;
  blocks: EditBlock[];
  usage: WireUsage | undefined;
}

/**
 * A scripted wire endpoint over one adapter. The cassette is asked once per conversation (its
 * prompt); later rounds of the same conversation (reads, the closing text) reuse that answer.
 */
export function createScriptedWire(adapter: ProviderAdapter, maxConversations = 1000): ScriptedWire {
  const conversations = new Map<string, Conversation>();
  let turnCounter = 0;

  return async (route, body, call = {}) => {
    const request = readWireRequest(route, body, call.model);
    const reply = (turn: WireTurn) => encodeWireTurn(route, turn, request, turnCounter++);
    const prompt = request.userTexts.join('\n');

    if (request.tools.length === 0) {
      // A side request (conversation title, quota probe): a short text, as a model would answer.
      const text = (request.userTexts[request.userTexts.length - 1] ?? 'Task').replace(/\s+/g, ' ').trim().split(' ').slice(0, 6).join(' ');
      return reply({ text, usage: estimatedUsage(request, text) });
    }

    // A conversation is known by its opening: the system prompt and the first user message (which
    // names the worktree); later rounds append tool results and reminders.
    const key = [route, request.system, request.userTexts[0] ?? ''].join('\n');
    let conversation = conversations.get(key);
    if (!conversation) {
      try {
        const response = await adapter.chat(request.model, {
          messages: [...(request.system ? [{ role: 'system' as const, content: request.system }] : []), { role: 'user', content: prompt }],
          ...(call.signal ? { signal: call.signal } : {}),
          meta: { purpose: 'edit', role: 'programmer', ...(call.agentId ? { agentId: call.agentId } : {}) },
        });
        let blocks: EditBlock[] = [];
        try {
          blocks = parseEditBlocks(response.text);
        } catch {
          blocks = [];
        }
        const usage = response.usage.input !== null && response.usage.output !== null ? { input: response.usage.input, output: response.usage.output } : undefined;
        conversation = { text: response.text, blocks, usage };
      } catch (err) {
        if (!isPasError(err)) throw err;
        const status = err.code === 'PAS_ERR_LLM_OVERLOADED' && route === 'anthropic-messages' ? 529 : ERRORS[err.code].status;
        return wireErrorReply(route, status, err.message);
      }
      if (conversations.size >= maxConversations) conversations.delete(conversations.keys().next().value!);
      conversations.set(key, conversation);
    }

    const { blocks } = conversation;
    const dialect = toolDialect(request.tools);
    const editRound = roundsBeforeEdits(dialect, blocks);
    if (blocks.length === 0 || dialect === 'none') return reply({ text: conversation.text, usage: conversation.usage ?? estimatedUsage(request, conversation.text) });
    if (request.toolRounds > editRound) {
      conversations.delete(key);
      const closing = `Edited ${[...new Set(blocks.map((b) => b.path))].join(', ')}.`;
      return reply({ text: closing, usage: estimatedUsage(request, closing) });
    }
    const toolCalls = scriptedToolCalls(dialect, blocks, request.toolRounds, requestCwd(request));
    const usage = request.toolRounds === editRound && conversation.usage ? conversation.usage : estimatedUsage(request, JSON.stringify(toolCalls));
    return reply({ toolCalls, usage });
  };
}
