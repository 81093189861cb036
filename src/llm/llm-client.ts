/**
 * The LLM client: one call = primary while its breaker admits, retries for retryable errors,
 * then the backup with the same policy; breakers hear every sent call's outcome; prices give
 * the cost; the daily budget refuses paid models once spent. Policy table: docs/llm-errors.md.
 */
import pino, { type Logger } from 'pino';
import type { ErrorData, ModelRef, TokenUsage } from '../../machines/domain.ts';
import { splitModelRef, type PasConfig } from '../config/load-config.ts';
import type { ModelsConfigFile, PoolConfigFile } from '../config/schemas.ts';
import { breakerCauseText, describeCause } from './breaker-cause.ts';
import { PasError, type ErrorCode } from '../errors.ts';
import { lazyAdapters } from './create-adapter.ts';
import { createMoneyPolicy, type MoneyPolicy } from './money-policy.ts';
import type { FetchLike } from './provider-http.ts';
import { redactSecrets, redactValue, registerSecretEnvNames } from '../redaction.ts';
import { abortableSleep } from './sleep.ts';
import type { BreakerGate, CallTicket, ChatRequest, ChatResponse, LlmAttempt, LlmCallOptions, LlmCallResult, LlmClient, ProviderAdapter, SpendStore } from './types.ts';

/** Failures that say the model is unhealthy and count towards opening its breaker. */
export const BREAKER_FAILURE_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'PAS_ERR_LLM_RATE_LIMITED',
  'PAS_ERR_LLM_OVERLOADED',
  'PAS_ERR_LLM_SERVER',
  'PAS_ERR_LLM_TIMEOUT',
  'PAS_ERR_LLM_CONNECTION',
  'PAS_ERR_LLM_STREAM',
  'PAS_ERR_LLM_MALFORMED',
  'PAS_ERR_LLM_AUTH',
  'PAS_ERR_LLM_QUOTA',
]);

/** A retry-after longer than this is not waited for: the call moves on to the backup. */
export const DEFAULT_MAX_RETRY_WAIT_MS = 60_000;

export interface LlmClientOptions {
  models: ModelsConfigFile;
  /** programmer_pool.yaml `failover` (`circuit_breaker` there configures the BreakerRegistry). */
  failover: Pick<PoolConfigFile['failover'], 'enabled' | 'max_retries' | 'retry_delay_s'>;
  /** programmer_pool.yaml `cost_optimization`. */
  costOptimization: Pick<PoolConfigFile['cost_optimization'], 'enabled' | 'max_daily_spend_usd'>;
  breakers: BreakerGate;
  spend: SpendStore;
  /** The money policy (prices, budget); built from models, costOptimization, spend and now when omitted. */
  money?: MoneyPolicy;
  /** Adapters by provider name, overriding the ones built from models.yaml. */
  adapters?: Record<string, ProviderAdapter>;
  /** Route every call to the scripted adapter (cost 0; `model` stays the configured name). */
  offline?: boolean;
  /** The adapter offline mode uses; default `adapters.scripted`, else models.yaml's scripted provider. */
  scripted?: ProviderAdapter;
  /** The configs folder (a scripted provider's cassette is relative to it). */
  configDir?: string;
  env?: NodeJS.ProcessEnv;
  fetch?: FetchLike;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  logger?: Logger;
  maxRetryWaitMs?: number;
  /**
   * A job's own budget (`max_job_spend_usd`), shared with the LLM gateway so in-process calls and
   * calls of programs PAS starts count against the same total. Calls without a jobId are not limited.
   */
  jobBudget?: { limit(jobId: string): number | undefined; spent(jobId: string): number; add(jobId: string, usd: number): void };
}

interface ModelOutcome {
  ok: boolean;
  response?: ChatResponse;
  costUsd?: number;
  error?: PasError;
}

