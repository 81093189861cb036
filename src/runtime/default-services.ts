/**
 * The real I/O behind the statecharts, built from config: the LLM client (adapters, failover,
 * breakers, the money policy), the LLM gateway every program PAS starts calls through, the
 * receipts, the executors (native, aider, the agent CLIs), and the four activities (services/),
 * which share one repository resolver and one orphan sweep; executors report progress to the
 * runtime's ProgressBoard.
 */
import path from 'node:path';
import { PasError } from '../errors.ts';
import { AGENT_CLI_SPECS, createAgentCliExecutor, createAiderExecutor, createNativeExecutor, type Executor, type ExecutorKindName } from '../executors/index.ts';
import { createLlmClient, llmClientOptionsFrom, ReceiptWriter } from '../llm/index.ts';
import { LlmGateway, llmGatewayOptionsFrom } from '../llm/gateway/llm-gateway.ts';
import { mountScriptedWire, type WireServe } from '../llm/gateway/scripted-mount.ts';
import { createOfflineAdapter } from '../llm/providers/offline-adapter.ts';
import { createScriptedWire } from '../llm/wire/scripted-wire.ts';
import type { LlmClient, ProviderAdapter } from '../llm/types.ts';
import type { RuntimeServices, ServiceContext } from './runtime-types.ts';
import { createClassifyLane } from './services/classify-lane.ts';
import { createExecuteTask } from './services/execute-task.ts';
import { createMergeJob } from './services/merge-job.ts';
import { createOrphanSweep } from './services/orphan-sweep.ts';
import { createPlanJob } from './services/plan-job.ts';
import { startPrewarm, type Prewarm } from './services/prewarm-checkouts.ts';
import { closeCheckoutWatches, configureCheckoutWatches } from '../executors/checkout-changes.ts';
import { createRepositories } from './services/repositories.ts';
import { createVerifyJob } from './services/verify-job.ts';

export { ensureScratchRepo } from './services/repositories.ts';

export interface DefaultServiceOptions {
  /** Route every LLM call to the scripted provider (the demo, tests). */
  offline?: boolean;
  /** The scripted adapter to use (default: the cassette named in models.yaml). */
  scripted?: ProviderAdapter;
  /** Replace provider adapters (tests against local protocol servers use real adapters instead). */
  adapters?: Record<string, ProviderAdapter>;
  fetch?: typeof fetch;
  /** The scripted model in every wire format, mounted on the LLM gateway for `scripted` models and offline runs. */
  scriptedWire?: WireServe;
}

