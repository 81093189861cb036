/**
 * The shared runner behind every coding-agent CLI executor (`claude-code`, `codex`,
 * `gemini-cli`, `opencode`). One task:
 *
 * 1. For the primary model, then the backup: skip it when its breaker is open or (paid) the
 *    day's budget is spent, as the LLM client does.
 * 2. Run the CLI (execa, no shell) in the worktree with a private HOME / config dir / TMPDIR
 *    under the data dir, created and removed here; stream its NDJSON through the spec's parser;
 *    publish progress; kill the process tree on timeout, stall or cancel.
 * 3. Decide from the final result event (never the exit code alone): an HTTP failure the CLI
 *    reports becomes the matching PAS_ERR_LLM_* code, counts on that model's breaker and leads
 *    to a second run with the backup (the worktree reset in between); success needs a diff.
 * 4. Check every changed path (git status, and every path the CLI said it wrote) against the
 *    worktree and fs_allowlist.yaml: outside, or through a symlink, fails with a coded error.
 *
 * Behind PAS's LLM gateway (`gateway`, every tree): the task gets one credential; the CLI is
 * given the gateway's base URL of its provider family and that credential, never the real key.
 * Every call then passes the gateway's policy (breakers, failover to the backup within the call,
 * the daily and the job's budget, the per-provider limits), so the CLI runs once, and the receipt's
 * usage and cost are what the gateway measured for the task, whatever the CLI reports. A call the
 * budget refuses ends the run and fails the subtask with PAS_ERR_BUDGET_EXHAUSTED. The credential
 * ends the moment the run is killed (cancel, timeout, stall) and with the task.
 *
 * Without a gateway (an executor built on its own): the provider's URL and key, the breakers and
 * failover above; usage is the CLI's own counts, summed over the runs; cost is the CLI's own when
 * it gives one, else models.yaml's price; a count it did not report stays null.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ErrorData, TokenUsage } from '../../../machines/domain.ts';
import { splitModelRef } from '../../config/load-config.ts';
import type { FsAllowlist, ModelsConfigFile } from '../../config/schemas.ts';
import { isPasError, PasError } from '../../errors.ts';
import { BREAKER_FAILURE_CODES } from '../../llm/llm-client.ts';
import { callCost, priceIsFree, roundUsd } from '../../llm/prices.ts';
import { classifyHttpStatus } from '../../llm/provider-errors.ts';
import type { LlmGateway, TaskLlmAccess } from '../../llm/gateway/llm-gateway.ts';
import { redactSecrets, scrubText } from '../../redaction.ts';
import { utcDay } from '../../llm/spend-store.ts';
import type { BreakerGate, SpendStore } from '../../llm/types.ts';
import type { Executor, ExecutorInput, ExecutorOutcome, PartialOutcome, TaskProgress } from '../executor.ts';
import { addUsage, withPartialOutcome } from '../executor.ts';
import { restoreGitFiles } from '../checkout-git-files.ts';
import { FsGuard, normalizeRelativePath } from '../fs-guard.ts';
import { git } from '../git-command.ts';
import { baseChildEnv, tailLines } from '../process-tree.ts';
import { runAgentProcess, type AgentProcessOutcome } from './agent-cli-process.ts';
import { agentPrompt } from './agent-cli-prompt.ts';
import type { AgentCliSpec, AgentEndpoint, AgentEvent, AgentResult } from './agent-cli-spec.ts';
import { gatewayAgentEndpoint, resolveAgentEndpoint } from './agent-endpoint.ts';
import { RESUME_SUPPORT, usageSince } from './agent-cli-resume.ts';
import { agentRunHome, removeRunHome } from './agent-run-home.ts';
import { runAgentCliRounds, type AgentCliRound, type AgentCliRun } from './agent-cli-rounds.ts';

/** The section every agent CLI has in programmer_pool.yaml. */
export interface AgentCliSettings {
  binary: string;
  timeout_s: number;
  stall_timeout_s: number;
  max_turns: number;
  max_retries: number;
  [key: string]: unknown;
}

