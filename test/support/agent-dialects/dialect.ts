/**
 * What every dialect of the fake agent provider shares: the turn and script types, the dialect
 * interface, and the SSE frame. Its own module so dialects and the server do not import each other.
 */
import type { ServerResponse } from 'node:http';

/** Token counts one turn reports, in PAS's terms (each dialect maps them onto its own fields). */
export interface TurnUsage {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
  thinking?: number;
}

export type AgentTurn = (
  | /** Create or replace a file (relative: against the CLI's working directory; absolute: as is). */
  { write: { path: string; content: string } }
  /** Read a file through the CLI's read tool (Claude Code writes an existing file only after reading it). */
  | { read: string }
  /** Run a shell command through the CLI's shell tool. */
  | { bash: string }
  /** The final answer: plain text, no tool call. */
  | { text: string }
) & {
  usage?: TurnUsage;
  /** Answer only once this settles (a test does something while the CLI's request is in flight). */
  waitFor?: Promise<unknown>;
};

/** A turn, or a function of the request's text that gives it (to answer what the prompt asks). */
export type ScriptedTurn = AgentTurn | ((requestText: string) => AgentTurn);

export type ModelScript =
  | ScriptedTurn[]
  /** Every request for the model fails with this HTTP status (provider-shaped body). */
  | { fail: number; headers?: Record<string, string> }
  /** Every request is accepted and never answered. */
  | 'hang';

/** What a dialect reads from a request and how it answers. */
export interface FakeDialect {
  name: string;
  /** Matches the request's method + path (query included). */
  route(method: string, path: string): boolean;
  model(body: Record<string, unknown>, path: string): string;
  /** How many tool results the request carries (= the index of the turn to answer). */
  toolResults(body: Record<string, unknown>): number;
  /** The CLI's working directory as its request states it (for absolute paths). */
  cwd(body: Record<string, unknown>): string | undefined;
  /** Writes the turn as a (streamed) answer. */
  answer(res: ServerResponse, turn: AgentTurn, ctx: { model: string; cwd: string | undefined; index: number; body: Record<string, unknown> }): void | Promise<void>;
  /** The provider's error answer for an HTTP status. */
  error(status: number): { body: unknown; headers?: Record<string, string> };
}

/** An SSE frame (`event:` line when named). */
export function sseFrame(data: unknown, event?: string): string {
  return `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}