export function createDefaultServices(options: DefaultServiceOptions = {}) {
  return (ctx: ServiceContext): RuntimeServices & { llm: LlmClient; receipts: ReceiptWriter; llmGateway: LlmGateway; prewarm: Prewarm } => {
    const { config, logger, journal, breakers, runId, dataDir, llmSettings } = ctx;
    const scriptedAdapter = options.scripted ?? (options.offline ? createOfflineAdapter(config.models, config.dir) : undefined);
    // Offline, programs PAS starts (agent CLIs) reach the same scripted model over the gateway, in their own wire format.
    const scriptedWire = options.scriptedWire ?? (options.offline && scriptedAdapter ? createScriptedWire(scriptedAdapter) : undefined);
    const receipts = new ReceiptWriter(path.join(dataDir, 'receipts'), runId);
    // Every model call aider and the agent CLIs make passes through this policy.
    const llmGateway = new LlmGateway({
      ...llmGatewayOptionsFrom(config),
      breakers,
      spend: journal.spendStore(),
      jobLimit: (jobId) => journal.getJob(jobId)?.spec.maxJobSpendUsd,
      logger: logger.child({ component: 'llm-gateway' }),
      now: () => ctx.now().getTime(),
      ...(options.offline ? { offline: true } : {}),
      ...(scriptedWire ? { scripted: mountScriptedWire(scriptedWire) } : {}),
    });
    const llm = createLlmClient({
      ...llmClientOptionsFrom(config),
      breakers,
      spend: journal.spendStore(),
      money: ctx.money,
      logger: logger.child({ component: 'llm' }),
      ...(options.offline ? { offline: true } : {}),
      ...(scriptedAdapter ? { scripted: scriptedAdapter } : {}),
      ...(options.adapters ? { adapters: options.adapters } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      // In-process calls (the native editor, plans) count against a job's budget like gateway calls.
      jobBudget: llmGateway.jobBudget(),
    });
    const workspacesDir = path.join(dataDir, 'workspaces');
    const budget = {
      enabled: config.pool.cost_optimization.enabled,
      maxDailySpendUsd: config.pool.cost_optimization.max_daily_spend_usd,
      spend: journal.spendStore(),
      now: () => ctx.now().getTime(),
    };
    const executors: Partial<Record<ExecutorKindName, Executor>> = {
      native: createNativeExecutor({ fsAllowlist: config.fsAllowlist }),
      aider: createAiderExecutor({
        fsAllowlist: config.fsAllowlist,
        models: config.models,
        aider: config.pool.aider,
        gateway: llmGateway,
        money: ctx.money,
      }),
    };
    for (const spec of Object.values(AGENT_CLI_SPECS)) {
      executors[spec.name] = createAgentCliExecutor({
        spec,
        settings: config.pool[spec.section as 'claude_code'],
        fsAllowlist: config.fsAllowlist,
        models: config.models,
        runsDir: path.join(dataDir, 'agent-runs'),
        breakers,
        failover: config.pool.failover.enabled,
        budget,
        gateway: llmGateway,
      });
    }
    const executorFor = (kind: ExecutorKindName): Executor => {
      const executor = executors[kind];
      if (!executor) throw new PasError('PAS_ERR_CONFIG_INVALID', `programmer_pool.yaml: executor "${kind}" is not available in this build`, { details: { executor: kind } });
      return executor;
    };
    const repositories = createRepositories(dataDir);
    // Built before the runtime recovers and starts: whatever a killed run left is an orphan.
    const sweep = createOrphanSweep({ journal, repositories, workspacesDir, logger });
    // The checkouts of the repositories this run is known to work on, made in the background.
    const needsCheckout = (p: { executor: ExecutorKindName }) => executors[p.executor] !== undefined && executors[p.executor]!.checkout !== 'none';
    // A reused checkout whose changes cannot be watched (fs.inotify limits, PAS's share of them) falls back to full resets: said once, here.
    configureCheckoutWatches(config.pool.checkouts.max_watches, (message, code) => logger.warn({ code }, message));
    const prewarm = startPrewarm({ config, journal, repositories, workspacesDir, sweep, logger, needsCheckout });

    return {
      llm,
      receipts,
      llmGateway,
      executeTask: createExecuteTask({ config, journal, llm, llmSettings, executorFor, receipts, runId, workspacesDir, repositories, sweep, logger, ...(ctx.progress ? { progress: ctx.progress } : {}) }),
      // `pas up --offline` (no scripted adapter of the caller's own): each job says its edits are synthetic.
      planJob: createPlanJob({ config, llm, llmSettings, repositories, journal, logger, offlineNote: options.offline === true && !options.scripted }),
      mergeJob: createMergeJob({ repositories, sweep, workspacesDir, logger }),
      verifyJob: createVerifyJob({ cmdAllowlist: config.cmdAllowlist, workspacesDir, fixupRounds: config.pas.verify.fixup_rounds, logger }),
      classifyLane: createClassifyLane({ llm, llmSettings, architectId: config.pas.architect.agent_id }),
      prewarm,
      // The sweep of what a killed run left works in the data dir too: a stop waits for it.
      stop: async () => {
        await prewarm.stop();
        await sweep.afterCrash;
        // Every checkout's watches given back (the next start resets each checkout once anyway).
        closeCheckoutWatches();
      },
    };
  };
}
