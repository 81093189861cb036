/**
 * The LLM gateway's policy, shared by the HTTP routes (src/gateway/llm-proxy) and the executors
 * that start programs: per-task credentials, which models a task may reach and in what order,
 * the daily and per-job budgets checked before every call, the adaptive per-provider concurrency,
 * and what each call measured (attributed to its job, task and programmer).
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ErrorData, ModelRef, TokenUsage } from '../../../machines/domain.ts';
import { splitModelRef, type PasConfig } from '../../config/load-config.ts';
import type { ModelsConfigFile, ProviderConfig } from '../../config/schemas.ts';
import { PasError } from '../../errors.ts';
import { providerKindOf } from '../create-adapter.ts';
import { callCost, priceIsFree } from '../prices.ts';
import type { ProtocolKind } from '../provider-errors.ts';
import { utcDay } from '../spend-store.ts';
import type { BreakerGate, SpendStore } from '../types.ts';
import { BatchedSpend } from './batched-spend.ts';
import { CallLedger, type TaskSpend } from './call-ledger.ts';
import { CredentialRegistry, type CredentialGrant, type IssuedCredential } from './credential-registry.ts';
import { ProviderLimiter, type LimiterSettings } from './provider-limiter.ts';
import type { WireKind, WireProtocol } from './wire-protocols.ts';

/** Serves a call to a `scripted` model in the caller's wire format; resolves with its usage. */
export type ScriptedWire = (
  call: { protocol: WireProtocol; model: RoutedModel; body: Record<string, unknown>; grant: CredentialGrant; stream: boolean },
  res: ServerResponse,
) => Promise<TokenUsage | null>;

export interface LlmGatewayOptions {
  models: ModelsConfigFile;
  /** programmer_pool.yaml `cost_optimization`. */
  costOptimization: { enabled: boolean; max_daily_spend_usd: number; max_job_spend_usd?: number | undefined };
  /** programmer_pool.yaml `failover.enabled`: a failed call may move to the backup model. */
  failoverEnabled: boolean;
  breakers: BreakerGate;
  spend: SpendStore;
  /** A job's own `max_job_spend_usd` (the job body), when it set one. */
  jobLimit?: (jobId: string) => number | undefined;
  limiter?: Partial<LimiterSettings>;
  /** Answers calls to `scripted` models over the wire (the offline demo). */
  scripted?: ScriptedWire;
  /** Every call goes to the scripted model (`pas demo`, offline runs): no provider is called. */
  offline?: boolean;
  /** Where real keys and base-URL overrides are read (never handed to a child). */
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  logger?: Logger;
}

/** The gateway's policy as the configs say it (models, budgets, failover, per-provider concurrency). */
export function llmGatewayOptionsFrom(config: PasConfig): Pick<LlmGatewayOptions, 'models' | 'costOptimization' | 'failoverEnabled' | 'limiter'> {
  const limits = config.pool.llm_concurrency;
  return {
    models: config.models,
    costOptimization: config.pool.cost_optimization,
    failoverEnabled: config.pool.failover.enabled,
    limiter: { initial: limits.initial, min: limits.min, max: limits.max, staggerMs: limits.stagger_ms },
  };
}

/** One model a call may go to, resolved against models.yaml. */
export interface RoutedModel {
  ref: ModelRef;
  provider: string;
  model: string;
  kind: ProtocolKind;
  config: ProviderConfig;
  paid: boolean;
}

/** The URL path under the gateway of each provider family (CONTRACT §9). */
export const LLM_PATH_PREFIX: Record<WireKind, string> = {
  anthropic: '/llm/anthropic',
  openai: '/llm/openai/v1',
  google: '/llm/gemini',
  ollama: '/llm/ollama',
};

/** What an executor gets for one task: where to send its program and what key to give it. */
export interface TaskLlmAccess {
  credential: string;
  /** The gateway's base URL for a provider family, in the form that family's SDKs expect. */
  baseUrl(kind: WireKind): string;
  /** What the gateway measured for the task so far. */
  spent(): TaskSpend | undefined;
  /** Set when the gateway refused a call of the task for budget. */
  budgetRefusal(): ErrorData | undefined;
  /** Ends the credential (a cancel, a timeout); what was measured stays readable. Idempotent. */
  revoke(): void;
  /** Ends the credential and forgets the task's measurements (after its receipt); idempotent. */
  end(): void;
}