export interface AgentCliExecutorOptions {
  spec: AgentCliSpec;
  settings: AgentCliSettings;
  fsAllowlist: FsAllowlist;
  models: ModelsConfigFile;
  /** Where the private run folders go (`{dataDir}/agent-runs`). */
  runsDir: string;
  /** The shared breakers (one per provider/model). */
  breakers: BreakerGate;
  /** Source of provider keys and base-URL overrides; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** programmer_pool.yaml `failover.enabled`: run the backup after the primary failed. */
  failover?: boolean;
  /** programmer_pool.yaml `cost_optimization`. */
  budget?: { enabled: boolean; maxDailySpendUsd: number; spend: SpendStore; now?: () => number };
  killGraceMs?: number;
  /**
   * PAS's LLM gateway (CONTRACT §9): when given, every run goes through it with a per-task
   * credential (see the top of this file). Real keys then never reach the CLI.
   */
  gateway?: LlmGateway;
}

export const AGENT_OUTPUT_TAIL_LINES = 40;
const MAX_PROGRESS_TEXT = 200;

interface RunReport {
  process: AgentProcessOutcome;
  result: AgentResult | undefined;
  httpStatus: number | undefined;
  httpMessage: string | undefined;
  tokens: TokenUsage | undefined;
  costUsd: number | undefined;
  /** Paths the CLI said it wrote, as it wrote them. */
  written: string[];
  /** Failed model calls the CLI said it is retrying (`retry` progress). */
  retries: number;
  /** The CLI said it cannot reach the model server; the run was stopped. */
  connectionError: string | undefined;
  /** The session the CLI named (a resumable CLI, see agent-cli-resume.ts). */
  session: string | undefined;
}

export function createAgentCliExecutor(options: AgentCliExecutorOptions): Executor {
  return { kind: options.spec.name, run: (input) => runAgentCliRounds(input, options, (round) => runAgentCli(options, input, round)) };
}

/** One run of the task through the CLI (primary, then backup; or only `round.ref` for a later round). */
async function runAgentCli(options: AgentCliExecutorOptions, input: ExecutorInput, round: AgentCliRound = {}): Promise<AgentCliRun> {
  const { settings } = options;
  const { task, programmer, signal } = input;
  const source = options.env ?? process.env;
  const guard = new FsGuard(input.worktree, options.fsAllowlist);
  for (const raw of task.files) await guard.resolve(normalizeRelativePath(raw), 'write');

  const refs = round.ref ? [round.ref] : [programmer.primary, ...(programmer.backup && options.failover !== false && programmer.backup !== programmer.primary ? [programmer.backup] : [])];
  const timeoutMs = Math.min(settings.timeout_s * 1000, task.timeoutMs ?? Number.POSITIVE_INFINITY);
  const budget = options.budget?.enabled ? options.budget : undefined;
  const today = () => utcDay((budget?.now ?? Date.now)());
  const prompt = round.prompt ?? agentPrompt(task, input.worktree);

  // One credential for the whole task; a cancel ends it at once, a kill of the run too (runOnce).
  const gateway = options.gateway;
  const access = gateway?.openTask({ jobId: task.jobId, taskId: task.id, programmerId: programmer.id, models: refs }, timeoutMs + 60_000);
  const revoke = () => access?.revoke();
  signal.addEventListener('abort', revoke, { once: true });
  try {
    return await runModels(options, input, { refs, timeoutMs, budget, today, prompt, guard, source, access, round });
  } finally {
    signal.removeEventListener('abort', revoke);
    access?.end();
  }
}

interface ModelsRun {
  refs: string[];
  timeoutMs: number;
  budget: AgentCliExecutorOptions['budget'];
  today: () => string;
  prompt: string;
  guard: FsGuard;
  source: NodeJS.ProcessEnv;
  access: TaskLlmAccess | undefined;
  round: AgentCliRound;
}

