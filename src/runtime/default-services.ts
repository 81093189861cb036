/**
 * The real I/O behind the statecharts, built from config: the LLM client (adapters, failover,
 * breakers, budget), the receipts, the executors, and the four activities (services/), which
 * share one repository resolver and one orphan sweep.
 */
import path from 'node:path';
import { createAiderExecutor, createNativeExecutor, type Executor } from '../executors/index.ts';
import { createLlmClient, llmClientOptionsFrom, ReceiptWriter } from '../llm/index.ts';
import { createOfflineAdapter } from '../llm/providers/offline-adapter.ts';
import type { LlmClient, ProviderAdapter } from '../llm/types.ts';
import type { RuntimeServices, ServiceContext } from './runtime-types.ts';
import { createClassifyLane } from './services/classify-lane.ts';
import { createExecuteTask } from './services/execute-task.ts';
import { createMergeJob } from './services/merge-job.ts';
import { createOrphanSweep } from './services/orphan-sweep.ts';
import { createPlanJob } from './services/plan-job.ts';
import { createRepositories } from './services/repositories.ts';

export { ensureScratchRepo } from './services/repositories.ts';

export interface DefaultServiceOptions {
  /** Route every LLM call to the scripted provider (the demo, tests). */
  offline?: boolean;
  /** The scripted adapter to use (default: the cassette named in models.yaml). */
  scripted?: ProviderAdapter;
  /** Replace provider adapters (tests against local protocol servers use real adapters instead). */
  adapters?: Record<string, ProviderAdapter>;
  fetch?: typeof fetch;
}

export function createDefaultServices(options: DefaultServiceOptions = {}) {
  return (ctx: ServiceContext): RuntimeServices & { llm: LlmClient; receipts: ReceiptWriter } => {
    const { config, logger, journal, breakers, runId, dataDir, llmSettings } = ctx;
    const llm = createLlmClient({
      ...llmClientOptionsFrom(config),
      breakers,
      spend: journal.spendStore(),
      logger: logger.child({ component: 'llm' }),
      ...(options.offline ? { offline: true } : {}),
      ...(options.scripted ? { scripted: options.scripted } : options.offline ? { scripted: createOfflineAdapter(config.models, config.dir) } : {}),
      ...(options.adapters ? { adapters: options.adapters } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const receipts = new ReceiptWriter(path.join(dataDir, 'receipts'), runId);
    const workspacesDir = path.join(dataDir, 'workspaces');
    const executors: Record<'native' | 'aider', Executor> = {
      native: createNativeExecutor({ fsAllowlist: config.fsAllowlist }),
      aider: createAiderExecutor({
        fsAllowlist: config.fsAllowlist,
        models: config.models,
        aider: config.pool.aider,
        budget: {
          enabled: config.pool.cost_optimization.enabled,
          maxDailySpendUsd: config.pool.cost_optimization.max_daily_spend_usd,
          spend: journal.spendStore(),
          now: () => ctx.now().getTime(),
        },
      }),
    };
    const repositories = createRepositories(dataDir);
    // Built before the runtime recovers and starts: whatever a killed run left is an orphan.
    const sweep = createOrphanSweep({ journal, repositories, workspacesDir, logger });

    return {
      llm,
      receipts,
      executeTask: createExecuteTask({ config, journal, llm, llmSettings, executors, receipts, runId, workspacesDir, repositories, sweep, logger }),
      // `pas up --offline` (no scripted adapter of the caller's own): each job says its edits are synthetic.
      planJob: createPlanJob({ llm, llmSettings, repositories, journal, logger, offlineNote: options.offline === true && !options.scripted }),
      mergeJob: createMergeJob({ repositories, sweep, workspacesDir, logger }),
      classifyLane: createClassifyLane({ llm, llmSettings, architectId: config.pas.architect.agent_id }),
    };
  };
}