export class LlmGateway {
  readonly credentials: CredentialRegistry;
  readonly ledger = new CallLedger();
  readonly limiter: ProviderLimiter;
  readonly env: NodeJS.ProcessEnv;
  readonly now: () => number;
  private origin: string | undefined;
  private readonly refusals = new Map<string, ErrorData>();
  private readonly spend: BatchedSpend;
  /** The job's own limit, looked up once per credential (a job's body does not change). */
  private readonly ownJobLimits = new WeakMap<CredentialGrant, { usd: number | undefined }>();
  /** A credential's models resolved against models.yaml, once. */
  private readonly grantModels = new WeakMap<CredentialGrant, RoutedModel[]>();

  constructor(readonly options: LlmGatewayOptions) {
    this.now = options.now ?? Date.now;
    this.env = options.env ?? process.env;
    this.credentials = new CredentialRegistry(this.now);
    this.limiter = new ProviderLimiter(options.limiter, this.now);
    this.spend = new BatchedSpend(options.spend, 200, (err) => options.logger?.error({ err }, 'llm gateway: could not book spend'));
    for (const [name, provider] of Object.entries(options.models.providers)) {
      if ((provider.kind ?? name) !== 'scripted') this.limiter.track(name);
    }
  }

  get logger(): Logger | undefined {
    return this.options.logger;
  }

  /** The gateway's own origin (`http://127.0.0.1:6101`), set once it listens. */
  setOrigin(origin: string | undefined): void {
    this.origin = origin;
  }

  get url(): string | undefined {
    return this.origin;
  }

  /** A credential for one task, valid until `end()` or `ttlMs`. Needs the HTTP gateway listening. */
  openTask(grant: Omit<CredentialGrant, 'expiresAt'>, ttlMs: number): TaskLlmAccess {
    const origin = this.origin;
    if (!origin) {
      throw new PasError('PAS_ERR_LLM_GATEWAY_DOWN', 'the LLM gateway is not listening: programs PAS starts reach models only through it (start the gateway, e.g. `pas up`)', {
        details: { taskId: grant.taskId },
      });
    }
    const issued: IssuedCredential = this.credentials.issue({ ...grant, ttlMs });
    return {
      credential: issued.token,
      baseUrl: (kind) => `${origin}${LLM_PATH_PREFIX[kind]}`,
      spent: () => this.ledger.task(grant.taskId),
      budgetRefusal: () => this.refusals.get(grant.taskId),
      revoke: () => issued.revoke(),
      end: () => {
        issued.revoke();
        this.spend.flush();
        this.refusals.delete(grant.taskId);
        this.ledger.forgetTask(grant.taskId);
      },
    };
  }

  /** The model `ref` resolved, or undefined when models.yaml lacks it. */
  resolve(ref: ModelRef): RoutedModel | undefined {
    const { provider, model } = splitModelRef(ref);
    const config = this.options.models.providers[provider];
    const price = config?.models[model];
    if (!config || !price) return undefined;
    return { ref, provider, model, kind: providerKindOf(provider, config), config, paid: !priceIsFree(price) };
  }

  /**
   * The models a call asking for `requested` may go to, in order: the task's model of that name
   * (then the task's later models of the same family, the backup), or — when the program asks
   * for a model the task was not given — the task's own models of that family, renamed.
   */
  route(grant: CredentialGrant, kind: WireKind, requested: string): RoutedModel[] {
    let resolved = this.grantModels.get(grant);
    if (!resolved) {
      resolved = grant.models.map((ref) => this.resolve(ref)).filter((m): m is RoutedModel => !!m);
      this.grantModels.set(grant, resolved);
    }
    // Offline, every model is the scripted one, whatever its provider (cost 0).
    const family = this.options.offline ? resolved.map((m) => ({ ...m, kind: 'scripted' as const, paid: false })) : resolved.filter((m) => m.kind === kind || m.kind === 'scripted');
    const at = family.findIndex((m) => m.model === requested);
    const chain = at >= 0 ? family.slice(at) : family;
    return this.options.failoverEnabled ? chain : chain.slice(0, 1);
  }

