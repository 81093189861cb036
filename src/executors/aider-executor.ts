/**
 * The Aider executor: runs the Aider CLI (never through a shell) non-interactively in the task's
 * worktree with the programmer's model, then reads its output to learn what it did. Aider's exit
 * code is not trusted: success is at least one `Applied edit to` line. A run with no edit is
 * retried once with the backup model. Timeouts and cancels kill aider's whole process tree.
 */
import path from 'node:path';
import { splitModelRef } from '../config/load-config.ts';
import type { FsAllowlist, ModelsConfigFile, PoolConfigFile } from '../config/schemas.ts';
import { PasError } from '../errors.ts';
import type { LlmGateway, TaskLlmAccess } from '../llm/gateway/llm-gateway.ts';
import type { WireKind } from '../llm/gateway/wire-protocols.ts';
import { createMoneyPolicy, type MoneyPolicy } from '../llm/money-policy.ts';
import { parseAiderOutput } from './aider-output.ts';
import type { Executor, ExecutorInput, ExecutorOutcome, PartialOutcome } from './executor.ts';
import { addUsage, withPartialOutcome } from './executor.ts';
import { FsGuard, normalizeRelativePath } from './fs-guard.ts';
import { baseChildEnv, runProcessTree, tailLines } from './process-tree.ts';
import { roundUsd } from '../llm/prices.ts';

export interface AiderExecutorOptions {
  fsAllowlist: FsAllowlist;
  models: ModelsConfigFile;
  /** `programmer_pool.yaml` → `aider`. */
  aider: PoolConfigFile['aider'];
  /** Where provider keys and base-URL overrides are read from; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  killGraceMs?: number;
  /** Extra variables for the aider process (AIDER_* settings, test doubles); set after the provider's. */
  extraEnv?: Record<string, string>;
  /** Run once more with the backup model when the primary applied no edit (default true). */
  fallbackToBackup?: boolean;
  /**
   * The money policy: aider's tokens are priced by models.yaml like every other call and added
   * to the daily spend; once the budget is spent aider is not run with a paid model. Default: the
   * models' prices with no budget and an in-memory spend.
   */
  money?: MoneyPolicy;
  /**
   * The LLM gateway (CONTRACT §9): when given, aider gets PAS's base URL and a per-task credential
   * instead of the provider's, every call passes PAS's policy, and the receipt's usage is what
   * the gateway measured. Real keys never reach aider.
   */
  gateway?: LlmGateway;
}

export const OUTPUT_TAIL_LINES = 40;

/** The model name aider (litellm) expects for a PAS `provider/model`. */
export function aiderModelName(models: ModelsConfigFile, ref: string): string {
  const { provider, model } = splitModelRef(ref);
  const kind = providerKind(models, ref);
  switch (kind) {
    case 'ollama':
      return `ollama_chat/${model}`;
    case 'anthropic':
      return `anthropic/${model}`;
    case 'openai':
      return `openai/${model}`;
    case 'google':
      return `gemini/${model}`;
    default:
      throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `aider cannot run ${ref}: provider "${provider}" (${kind}) has no aider equivalent`, {
        details: { ref },
      });
  }
}

function providerKind(models: ModelsConfigFile, ref: string): string {
  const { provider, model } = splitModelRef(ref);
  const config = models.providers[provider];
  if (!config || !config.models[model]) {
    throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `model "${ref}" is not in models.yaml`, { details: { ref } });
  }
  return config.kind ?? provider;
}

/** The variables litellm reads for each provider kind's key and base URL. */
const LITELLM_ENV: Record<WireKind, { key: string; base: string }> = {
  ollama: { key: 'OLLAMA_API_KEY', base: 'OLLAMA_API_BASE' },
  openai: { key: 'OPENAI_API_KEY', base: 'OPENAI_API_BASE' },
  anthropic: { key: 'ANTHROPIC_API_KEY', base: 'ANTHROPIC_API_BASE' },
  google: { key: 'GEMINI_API_KEY', base: 'GEMINI_API_BASE' },
};

const litellmEnv = (kind: string) => (Object.hasOwn(LITELLM_ENV, kind) ? LITELLM_ENV[kind as WireKind] : undefined);

const aiderBaseEnv = (source: NodeJS.ProcessEnv): Record<string, string> => ({ ...baseChildEnv(source), TERM: 'dumb', NO_COLOR: '1', PYTHONIOENCODING: 'utf-8' });

/**
 * The environment aider runs with: the basics (PATH, HOME, locale) plus only the key and base
 * URL of the model's own provider, under the names litellm reads.
 */
