/**
 * An agent's LLM choice changed from the HMI without a restart: written to its config file,
 * applied to the live settings every service reads, a breaker spawned in the system for a model
 * chosen now (so the feed and the tree show it), and the pool told whether a programmer is free.
 */
import type { Logger } from 'pino';
import type { AnyActorRef } from 'xstate';
import type { BreakerInput } from '../../machines/circuit-breaker.machine.ts';
import { breakerId } from '../../machines/pas-system.machine.ts';
import type { PoolEvent } from '../../machines/pool.machine.ts';
import { modelIsFree, type PasConfig } from '../config/load-config.ts';
import { writeLlmSetting, type LlmChoiceUpdate, type SettingsWriteResult } from '../config/settings-writer.ts';
import type { BreakerRef, BreakerRegistry } from './breaker-registry.ts';
import type { InspectionBus } from './inspection-bus.ts';
import type { LlmSettings } from './runtime-types.ts';
import { breakerInput, type Topology } from './topology.ts';

export interface LiveLlmSettings {
  /** Every model with a breaker in the system: the configured ones, then any chosen later. */
  readonly breakerKeys: readonly string[];
  update(agentId: string, update: LlmChoiceUpdate): Promise<SettingsWriteResult>;
}

export interface LiveLlmSettingsOptions {
  config: PasConfig;
  topology: Topology;
  llmSettings: LlmSettings;
  bus: InspectionBus;
  breakers: BreakerRegistry;
  spawnBreaker: (input: BreakerInput) => void;
  get: (id: string) => AnyActorRef | undefined;
  toPool: (event: PoolEvent) => void;
  logger: Logger;
}

export function createLiveLlmSettings(options: LiveLlmSettingsOptions): LiveLlmSettings {
  const { config, topology, llmSettings, bus, breakers, spawnBreaker, get, toPool, logger } = options;
  const programmerIds = new Set(config.programmers.map((p) => p.id));
  const breakerKeys = topology.breakers.map((b) => b.key);
  /** The config as last written from the HMI (the boot config stays the runtime's identity). */
  let liveConfig = config;
  const ensureBreaker = (ref: string) => {
    if (breakerKeys.includes(ref)) return;
    breakerKeys.push(ref);
    bus.watch(breakerId(ref), 'breaker', 'closed');
    spawnBreaker(breakerInput(config, ref));
    const actor = get(breakerId(ref)) as BreakerRef | undefined;
    if (actor) breakers.adopt(ref, actor);
  };
  return {
    breakerKeys,
    async update(agentId, update) {
      const result = await writeLlmSetting(liveConfig, agentId, update);
      liveConfig = result.config;
      llmSettings.set(agentId, result.backup ? { primary: result.primary, backup: result.backup } : { primary: result.primary });
      for (const ref of [result.primary, result.backup]) if (ref) ensureBreaker(ref);
      if (programmerIds.has(agentId)) toPool({ type: 'programmer.updated', programmerId: agentId, free: modelIsFree(result.config.models, result.primary), provider: result.primary.slice(0, result.primary.indexOf('/')) });
      logger.info({ agentId, primary: result.primary, backup: result.backup, file: result.file }, 'LLM settings changed');
      return result;
    },
  };
}
