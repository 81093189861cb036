/**
 * The central process's distribution service, wired by the composition root only when
 * `pas.yaml` has `distribution`: connects to NATS (before the runtime resumes, so results that
 * arrived while it was down are waiting for the re-dispatch), watches the workers' heartbeats,
 * and gives every remote programmer's proxy actor its `executeTask`. The NATS client is loaded
 * here, by dynamic import, and nowhere else on the central side.
 */
import type { Logger } from 'pino';
import type { PasConfig } from '../config/load-config.ts';
import type { ReceiptWriter } from '../llm/index.ts';
import type { LlmGateway } from '../llm/gateway/llm-gateway.ts';
import type { Runtime, RuntimeServices, ServiceContext } from '../runtime/runtime-types.ts';
import { POOL_ID } from '../../machines/pas-system.machine.ts';
import { createRepositories } from '../runtime/services/repositories.ts';
import { HostHaves } from './bundles.ts';
import { claimCentral } from './central-presence.ts';
import { createClusterLlmAuthority, reportPrefixes, serveAdmissions } from './cluster-llm-authority.ts';
import { openLink, type DistLink } from './link.ts';
import { createRemoteProgrammers, type RemoteProgrammers } from './remote-programmers.ts';
import { reportUnreachable } from './unreachable-report.ts';
import { watchWorkers, type WorkerLiveness } from './worker-liveness.ts';

export interface Distribution {
  /** Programmer ids hosted by workers. */
  readonly remoteIds: ReadonlySet<string>;
  /** The services with remote programmers' executeTask going over NATS. */
  wrapServices<S extends RuntimeServices>(factory: (ctx: ServiceContext) => S): (ctx: ServiceContext) => S;
  /** Acks results once the journal has the task's finish; fences results of finished tasks. */
  attach(runtime: Runtime): void;
  stop(): Promise<void>;
}

/** Programmer ids whose `host` names a worker. */
export function remoteProgrammerIds(config: PasConfig): Set<string> {
  return new Set(config.programmers.filter((p) => p.host !== undefined && p.host !== 'local').map((p) => p.id));
}

export async function startDistribution(config: PasConfig, logger: Logger): Promise<Distribution | undefined> {
  const settings = config.pas.distribution;
  if (!settings) return undefined;
  const remoteIds = remoteProgrammerIds(config);
  const link: DistLink = await openLink(settings, 'pas-central');
  try {
    // Before anything of the prefix is touched (workers registered, results pulled): one central process per prefix.
    const release = await claimCentral(link, logger);
    const distribution = await startOn(link, config, remoteIds, logger).catch((err: unknown) => {
      release();
      throw err;
    });
    return {
      ...distribution,
      async stop() {
        await distribution.stop();
        release();
      },
    };
  } catch (err) {
    await link.close().catch(() => undefined);
    throw err;
  }
}

async function startOn(link: DistLink, config: PasConfig, remoteIds: Set<string>, logger: Logger): Promise<Distribution> {
  const late: { remote?: RemoteProgrammers; reachability?: () => void } = {};
  const haves = new HostHaves();
  const liveness: WorkerLiveness = await watchWorkers({
    link,
    config,
    logger,
    onOffline: (worker) => late.remote?.workerOffline(worker),
    onRegister: (worker, repoHaves) => haves.replace(worker, repoHaves),
    onChange: () => late.reachability?.(),
  });
  // The cluster's breakers and budget: workers ask before each model call and report after it.
  const authority = createClusterLlmAuthority({ logger, leaseMs: link.settings.lease_ms, ...reportPrefixes(link.names) });
  const remote = await createRemoteProgrammers({ link, liveness, logger, haves, onReport: (msg) => authority.take(msg) }, remoteIds);
  late.remote = remote;
  // Results that arrived while this process was down are in hand before the runtime resumes.
  await remote.drainBacklog(3_000);
  const detach: Array<() => void> = [];
  let stopAdmissions: (() => void) | undefined;
  let sweep: NodeJS.Timeout | undefined;
  /**
   * No admission is answered and no result or spend is taken once this resolves: run by the
   * runtime's services.stop, before the journal closes. What arrives later stays un-acked in
   * JetStream and is applied at the next start (never booked against a closed journal).
   */
  const quiesce = async () => {
    stopAdmissions?.();
    stopAdmissions = undefined;
    if (sweep) clearInterval(sweep);
    await remote.stop();
  };

  return {
    remoteIds,
    wrapServices: (factory) => (ctx) => {
      const services = factory(ctx);
      const receipts = (services as { receipts?: ReceiptWriter }).receipts;
      const local = services.executeTask.bind(services);
      const gateway = (services as { llmGateway?: LlmGateway }).llmGateway;
      authority.bind({
        breakers: ctx.breakers,
        money: ctx.money,
        journal: ctx.journal,
        ...(gateway ? { jobBudget: gateway.jobBudget() } : {}),
        attemptOver: (attemptId) => remote.attemptOver(attemptId),
      });
      stopAdmissions ??= serveAdmissions(link, authority, logger);
      remote.bind({ journal: ctx.journal, receipts: receipts ?? { append: () => undefined }, runId: ctx.runId, repositories: createRepositories(ctx.dataDir), ...(ctx.progress ? { progress: ctx.progress } : {}) });
      return {
        ...services,
        executeTask: remote.wrap(local),
        // The runtime closes its journal right after its services stop: the cluster's traffic ends first.
        stop: async () => {
          await quiesce();
          await services.stop?.();
        },
      };
    },
    attach(runtime) {
      const report = reportUnreachable(remoteIds, liveness, logger, (programmerIds) => runtime.send(POOL_ID, { type: 'programmers.unreachable', programmerIds }));
      late.reachability = () => report.refresh();
      detach.push(() => (late.reachability = undefined));
      detach.push(
        runtime.onFact((stated) => {
          if (stated.name === 'recordTaskFinished') remote.taskFinished(stated.fact.result.taskId);
        }),
      );
      sweep = setInterval(() => remote.sweepHeld(), 5_000);
      sweep.unref();
    },
    async stop() {
      for (const d of detach) d();
      liveness.stop();
      await quiesce();
      await link.close().catch(() => undefined);
    },
  };
}
