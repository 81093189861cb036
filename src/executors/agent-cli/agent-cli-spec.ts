/**
 * What one coding-agent CLI (Claude Code, Codex, Gemini CLI, opencode) must tell the shared
 * runner: how to start one run (argv, environment, files in its private home) and how to read
 * one line of its structured output. Everything else — the private home, the process tree,
 * stall detection, breakers, failover to the backup, usage and price, the allowlist check of
 * the diff — is the runner's (`agent-cli-executor.ts`). See README.md in this folder.
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import type { ModelPrice } from '../../config/schemas.ts';
import type { ProtocolKind } from '../../llm/provider-errors.ts';
import type { TaskProgress } from '../executor.ts';

/** The executor names of CONTRACT §8 that run an agent CLI. */
export const AGENT_CLI_EXECUTORS = ['claude-code', 'codex', 'gemini-cli', 'opencode'] as const;
export type AgentCliExecutorName = (typeof AGENT_CLI_EXECUTORS)[number];

/** Where the CLI sends its model calls and with which key (see `agent-endpoint.ts`). */
export interface AgentEndpoint {
  /** The provider's base URL as models.yaml (or its env override) gives it, without a trailing slash. */
  baseUrl: string;
  /** The key to hand the child; undefined when the provider needs none. */
  apiKey: string | undefined;
  /** The wire protocol of the provider. */
  kind: ProtocolKind;
  /** `provider` part of the model ref. */
  provider: string;
  /** `model` part of the model ref: what the CLI is told to use. */
  model: string;
  /** models.yaml's price of the model (a CLI that prices calls itself is given it: opencode). */
  price?: ModelPrice;
}

/** Everything a spec needs to build one run. */
export interface AgentRunContext {
  /** Absolute path of the task's worktree (the child's cwd). */
  worktree: string;
  /** The private folder of this run: HOME, config dir; removed by PAS after the run. */
  home: string;
  /** `{home}/tmp`: the child's TMPDIR. */
  tmp: string;
  /** The full prompt (instruction, files, verify command). */
  prompt: string;
  endpoint: AgentEndpoint;
  /** Tool turns the CLI may take (where it has such a limit). */
  maxTurns: number;
  /** The CLI's own retries of one model call (PAS fails over after them). */
  maxRetries: number;
  /** The task's verify command (argv), allowlisted; the CLI may run it. */
  verify: readonly string[] | undefined;
  /** The section's extra settings (per CLI). */
  settings: Record<string, unknown>;
}

/** How to start one run. */
export interface AgentRunPlan {
  args: string[];
  /** Variables on top of the basic ones (PATH, locale) and HOME/TMPDIR, which the runner sets. */
  env: Record<string, string>;
  /** Files to write before the start, relative to `home` (config files). */
  files?: Record<string, string>;
  /** What to put on stdin (default: nothing, closed). */
  stdin?: string;
}

/** One thing the agent did, as every CLI's events are mapped (feed `progress` messages). */
export type AgentProgress = TaskProgress;

/** The final word of a run. */
export interface AgentResult {
  ok: boolean;
  /** The HTTP status of the provider failure that ended the run, when the CLI says. */
  httpStatus?: number;
  /** The CLI's own error text. */
  message?: string;
  /** The wait the provider asked for (Retry-After, Gemini's RetryInfo), when the CLI says. */
  retryAfterMs?: number;
  /** The assistant's final text. */
  summary?: string;
}

/** What one output line means; a line can mean several things. */
export type AgentEvent =
  | { type: 'progress'; progress: AgentProgress }
  /** Usage to add to the run's total (per-step counts). */
  | { type: 'usage'; usage: TokenUsage; costUsd?: number }
  /** Usage that replaces the run's total (the CLI's own final sum). */
  | { type: 'usage.total'; usage: TokenUsage; costUsd?: number }
  | { type: 'result'; result: AgentResult }
  /** An HTTP failure the CLI reports outside its final result (Codex `error`, a failed turn). */
  | { type: 'http.error'; status: number; message: string }
  /**
   * The CLI cannot reach the model server (refused, reset, DNS). The runner stops the run at once
   * (Codex would wait for the network forever) and fails over as for PAS_ERR_LLM_CONNECTION.
   */
  | { type: 'connection.error'; message: string }
  /** Anything else worth keeping for the output tail; never ends the run. */
  | { type: 'other' };

export interface AgentCliSpec {
  readonly name: AgentCliExecutorName;
  /** The config section of programmer_pool.yaml (`claude_code`, `codex`, …). */
  readonly section: string;
  /** The protocols the CLI speaks; a model of another kind is refused before the run. */
  readonly kinds: readonly ProtocolKind[];
  /** Builds the argv, env and config files of one run. Never puts a key in argv or in a log. */
  plan(ctx: AgentRunContext): AgentRunPlan;
  /** Reads one complete stdout line (already JSON-parsed when it was JSON, else the raw string). */
  parse(line: unknown): AgentEvent[];
  /**
   * The HTTP status a run reported only in its stderr or exit code (Gemini's exit code is the
   * status mod 256), when its events said nothing. Optional.
   */
  statusFromExit?(exitCode: number | null, stderr: string): number | undefined;
  /**
   * Reads one stderr line, for a CLI that reports there what its stdout does not (opencode's
   * log names each failed model call it is about to retry). Optional.
   */
  parseStderr?(line: string): AgentEvent[];
}