async function runModels(options: AgentCliExecutorOptions, input: ExecutorInput, run: ModelsRun): Promise<AgentCliRun> {
  const { spec, settings } = options;
  const { task, programmer, signal } = input;
  const { refs, timeoutMs, budget, today, prompt, guard, source, access, round } = run;
  // Behind the gateway the breakers are the gateway's business (it asks and feeds them per call).
  const breakers: BreakerGate | undefined = access ? undefined : options.breakers;
  // Real keys, and the task's credential, never leave in an error text or output tail.
  const scrub = (text: string) => (access ? scrubText(redactSecrets(text, source), [access.credential]) : redactSecrets(text, source));
  let spent: PartialOutcome = {};
  const causes: ErrorData[] = [];
  const tried: string[] = [];

  for (const [index, ref] of refs.entries()) {
    if (signal.aborted) throw withPartialOutcome(cancelled(task.id), spent);
    const { provider, model } = splitModelRef(ref);
    const price = options.models.providers[provider]?.models[model];
    const providerConfig = options.models.providers[provider];
    if (!price || !providerConfig) {
      causes.push(new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `${ref} is not in models.yaml`, { details: { ref } }).toData());
      tried.push(ref);
      continue;
    }
    if (budget && !priceIsFree(price) && budget.spend.spent(today()) >= budget.maxDailySpendUsd) {
      const day = today();
      input.log?.info({ taskId: task.id, model: ref, limit: budget.maxDailySpendUsd }, 'paid model skipped: budget spent');
      causes.push(
        new PasError('PAS_ERR_BUDGET_EXHAUSTED', `${ref}: today's budget is spent (${budget.spend.spent(day)} of ${budget.maxDailySpendUsd} USD on ${day})`, {
          details: { ref, day, spentUsd: budget.spend.spent(day), limitUsd: budget.maxDailySpendUsd },
        }).toData(),
      );
      tried.push(ref);
      continue;
    }
    let endpoint: AgentEndpoint;
    try {
      endpoint = access
        ? gatewayAgentEndpoint(options.models, ref, access, { cliKinds: spec.kinds, env: options.gateway!.env, offline: options.gateway!.options.offline === true })
        : resolveAgentEndpoint(options.models, ref, source);
      if (!spec.kinds.includes(endpoint.kind)) {
        throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `${ref}: ${spec.name} speaks ${spec.kinds.join(', ')}, not ${endpoint.kind}`, { details: { ref, executor: spec.name } });
      }
    } catch (err) {
      if (!isPasError(err)) throw withPartialOutcome(err, spent);
      causes.push(err.toData());
      tried.push(ref);
      if (BREAKER_FAILURE_CODES.has(err.code)) breakers?.record(ref, 'failure', false, err.toData());
      continue;
    }
    const admission = breakers ? breakers.admit(ref) : 'allow';
    if (admission === 'reject') {
      causes.push(new PasError('PAS_ERR_LLM_BREAKER_OPEN', `${ref}: circuit breaker is ${options.breakers.state(ref)}`, { details: { ref, state: options.breakers.state(ref) } }).toData());
      tried.push(ref);
      input.log?.info({ taskId: task.id, model: ref }, 'model skipped: breaker open');
      continue;
    }
    const probe = admission === 'probe';
    if (index > 0 && tried.length > 0) {
      // The failed run may have left half an edit; the backup starts from the task's base.
      await resetWorktree(input.worktree);
    }
    tried.push(ref);

    let report: RunReport;
    try {
      input.log?.info({ taskId: task.id, executor: spec.name, model: ref }, 'running agent CLI');
      report = await runOnce(options, input, endpoint, prompt, timeoutMs, round, access);
      // A resumed CLI that reports the whole session's usage counts only this round's (behind the
      // gateway the usage is the gateway's, measured per round's credential).
      if (!access && round.session && round.sessionUsage && report.tokens && RESUME_SUPPORT[spec.name]?.cumulativeUsage) report.tokens = usageSince(report.tokens, round.sessionUsage);
    } catch (err) {
      if (probe) breakers?.abandonProbe(ref);
      throw withPartialOutcome(err, spent);
    }

    let tokens: TokenUsage | undefined;
    const outputTail = scrub(tailLines(report.process.stderrTail || report.process.stdoutTail, AGENT_OUTPUT_TAIL_LINES));
    const measured = access?.spent();
    if (access) {
      // What the gateway measured for the task (it priced and booked every call), whatever the CLI says.
      tokens = measured?.tokens;
      spent = {
        provider: measured?.provider ?? provider,
        model: measured?.model ?? model,
        usedBackup: index > 0 || (measured?.usedBackup ?? false),
        ...(tokens ? { tokens } : {}),
        costUsd: measured?.costUsd ?? 0,
        outputTail,
      };
    } else {
      // A model models.yaml says is free costs nothing, whatever the CLI's own price table claims.
      const cost = priceIsFree(price) ? 0 : (report.costUsd ?? (report.tokens ? callCost(endpoint.kind, price, report.tokens) : 0));
      if (budget && cost > 0) budget.spend.add(today(), roundUsd(cost));
      tokens = report.tokens && spent.tokens ? addUsage(spent.tokens, report.tokens) : (report.tokens ?? spent.tokens);
      spent = { provider, model, usedBackup: index > 0, ...(tokens ? { tokens } : {}), costUsd: roundUsd((spent.costUsd ?? 0) + cost), outputTail };
    }
    const budgetRefusal = access?.budgetRefusal();
    if (budgetRefusal) {
      input.log?.info({ taskId: task.id, model: ref, ...budgetRefusal.details }, 'agent CLI stopped: the gateway refused a call for budget');
      throw withPartialOutcome(
        new PasError('PAS_ERR_BUDGET_EXHAUSTED', `${spec.name} stopped: ${budgetRefusal.message}`, { details: { ...budgetRefusal.details, executor: spec.name } }),
        spent,
      );
    }

    const proc = report.process;
    if (report.connectionError !== undefined && !input.signal.aborted) {
      const error = new PasError('PAS_ERR_LLM_CONNECTION', scrub(`${ref} (through ${spec.name}): ${report.connectionError}`), {
        details: { provider, model, executor: spec.name },
      });
      breakers?.record(ref, 'failure', probe, error.toData());
      causes.push(error.toData());
      input.log?.warn({ taskId: task.id, model: ref }, 'agent CLI could not reach the model server');
      // Behind the gateway the backup was already tried within each call.
      if (access) break;
      if (index + 1 < refs.length) input.log?.info({ from: ref, to: refs[index + 1], code: error.code }, 'failing over to backup');
      continue;
    }
    if (proc.aborted) {
      if (probe) breakers?.abandonProbe(ref);
      throw withPartialOutcome(new PasError('PAS_ERR_TASK_CANCELLED', `task ${task.id} was cancelled; ${spec.name}'s process tree was killed`, { details: { taskId: task.id } }), spent);
    }
    if (proc.timedOut) {
      if (probe) breakers?.abandonProbe(ref);
      throw withPartialOutcome(
        new PasError('PAS_ERR_TASK_TIMEOUT', `${spec.name} ran past ${timeoutMs} ms; its process tree was killed`, { details: { taskId: task.id, timeoutMs, executor: spec.name } }),
        spent,
      );
    }
    if (proc.stalled) {
      if (probe) breakers?.abandonProbe(ref);
      throw withPartialOutcome(
        new PasError('PAS_ERR_AGENT_CLI_STALLED', `${spec.name} printed no event for ${settings.stall_timeout_s} s; its process tree was killed`, {
          details: { taskId: task.id, stallTimeoutS: settings.stall_timeout_s, executor: spec.name },
        }),
        spent,
      );
    }
    if (proc.notFound) {
      if (probe) breakers?.abandonProbe(ref);
      throw withPartialOutcome(
        new PasError('PAS_ERR_AGENT_CLI_NOT_FOUND', `the ${spec.name} binary "${settings.binary}" is not installed or not on PATH (programmer_pool.yaml ${spec.section}.binary)`, {
          details: { binary: settings.binary, executor: spec.name },
        }),
        spent,
      );
    }

    const httpStatus = report.result?.httpStatus ?? report.httpStatus ?? (report.result?.ok ? undefined : spec.statusFromExit?.(proc.exitCode, proc.stderrTail));
    if (httpStatus !== undefined && !report.result?.ok) {
      const message = report.result?.message ?? report.httpMessage ?? `HTTP ${httpStatus}`;
      const retryAfterMs = report.result?.retryAfterMs;
      // A provider that asks for a wait is rate limiting, not out of quota (classifyHttpStatus).
      const code = classifyHttpStatus(endpoint.kind, httpStatus, { message, ...(retryAfterMs !== undefined ? { retryDelayMs: retryAfterMs } : {}) });
      const error = new PasError(code, scrub(`${ref} (through ${spec.name}): HTTP ${httpStatus}: ${message}`), {
        details: { provider, model, status: httpStatus, executor: spec.name, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
      });
      const counts = BREAKER_FAILURE_CODES.has(code);
      breakers?.record(ref, counts ? 'failure' : 'success', probe, counts ? error.toData() : undefined);
      causes.push(error.toData());
      input.log?.warn({ taskId: task.id, model: ref, code, status: httpStatus }, 'agent CLI run failed on a model error');
      if (access) break;
      if (index + 1 < refs.length) input.log?.info({ from: ref, to: refs[index + 1], code }, 'failing over to backup');
      continue;
    }
    // The model answered: whatever else went wrong, it was not the model's health. Without a
    // result event nothing is known about the model either way.
    if (report.result) breakers?.record(ref, 'success', probe);
    else if (probe) breakers?.abandonProbe(ref);

    if (!report.result || !report.result.ok) {
      throw withPartialOutcome(
        new PasError(
          'PAS_ERR_AGENT_CLI_FAILED',
          `${spec.name} (${ref}) ended without a successful result (exit ${proc.exitCode ?? proc.signal}${report.result?.message ? `: ${scrub(report.result.message)}` : ''}); output tail:\n${outputTail}`,
          { details: { executor: spec.name, model: ref, exitCode: proc.exitCode, outputTail } },
        ),
        spent,
      );
    }

    let edited: string[];
    try {
      edited = await checkChanges(input.worktree, guard, report.written);
    } catch (err) {
      throw withPartialOutcome(err, spent);
    }
    if (edited.length === 0) {
      throw withPartialOutcome(
        new PasError('PAS_ERR_AGENT_CLI_NO_EDITS', `${spec.name} (${ref}) reported success but changed no file`, { details: { executor: spec.name, model: ref } }),
        spent,
      );
    }
    const outcome: ExecutorOutcome = {
      summary: `${spec.name} (${spent.provider ?? provider}/${spent.model ?? model}) edited ${edited.join(', ')}${report.result.summary ? `: ${report.result.summary.slice(0, 200)}` : ''}`,
      filesEdited: edited,
      provider: spent.provider ?? provider,
      model: spent.model ?? model,
      usedBackup: spent.usedBackup ?? index > 0,
      tokens: tokens ?? { input: null, output: null },
      costUsd: spent.costUsd ?? 0,
      outputTail,
    };
    return { outcome, ref, ...(report.session ? { session: report.session } : {}) };
  }

  if (causes.length > 0 && causes.every((c) => c.code === 'PAS_ERR_BUDGET_EXHAUSTED')) {
    throw withPartialOutcome(new PasError('PAS_ERR_BUDGET_EXHAUSTED', causes.map((c) => c.message).join('; '), { details: { causes } }), spent);
  }
  const summary = refs.map((ref, i) => `${ref}: ${causes[i]?.code ?? 'not tried'}`).join('; ');
  throw withPartialOutcome(
    new PasError('PAS_ERR_LLM_ALL_FAILED', `every model failed for ${programmer.id} through ${spec.name} (${summary})`, {
      details: { causes, executor: spec.name },
      retryable: causes.every((c) => c.retryable),
    }),
    spent,
  );
}

