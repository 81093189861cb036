/**
 * Turns validated config into the input of the root statechart and the static shape of the
 * agent tree (ids, roles, parents, ports).
 */
import type { AgentRole, Lane } from '../../machines/domain.ts';
import type { BreakerInput } from '../../machines/circuit-breaker.machine.ts';
import { breakerId, type PasSystemInput } from '../../machines/pas-system.machine.ts';
import { splitModelRef, type PasConfig } from '../config/load-config.ts';

export interface AgentInfo {
  agentId: string;
  role: Exclude<AgentRole, 'breaker'>;
  parent: string | null;
  port: number;
  lane?: Lane;
  service?: string;
}

export interface BreakerInfo {
  agentId: string;
  key: string;
  /** Agents whose primary or backup is this model. */
  usedBy: string[];
}

export interface Topology {
  /** Added to every configured port (a second tree beside the first). */
  portOffset: number;
  gatewayPort: number;
  agents: AgentInfo[];
  breakers: BreakerInfo[];
  input: PasSystemInput;
}

const MINUTE = 60_000;
/** The statechart's backstop past the executor's own timeout (see ProgrammerInput.timeoutGraceMs). */
export const PROGRAMMER_TIMEOUT_GRACE_MS = 2_000;

/** A probe is one call: it may take the provider's whole call timeout, plus a margin. */
export function probeTimeoutMs(config: PasConfig, ref: string): number {
  const provider = ref.slice(0, ref.indexOf('/'));
  return (config.models.providers[provider]?.timeout_s ?? 60) * 1000 + 5_000;
}

/** The input of the breaker of one provider/model, from the pool's circuit_breaker settings. */
export function breakerInput(config: PasConfig, key: string): BreakerInput {
  const cb = config.pool.failover.circuit_breaker;
  return {
    key,
    threshold: cb.failure_threshold,
    windowMs: cb.window_minutes * MINUTE,
    cooldownMs: cb.cooldown_minutes * MINUTE,
    probeTimeoutMs: probeTimeoutMs(config, key),
  };
}

export function buildTopology(config: PasConfig, options: { portOffset?: number } = {}): Topology {
  const offset = options.portOffset ?? 0;
  const { pas, pool } = config;
  const agents: AgentInfo[] = [
    { agentId: pas.architect.agent_id, role: 'architect', parent: null, port: pas.architect.port + offset, service: pas.architect.service },
    ...pas.directors.map((d): AgentInfo => ({ agentId: d.agent_id, role: 'director', parent: d.parent, port: d.port + offset, lane: d.lane as Lane, service: d.service })),
    ...pas.managers.map((m): AgentInfo => ({ agentId: m.agent_id, role: 'manager', parent: m.parent, port: m.port + offset, lane: m.lane as Lane, service: m.service })),
    ...config.programmers.map((p): AgentInfo => ({ agentId: p.id, role: 'programmer', parent: p.parent, port: p.port + offset })),
  ];

  const usedBy = new Map<string, Set<string>>();
  const use = (ref: string | undefined, agentId: string) => {
    if (!ref) return;
    if (!usedBy.has(ref)) usedBy.set(ref, new Set());
    usedBy.get(ref)!.add(agentId);
  };
  const llmRefs = (llm: { primary: { provider: string; model: string }; backup?: { provider: string; model: string } | undefined }, id: string) => {
    use(`${llm.primary.provider}/${llm.primary.model}`, id);
    if (llm.backup) use(`${llm.backup.provider}/${llm.backup.model}`, id);
  };
  llmRefs(pas.architect.llm, pas.architect.agent_id);
  for (const m of pas.managers) llmRefs(m.llm, m.agent_id);
  for (const p of config.programmers) {
    use(p.primary, p.id);
    use(p.backup, p.id);
  }
  const breakers: BreakerInfo[] = [...usedBy.entries()].map(([key, ids]) => ({ agentId: breakerId(key), key, usedBy: [...ids] }));

  const input: PasSystemInput = {
    architect: {
      id: pas.architect.agent_id,
      directors: Object.fromEntries(pas.directors.map((d) => [d.lane, d.agent_id])),
      defaultLane: 'Code',
    },
    directors: pas.directors.map((d) => ({
      id: d.agent_id,
      architectId: d.parent,
      lane: d.lane,
      managers: pas.managers.filter((m) => m.parent === d.agent_id).map((m) => m.agent_id),
    })),
    managers: pas.managers.map((m) => ({
      id: m.agent_id,
      directorId: m.parent,
      maxConcurrent: m.resources.max_concurrent_tasks,
      maxProgrammers: m.resources.max_programmers,
      timeoutMs: m.resources.timeout_s * 1000,
    })),
    programmers: config.programmers.map((p) => ({ id: p.id, timeoutMs: p.timeoutMs, timeoutGraceMs: PROGRAMMER_TIMEOUT_GRACE_MS })),
    pool: {
      programmers: config.programmers.map((p) => ({ id: p.id, capabilities: [...p.capabilities], free: p.free, provider: splitModelRef(p.primary).provider })),
      strategy: pool.load_balancing.strategy,
      preferFree: pool.load_balancing.prefer_free_models || (pool.cost_optimization.enabled && pool.cost_optimization.prefer_free_over_paid),
      maxQueuePerProgrammer: pool.load_balancing.max_queue_per_programmer,
      maxRetries: pool.failover.enabled ? pool.failover.max_retries : 0,
      maxRestarts: pool.supervision.max_restarts,
      restartPeriodMs: pool.supervision.period_s * 1000,
      capabilityRouting: Object.fromEntries(Object.entries(pool.capability_routing).map(([k, v]) => [k, [...v]])),
    },
    breakers: breakers.map((b) => breakerInput(config, b.key)),
  };
  return { portOffset: offset, gatewayPort: pas.gateway.port + offset, agents, breakers, input };
}