export function aiderEnv(models: ModelsConfigFile, ref: string, source: NodeJS.ProcessEnv): Record<string, string> {
  const { provider } = splitModelRef(ref);
  const config = models.providers[provider]!;
  const kind = providerKind(models, ref);
  const key = config.api_key_env ? source[config.api_key_env] : undefined;
  const override = config.base_url_env ? source[config.base_url_env] : undefined;
  const base = override ?? config.base_url;

  const env = aiderBaseEnv(source);
  const names = litellmEnv(kind);
  if (!names) return env;
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined && value !== '') env[name] = value;
  };
  // Direct to the provider, as aider always did: Ollama needs no key, Gemini keeps litellm's own base URL.
  if (kind !== 'ollama') set(names.key, key);
  if (kind !== 'google') set(names.base, base);
  return env;
}

/**
 * The environment aider runs with behind the LLM gateway: the basics plus the gateway's base URL
 * for the model's provider family and the task's credential, under the names litellm reads.
 */
export function aiderGatewayEnv(models: ModelsConfigFile, ref: string, access: Pick<TaskLlmAccess, 'baseUrl' | 'credential'>, source: NodeJS.ProcessEnv): Record<string, string> {
  const kind = providerKind(models, ref);
  const env = aiderBaseEnv(source);
  const names = litellmEnv(kind);
  if (names) {
    env[names.base] = access.baseUrl(kind as WireKind);
    env[names.key] = access.credential;
  }
  return env;
}

export function aiderArgs(input: { instruction: string; model: string; editFormat: string; files: readonly string[] }): string[] {
  return [
    `--message=${input.instruction}`,
    '--yes-always',
    `--model=${input.model}`,
    `--edit-format=${input.editFormat}`,
    '--no-check-update',
    '--analytics-disable',
    '--no-auto-commits',
    '--no-git',
    '--no-pretty',
    '--no-stream',
    '--no-show-model-warnings',
    '--',
    ...input.files,
  ];
}

/** The folder aider (without git) treats as its root: the common folder of the files it was given. */
export function aiderRoot(worktree: string, files: readonly string[]): string {
  if (files.length === 0) return worktree;
  const abs = files.map((f) => path.resolve(worktree, f));
  if (abs.length === 1) return path.dirname(abs[0]!);
  let common = path.dirname(abs[0]!);
  for (const file of abs.slice(1)) {
    while (!(file + path.sep).startsWith(common + path.sep) && common !== path.dirname(common)) common = path.dirname(common);
  }
  return common;
}

export function createAiderExecutor(options: AiderExecutorOptions): Executor {
  return { kind: 'aider', run: (input) => runAider(options, input) };
}