/**
 * One run of the CLI with one model, in a private home that is removed afterwards (or kept by the
 * caller across edit–verify rounds: `round.home`, where a resumable CLI keeps its session).
 */
async function runOnce(
  options: AgentCliExecutorOptions,
  input: ExecutorInput,
  endpoint: AgentEndpoint,
  prompt: string,
  timeoutMs: number,
  round: AgentCliRound,
  access: TaskLlmAccess | undefined,
): Promise<RunReport> {
  const { spec, settings } = options;
  const home = round.home ?? agentRunHome(options.runsDir, input.task.id);
  const resume = round.home ? RESUME_SUPPORT[spec.name] : undefined;
  const tmp = path.join(home, 'tmp');
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  const report: RunReport = {
    process: undefined as unknown as AgentProcessOutcome,
    result: undefined,
    httpStatus: undefined,
    httpMessage: undefined,
    tokens: undefined,
    costUsd: undefined,
    written: [],
    retries: 0,
    connectionError: undefined,
    session: undefined,
  };
  // Stops the run (kills the tree) when the CLI reports that the model server cannot be reached,
  // or — for a CLI whose own retries cannot be capped in its config (opencode) — once it has
  // retried `max_retries` times; the run then fails on that error like any other.
  const stop = new AbortController();
  const watch = () => {
    if (stop.signal.aborted) return;
    if (report.connectionError !== undefined || (report.retries > settings.max_retries && report.httpStatus !== undefined) || access?.budgetRefusal()) stop.abort();
  };
  try {
    const ctx = { worktree: input.worktree, home, tmp, prompt, endpoint, maxTurns: settings.max_turns, maxRetries: settings.max_retries, verify: input.task.verify, settings };
    let plan = spec.plan(ctx);
    if (resume) plan = round.session ? resume.resume(plan, ctx, round.session) : (resume.resumable?.(plan) ?? plan);
    for (const [rel, content] of Object.entries(plan.files ?? {})) {
      const file = path.join(home, rel);
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(file, content, { mode: 0o600 });
    }
    const env: Record<string, string> = {
      ...baseChildEnv(options.env ?? process.env),
      HOME: home,
      TMPDIR: tmp,
      TMP: tmp,
      TEMP: tmp,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_DATA_HOME: path.join(home, '.local', 'share'),
      XDG_CACHE_HOME: path.join(home, '.cache'),
      XDG_STATE_HOME: path.join(home, '.local', 'state'),
      NO_COLOR: '1',
      TERM: 'dumb',
      CI: '1',
      ...plan.env,
    };
    report.process = await runAgentProcess({
      file: settings.binary,
      args: plan.args,
      cwd: input.worktree,
      env,
      ...(plan.stdin !== undefined ? { stdin: plan.stdin } : {}),
      timeoutMs,
      stallMs: settings.stall_timeout_s * 1000,
      signal: input.signal,
      ...(options.killGraceMs !== undefined ? { killGraceMs: options.killGraceMs } : {}),
      onLine: (line) => {
        const parsed = parseLine(line);
        absorb(report, spec.parse(parsed), input);
        if (resume) report.session ??= resume.sessionOf(parsed);
        watch();
      },
      ...(spec.parseStderr
        ? {
            onStderrLine: (line: string) => {
              absorb(report, spec.parseStderr!(line), input);
              watch();
            },
          }
        : {}),
      stop: stop.signal,
      // The moment the run is to be killed (cancel, timeout, stall, stop) its credential ends.
      ...(access ? { onKill: () => access.revoke() } : {}),
    });
  } finally {
    if (!round.home) await removeRunHome(home);
  }
  return report;
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return line; // Not JSON: the spec may still read it.
  }
}