  /** The budget refusal for a call to `model` now, if any (daily budget, then the job's). */
  budgetRefusal(grant: CredentialGrant, model: RoutedModel): PasError | undefined {
    if (!model.paid) return undefined;
    const cost = this.options.costOptimization;
    const day = utcDay(this.now());
    if (cost.enabled) {
      const spent = this.spend.spent(day);
      if (spent >= cost.max_daily_spend_usd) {
        return new PasError('PAS_ERR_BUDGET_EXHAUSTED', `${model.ref}: today's budget is spent (${spent} of ${cost.max_daily_spend_usd} USD on ${day})`, {
          details: { ref: model.ref, day, spentUsd: spent, limitUsd: cost.max_daily_spend_usd, scope: 'day' },
        });
      }
    }
    const limit = this.grantJobLimit(grant);
    if (limit !== undefined) {
      const spent = this.ledger.jobSpent(grant.jobId);
      if (spent >= limit) {
        return new PasError('PAS_ERR_BUDGET_EXHAUSTED', `${model.ref}: job ${grant.jobId} has spent its budget (${spent} of ${limit} USD)`, {
          details: { ref: model.ref, jobId: grant.jobId, spentUsd: spent, limitUsd: limit, scope: 'job' },
        });
      }
    }
    return undefined;
  }

  /** A job's budget: its own `max_job_spend_usd`, else the configured one. */
  jobLimit(jobId: string): number | undefined {
    return this.options.jobLimit?.(jobId) ?? this.options.costOptimization.max_job_spend_usd;
  }

  /**
   * The job budget as the LLM client takes it (`LlmClientOptions.jobBudget`): in-process calls
   * (the native editor, plans) count against a job's budget together with the gateway's calls.
   */
  jobBudget(): { limit(jobId: string): number | undefined; spent(jobId: string): number; add(jobId: string, usd: number): void } {
    return { limit: (jobId) => this.jobLimit(jobId), spent: (jobId) => this.ledger.jobSpent(jobId), add: (jobId, usd) => this.ledger.addJobSpend(jobId, usd) };
  }

  /** jobLimit for a credential's job, without reading the job again on every call. */
  private grantJobLimit(grant: CredentialGrant): number | undefined {
    let own = this.ownJobLimits.get(grant);
    if (!own) {
      own = { usd: this.options.jobLimit?.(grant.jobId) };
      this.ownJobLimits.set(grant, own);
    }
    return own.usd ?? this.options.costOptimization.max_job_spend_usd;
  }

  /** Notes that a task's call was refused for budget (its subtask fails with that code). */
  noteRefusal(grant: CredentialGrant, error: PasError): void {
    this.refusals.set(grant.taskId, error.toData());
  }

  /**
   * Prices, books and attributes one answered call; returns its cost. `reported`: the call's
   * ticket reports the cost to the gate that admitted it (a worker's cluster gate, which books it
   * centrally), so it is not booked in the spend store too.
   */
  recordCall(grant: CredentialGrant, model: RoutedModel, usage: TokenUsage, usedBackup: boolean, reported = false): number {
    const price = model.config.models[model.model]!;
    const costUsd = model.kind === 'scripted' ? 0 : callCost(model.kind, price, usage);
    if (costUsd > 0 && !reported) this.spend.addForTask(utcDay(this.now()), costUsd, { taskId: grant.taskId, tokens: usage, model: model.ref });
    this.ledger.record({ jobId: grant.jobId, taskId: grant.taskId, programmerId: grant.programmerId, provider: model.provider, model: model.model, usedBackup, usage, costUsd });
    this.logger?.info(
      { jobId: grant.jobId, taskId: grant.taskId, agentId: grant.programmerId, ref: model.ref, usedBackup, usage, costUsd },
      'llm gateway call',
    );
    return costUsd;
  }

  stop(): void {
    this.spend.flush();
    this.limiter.stop();
  }
}
