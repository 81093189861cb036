/**
 * How a coding-agent CLI continues its own session for the next edit–verify round: where its
 * output names the session, how the first run is kept resumable, and the argv of a run that
 * resumes it with a new prompt (AGENT-CLIS.md: `claude --resume <session_id> -p …`,
 * `codex exec resume <id> …`). A CLI without an entry here gets a new run whose prompt carries the
 * task again with the failure output (gemini-cli and opencode, until their resume is measured).
 */
import type { TokenUsage } from '../../../machines/domain.ts';
import type { AgentCliExecutorName, AgentRunContext, AgentRunPlan } from './agent-cli-spec.ts';

export interface ResumeSupport {
  /** The session id one line of output names (already JSON-parsed when it was JSON). */
  sessionOf(line: unknown): string | undefined;
  /** The first run's plan made resumable (Codex keeps no session with `--ephemeral`). */
  resumable?(plan: AgentRunPlan): AgentRunPlan;
  /** A run that continues `session` with `ctx.prompt`, from the plan the spec made for `ctx`. */
  resume(plan: AgentRunPlan, ctx: AgentRunContext, session: string): AgentRunPlan;
  /** A resumed run reports the whole session's usage, earlier runs included (Codex's `turn.completed`). */
  cumulativeUsage?: boolean;
}

/**
 * The usage of a resumed run whose CLI reports the session's total: that total less what the
 * session's earlier runs used. A count unknown on either side stays unknown.
 */
export function usageSince(total: TokenUsage, before: TokenUsage): TokenUsage {
  const minus = (a: number | null | undefined, b: number | null | undefined): number | null | undefined =>
    a === undefined ? undefined : a === null || b === null ? null : Math.max(0, a - (b ?? 0));
  const out: TokenUsage = { input: minus(total.input, before.input) ?? null, output: minus(total.output, before.output) ?? null };
  for (const key of ['thinking', 'cache_read', 'cache_write'] as const) {
    const v = minus(total[key], before[key]);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

type Json = Record<string, unknown>;
const rec = (v: unknown): Json | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

const claudeCode: ResumeSupport = {
  // `system/init` and the final `result` carry the session id.
  sessionOf: (line) => {
    const event = rec(line);
    return event && (event.type === 'system' || event.type === 'result') ? str(event.session_id) : undefined;
  },
  resume: (plan, _ctx, session) => ({ ...plan, args: ['--resume', session, ...plan.args] }),
};

const codex: ResumeSupport = {
  sessionOf: (line) => {
    const event = rec(line);
    return event?.type === 'thread.started' ? str(event.thread_id) : undefined;
  },
  resumable: (plan) => ({ ...plan, args: plan.args.filter((a) => a !== '--ephemeral') }),
  // `codex exec resume [OPTIONS] <id> <prompt>`: the run's cwd is the worktree, its config the same CODEX_HOME.
  resume: (plan, ctx, session) => ({ ...plan, args: ['exec', 'resume', '--json', '--skip-git-repo-check', session, ctx.prompt] }),
  // Measured with 0.171: a resumed thread's turn.completed counts the earlier turns again.
  cumulativeUsage: true,
};

export const RESUME_SUPPORT: Partial<Record<AgentCliExecutorName, ResumeSupport>> = {
  'claude-code': claudeCode,
  codex,
};