function absorb(report: RunReport, events: readonly AgentEvent[], input: ExecutorInput): void {
  for (const event of events) {
    switch (event.type) {
      case 'progress': {
        const progress = cleanProgress(event.progress, input.worktree);
        if (progress.kind === 'file' && event.progress.path) report.written.push(event.progress.path);
        if (progress.kind === 'retry') report.retries++;
        input.onProgress?.(progress);
        break;
      }
      case 'usage':
        report.tokens = report.tokens ? addUsage(report.tokens, event.usage) : { ...event.usage };
        if (event.costUsd !== undefined) report.costUsd = (report.costUsd ?? 0) + event.costUsd;
        break;
      case 'usage.total':
        report.tokens = { ...event.usage };
        if (event.costUsd !== undefined) report.costUsd = event.costUsd;
        break;
      case 'result':
        report.result = event.result;
        break;
      case 'http.error':
        report.httpStatus = event.status;
        report.httpMessage = event.message;
        break;
      case 'connection.error':
        report.connectionError ??= event.message;
        break;
      default:
        break;
    }
  }
}

/** Progress as the feed shows it: paths relative to the worktree, texts short. */
function cleanProgress(progress: TaskProgress, worktree: string): TaskProgress {
  const out: TaskProgress = { ...progress };
  if (out.path && path.isAbsolute(out.path)) {
    const rel = path.relative(worktree, out.path);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) out.path = rel.split(path.sep).join('/');
  }
  if (out.text && out.text.length > MAX_PROGRESS_TEXT) out.text = `${out.text.slice(0, MAX_PROGRESS_TEXT - 1)}…`;
  if (out.command && out.command.length > MAX_PROGRESS_TEXT) out.command = `${out.command.slice(0, MAX_PROGRESS_TEXT - 1)}…`;
  return out;
}