async function runAider(options: AiderExecutorOptions, input: ExecutorInput): Promise<ExecutorOutcome> {
  const { task, programmer, signal } = input;
  const source = options.env ?? process.env;
  const guard = new FsGuard(input.worktree, options.fsAllowlist);
  const files: string[] = [];
  for (const raw of task.files) {
    const rel = normalizeRelativePath(raw);
    await guard.resolve(rel, 'write');
    files.push(rel);
  }

  const refs = [programmer.primary, ...(programmer.backup && options.fallbackToBackup !== false ? [programmer.backup] : [])];
  const timeoutMs = Math.min(options.aider.timeout_s * 1000, task.timeoutMs ?? Number.POSITIVE_INFINITY);
  const root = aiderRoot(input.worktree, files);
  let spent: PartialOutcome = {};
  let lastTail = '';
  const money = options.money ?? createMoneyPolicy({ models: options.models, costOptimization: { enabled: false, max_daily_spend_usd: 0 } });
  const refused: PasError[] = [];
  // One credential for the whole task; it ends with the task, whatever happens.
  const access = options.gateway?.openTask({ jobId: task.jobId, taskId: task.id, programmerId: programmer.id, models: refs }, timeoutMs + 60_000);
  // A cancel or timeout ends the credential at once, before aider's process tree is even killed.
  const revoke = () => access?.revoke();
  signal.addEventListener('abort', revoke, { once: true });
  try {
    return await runAiderModels();
  } finally {
    signal.removeEventListener('abort', revoke);
    access?.end();
  }

  async function runAiderModels(): Promise<ExecutorOutcome> {
  for (const [index, ref] of refs.entries()) {
    const { provider, model } = splitModelRef(ref);
    const refusal = money.checkBudget(ref);
    if (refusal) {
      input.log?.info({ taskId: task.id, model: ref, ...refusal.details }, 'paid model skipped: budget spent');
      refused.push(refusal);
      continue;
    }
    const args = aiderArgs({ instruction: task.instruction, model: aiderModelName(options.models, ref), editFormat: options.aider.edit_format, files });
    input.log?.info({ taskId: task.id, model: ref, files }, 'running aider');
    const run = await runProcessTree({
      file: options.aider.binary,
      args,
      cwd: input.worktree,
      env: { ...(access ? aiderGatewayEnv(options.models, ref, access, source) : aiderEnv(options.models, ref, source)), ...options.extraEnv },
      timeoutMs,
      signal,
      ...(options.killGraceMs !== undefined ? { killGraceMs: options.killGraceMs } : {}),
      // A timeout ends the credential at once too, not after the kill grace.
      onKill: revoke,
    });
    if (run.notFound) {
      throw withPartialOutcome(
        new PasError('PAS_ERR_AIDER_NOT_FOUND', `the aider binary "${options.aider.binary}" is not on PATH`, { details: { binary: options.aider.binary } }),
        spent,
      );
    }

    const output = run.all;
    lastTail = tailLines(output, OUTPUT_TAIL_LINES);
    const report = parseAiderOutput(output);
    const measured = access?.spent();
    if (measured) {
      // What the gateway measured (it already booked the cost), whatever aider printed.
      spent = { provider: measured.provider, model: measured.model, usedBackup: index > 0 || measured.usedBackup, tokens: measured.tokens, costUsd: measured.costUsd, outputTail: lastTail };
    } else {
      // One pricing rule: tokens aider reported are priced by models.yaml (cache tokens included);
      // its own printed cost (litellm's prices, rounded for display) only when it printed no tokens.
      const cost = report.tokens ? money.price(ref, report.tokens) : (report.costUsd ?? 0);
      money.charge(cost);
      // A run that printed no Tokens line (an API error) adds nothing; none at all leaves usage unknown.
      const tokens = report.tokens && spent.tokens ? addUsage(spent.tokens, report.tokens) : (report.tokens ?? spent.tokens);
      spent = {
        provider,
        model,
        usedBackup: index > 0,
        ...(tokens ? { tokens } : {}),
        costUsd: roundUsd((spent.costUsd ?? 0) + cost),
        outputTail: lastTail,
      };
    }
    const gatewayRefusal = access?.budgetRefusal();
    if (gatewayRefusal) {
      throw withPartialOutcome(new PasError('PAS_ERR_BUDGET_EXHAUSTED', `aider stopped: ${gatewayRefusal.message}`, { details: { ...gatewayRefusal.details, outputTail: lastTail } }), spent);
    }

    if (run.aborted) {
      throw withPartialOutcome(new PasError('PAS_ERR_TASK_CANCELLED', `task ${task.id} was cancelled; aider's process tree was killed`, { details: { taskId: task.id } }), spent);
    }
    if (run.timedOut) {
      throw withPartialOutcome(
        new PasError('PAS_ERR_TASK_TIMEOUT', `aider ran past ${timeoutMs} ms; its process tree was killed`, { details: { taskId: task.id, timeoutMs, outputTail: lastTail } }),
        spent,
      );
    }
    if (report.applied.length > 0) {
      const edited = report.applied.map((p) => path.relative(input.worktree, path.resolve(root, p)).split(path.sep).join('/'));
      return {
        summary: `aider (${ref}) applied edits to ${edited.join(', ')}`,
        filesEdited: edited,
        provider: spent.provider ?? provider,
        model: spent.model ?? model,
        usedBackup: spent.usedBackup ?? index > 0,
        tokens: spent.tokens ?? { input: null, output: null },
        costUsd: spent.costUsd ?? 0,
        outputTail: lastTail,
      };
    }
    input.log?.warn({ taskId: task.id, model: ref, exitCode: run.exitCode }, 'aider applied no edit');
  }

  if (refused.length === refs.length) {
    const { day, spentUsd, limitUsd } = refused[0]!.details;
    const models = refs;
    throw withPartialOutcome(
      new PasError('PAS_ERR_BUDGET_EXHAUSTED', `${models.join(', ')}: today's budget is spent (${spentUsd} of ${limitUsd} USD on ${day}); aider was not run`, {
        details: { models, day, spentUsd, limitUsd },
      }),
      spent,
    );
  }
  throw withPartialOutcome(
    new PasError('PAS_ERR_AIDER_NO_EDITS', `aider applied no edit (tried ${refs.join(', ')}); output tail:\n${lastTail}`, {
      details: { models: refs, outputTail: lastTail },
    }),
    spent,
  );
}
}