function scrub(err: PasError, env: NodeJS.ProcessEnv): PasError {
  const message = redactSecrets(err.message, env);
  const details = redactValue(err.details, env);
  if (message === err.message && JSON.stringify(details) === JSON.stringify(err.details)) return err;
  return new PasError(err.code, message, { details, retryable: err.retryable, cause: err.cause });
}

/** Anything an adapter throws, as a PasError (a non-PasError from a custom adapter counts as a server fault). */
function asPasError(err: unknown, ref: ModelRef, env: NodeJS.ProcessEnv): PasError {
  if (err instanceof PasError) return scrub(err, env);
  const text = err instanceof Error ? err.message : String(err);
  return new PasError('PAS_ERR_LLM_SERVER', redactSecrets(`${ref}: adapter failed: ${text}`, env), { details: { ref }, cause: err });
}

function cancelled(ref: ModelRef, cause: unknown): PasError {
  return new PasError('PAS_ERR_TASK_CANCELLED', `${ref}: LLM call cancelled by the caller`, { details: { ref }, cause });
}

export function createLlmClient(options: LlmClientOptions): LlmClient {
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'llm' });
  const maxRetryWaitMs = options.maxRetryWaitMs ?? DEFAULT_MAX_RETRY_WAIT_MS;
  const failoverOn = options.failover.enabled;
  const maxRetries = failoverOn ? options.failover.max_retries : 0;
  const retryDelayMs = Math.round(options.failover.retry_delay_s * 1000);
  registerSecretEnvNames(options.models);
  const money = options.money ?? createMoneyPolicy({ models: options.models, costOptimization: options.costOptimization, spend: options.spend, now });

  const adapterOpts: Parameters<typeof lazyAdapters>[1] = { env };
  if (options.fetch) adapterOpts.fetch = options.fetch;
  if (options.configDir) adapterOpts.configDir = options.configDir;
  const built = lazyAdapters(options.models, adapterOpts);
  const adapterFor = (provider: string): ProviderAdapter | undefined => options.adapters?.[provider] ?? built(provider);
  const scriptedAdapter = (): ProviderAdapter | undefined => {
    if (options.scripted) return options.scripted;
    if (options.adapters?.scripted) return options.adapters.scripted;
    const name = Object.entries(options.models.providers).find(([n, p]) => (p.kind ?? n) === 'scripted')?.[0];
    return name ? built(name) : undefined;
  };

  async function callModel(
    ref: ModelRef,
    request: ChatRequest,
    attempts: LlmAttempt[],
    state: { tokenSeen: boolean },
    log: Logger,
  ): Promise<ModelOutcome> {
    const { provider, model } = splitModelRef(ref);
    const providerConfig = options.models.providers[provider];
    const price = providerConfig?.models[model];
    const fail = (error: PasError, extra: Partial<LlmAttempt> = {}): ModelOutcome => {
      attempts.push({ ref, ok: false, error: error.toData(), ...extra });
      return { ok: false, error };
    };
    if (!providerConfig || !price) {
      return fail(new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `${ref} is not in models.yaml`, { details: { ref } }));
    }
    const offline = options.offline === true;
    let adapter: ProviderAdapter | undefined;
    try {
      adapter = offline ? scriptedAdapter() : adapterFor(provider);
    } catch (err) {
      return fail(asPasError(err, ref, env));
    }
    if (!adapter) {
      return fail(new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `${ref}: no adapter for provider "${offline ? 'scripted' : provider}"`, { details: { ref } }));
    }

    const paid = !offline && money.isPaid(ref);
    for (let attempt = 0; ; attempt++) {
      const refusal = offline ? undefined : money.checkBudget(ref);
      if (refusal) {
        log.info({ ref, ...refusal.details }, 'paid model skipped: budget spent');
        return fail(refusal, { skipped: 'budget' });
      }
      const jobId = request.meta?.jobId;
      const jobLimit = paid && jobId && options.jobBudget ? options.jobBudget.limit(jobId) : undefined;
      if (jobId && jobLimit !== undefined) {
        const spent = options.jobBudget!.spent(jobId);
        if (spent >= jobLimit) {
          const error = new PasError('PAS_ERR_BUDGET_EXHAUSTED', `${ref}: job ${jobId} has spent its budget (${spent} of ${jobLimit} USD)`, {
            details: { ref, jobId, spentUsd: spent, limitUsd: jobLimit, scope: 'job' },
          });
          log.info({ ref, jobId, spent, limit: jobLimit }, 'paid model skipped: job budget spent');
          return fail(error, { skipped: 'budget' });
        }
      }
      // A gate that asks elsewhere (a worker asking the cluster's central process) admits
      // asynchronously and refuses with its own code; the in-process registry answers at once.
      let ticket: CallTicket | undefined;
      if (options.breakers.admitCall) {
        try {
          ticket = await options.breakers.admitCall(ref, { ...(request.meta?.agentId ? { agentId: request.meta.agentId } : {}), ...(jobId ? { jobId } : {}), ...(request.meta?.taskId ? { taskId: request.meta.taskId } : {}), ...(request.signal ? { signal: request.signal } : {}) });
        } catch (err) {
          if (request.signal?.aborted) throw cancelled(ref, err);
          const error = asPasError(err, ref, env);
          const skipped = error.code === 'PAS_ERR_BUDGET_EXHAUSTED' ? 'budget' : error.code === 'PAS_ERR_LLM_BREAKER_OPEN' ? 'breaker_open' : undefined;
          log.info({ ref, code: error.code }, 'model skipped: the gate refused the call');
          return fail(error, skipped ? { skipped } : {});
        }
      }
      const admission = ticket ? ticket.admission : options.breakers.admit(ref);
      if (admission === 'reject') {
        const why = breakerCauseText(options.breakers.recentFailures?.(ref) ?? []);
        const error = new PasError('PAS_ERR_LLM_BREAKER_OPEN', `${ref}: circuit breaker is ${options.breakers.state(ref)}${why ? ` after ${why}` : ''}`, {
          details: { ref, state: options.breakers.state(ref), ...(why ? { cause: why } : {}) },
        });
        log.info({ ref, cause: why }, 'model skipped: breaker open');
        return fail(error, { skipped: 'breaker_open' });
      }
      const probe = admission === 'probe';
      const started = now();
      log.debug({ ref, attempt, probe, stream: request.stream === true }, 'llm call');
      let response: ChatResponse;
      try {
        response = await adapter.chat(model, request);
      } catch (raw) {
        if (request.signal?.aborted) {
          if (ticket) ticket.finish('abandoned');
          else if (probe) options.breakers.abandonProbe(ref);
          throw cancelled(ref, raw);
        }
        const error = asPasError(raw, ref, env);
        const data = error.toData();
        const counts = BREAKER_FAILURE_CODES.has(error.code);
        if (ticket) ticket.finish(counts ? 'failure' : 'success', counts ? { error: data } : {});
        else options.breakers.record(ref, counts ? 'failure' : 'success', probe, counts ? data : undefined);
        attempts.push({ ref, ok: false, error: data });
        log.warn({ ref, attempt, probe, error: data, ms: now() - started }, 'llm call failed');
        if (state.tokenSeen) return { ok: false, error };
        const retryAfterMs = typeof error.details.retryAfterMs === 'number' ? error.details.retryAfterMs : 0;
        if (!error.retryable || attempt >= maxRetries || retryAfterMs > maxRetryWaitMs) return { ok: false, error };
        try {
          await sleep(Math.max(retryDelayMs, retryAfterMs), request.signal);
        } catch (abort) {
          throw cancelled(ref, abort);
        }
        continue;
      }
      const costUsd = offline ? 0 : money.price(ref, response.usage);
      if (ticket) ticket.finish('success', { usage: response.usage, costUsd });
      else options.breakers.record(ref, 'success', probe);
      money.charge(costUsd, request.meta?.taskId ? { taskId: request.meta.taskId, tokens: response.usage, model: ref } : undefined);
      if (costUsd > 0 && request.meta?.jobId) options.jobBudget?.add(request.meta.jobId, costUsd);
      attempts.push({ ref, ok: true });
      log.debug({ ref, attempt, probe, usage: response.usage, costUsd, ms: now() - started }, 'llm call succeeded');
      const out: ChatResponse = { ...response, provider: offline ? 'scripted' : response.provider, model };
      return { ok: true, response: out, costUsd };
    }
  }

  return {
    async call(call: LlmCallOptions): Promise<LlmCallResult> {
      const log = logger.child({ agentId: call.agentId });
      const refs: ModelRef[] = [call.primary];
      if (call.backup && failoverOn && call.backup !== call.primary) refs.push(call.backup);
      const attempts: LlmAttempt[] = [];
      const state = { tokenSeen: false };
      const userOnToken = call.request.onToken;
      const request: ChatRequest = userOnToken
        ? {
            ...call.request,
            onToken: (delta) => {
              state.tokenSeen = true;
              userOnToken(delta);
            },
          }
        : call.request;
      const failures: PasError[] = [];
      for (const [index, ref] of refs.entries()) {
        if (request.signal?.aborted) throw cancelled(ref, request.signal.reason);
        const outcome = await callModel(ref, request, attempts, state, log);
        if (outcome.ok && outcome.response) {
          return { ...outcome.response, ref, usedBackup: index > 0, costUsd: outcome.costUsd ?? 0, attempts };
        }
        const error = outcome.error!;
        failures.push(error);
        if (state.tokenSeen) {
          // Text already reached the caller: switching models now would splice two replies.
          throw new PasError(error.code, error.message, {
            details: { ...error.details, ref, afterFirstToken: true, attempts },
            retryable: error.retryable,
            cause: error,
          });
        }
        if (index + 1 < refs.length) log.info({ from: ref, to: refs[index + 1], code: error.code }, 'failing over to backup');
      }
      const causes: ErrorData[] = failures.map((f) => f.toData());
      if (causes.every((c) => c.code === 'PAS_ERR_BUDGET_EXHAUSTED')) {
        throw new PasError('PAS_ERR_BUDGET_EXHAUSTED', failures.map((f) => f.message).join('; '), { details: { causes, attempts } });
      }
      const summary = refs.map((ref, i) => describeCause(ref, causes[i])).join('; ');
      throw new PasError('PAS_ERR_LLM_ALL_FAILED', `every model failed for ${call.agentId} (${summary})`, {
        details: { causes, attempts },
        retryable: causes.every((c) => c.retryable),
      });
    },
  };
}

/** BreakerRegistry settings from programmer_pool.yaml `failover.circuit_breaker`. */
export function breakerSettingsFrom(cb: PoolConfigFile['failover']['circuit_breaker']): {
  enabled: boolean;
  failureThreshold: number;
  windowMs: number;
  cooldownMs: number;
} {
  return {
    enabled: cb.enabled,
    failureThreshold: cb.failure_threshold,
    windowMs: Math.round(cb.window_minutes * 60_000),
    cooldownMs: Math.round(cb.cooldown_minutes * 60_000),
  };
}

/** Usage of a call that never produced a reply (receipts of failed tasks): nothing reported. */
export function emptyUsage(): TokenUsage {
  return { input: null, output: null };
}

/** The config-derived part of LlmClientOptions, from a loaded configs folder. */
export function llmClientOptionsFrom(config: PasConfig): Pick<LlmClientOptions, 'models' | 'failover' | 'costOptimization' | 'configDir'> {
  return {
    models: config.models,
    failover: config.pool.failover,
    costOptimization: config.pool.cost_optimization,
    configDir: config.dir,
  };
}