/**
 * Every path the run changed must be inside the worktree and writable under fs_allowlist.yaml:
 * the paths the CLI said it wrote (an absolute one outside the worktree fails the task), then
 * what git sees changed (through a symlink that leads out fails too). Returns the changed paths.
 */
export async function checkChanges(worktree: string, guard: FsGuard, written: readonly string[]): Promise<string[]> {
  for (const raw of written) {
    const abs = path.resolve(worktree, raw);
    const rel = path.relative(worktree, abs);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new PasError('PAS_ERR_FS_PATH_ESCAPE', `the agent wrote ${JSON.stringify(raw)}, outside the task's worktree; nothing is committed`, {
        details: { path: raw, reason: 'outside the worktree' },
      });
    }
    // Inside by name, but maybe through a symlinked folder that leads out.
    await guard.resolve(rel.split(path.sep).join('/'), 'write');
  }
  const changed = await changedPaths(worktree);
  for (const rel of changed) await guard.resolve(rel, 'write');
  return changed;
}

/** Paths (relative, POSIX) that differ from HEAD in the worktree, untracked files included. */
export async function changedPaths(worktree: string): Promise<string[]> {
  // Under the checkout's git files as PAS made them: the agent's fsmonitor never runs, its excludes hide nothing.
  await restoreGitFiles(worktree);
  const out = await git(worktree, ['status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames']);
  const paths: string[] = [];
  for (const record of out.stdout.split('\0')) {
    if (record.length < 4) continue;
    paths.push(record.slice(3));
  }
  return [...new Set(paths)].sort();
}

async function resetWorktree(worktree: string): Promise<void> {
  await restoreGitFiles(worktree);
  await git(worktree, ['reset', '--hard', '--quiet']);
  await git(worktree, ['clean', '-fdq']);
}

function cancelled(taskId: string): PasError {
  return new PasError('PAS_ERR_TASK_CANCELLED', `task ${taskId} was cancelled`, { details: { taskId } });
}
