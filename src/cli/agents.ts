/** `pas agents`: every agent of a running tree with its state, its LLM and what it works on. */
import { PasError } from '../errors.ts';
import { apiClient, CLIENT_OPTIONS, gatewayUrl, reportApiError, table } from './api-client.ts';
import type { Command } from './commands.ts';

/** An agent as `GET /api/agents` answers it (src/gateway/views.ts agentHealth). */
export interface AgentJson {
  agent: string;
  role: string;
  state: string;
  port: number;
  lane?: string;
  llm?: { current: string; primary?: string; using_backup: boolean; circuit_open: boolean; breaker_state?: string; breaker_cause?: string | null } | null;
  task?: { task_id: string; job_id: string } | null;
  active_jobs?: string[];
  queue_depth?: number;
  jobs_in_flight?: number;
  /** A programmer's host (`local`, or the pas worker that runs it) and whether it can be reached. */
  host?: string;
  reachable?: boolean;
}

/** The agent's state, and for a programmer whose worker is offline or not started, that it gets no work. */
export function stateCell(agent: AgentJson): string {
  return agent.reachable === false ? `${agent.state} (worker ${agent.host ?? '?'} offline)` : agent.state;
}

export function llmCell(agent: AgentJson): string {
  if (!agent.llm) return '-';
  const open = agent.llm.circuit_open || (agent.llm.breaker_state !== undefined && agent.llm.breaker_state !== 'closed');
  const breaker = open ? `${agent.llm.primary && agent.llm.using_backup ? `${agent.llm.primary} ` : ''}breaker ${agent.llm.breaker_state ?? 'open'}${agent.llm.breaker_cause ? `: ${agent.llm.breaker_cause}` : ''}` : '';
  const notes = [agent.llm.using_backup ? 'backup' : '', breaker].filter(Boolean);
  return notes.length > 0 ? `${agent.llm.current} (${notes.join(', ')})` : agent.llm.current;
}

export function workCell(agent: AgentJson): string {
  if (agent.task) return `${agent.task.task_id} (job ${agent.task.job_id})`;
  if (agent.active_jobs && agent.active_jobs.length > 0) {
    return `jobs ${agent.active_jobs.join(' ')}${agent.queue_depth ? ` +${agent.queue_depth} queued` : ''}`;
  }
  if (agent.queue_depth) return `${agent.queue_depth} queued`;
  if (agent.jobs_in_flight) return `${agent.jobs_in_flight} job(s) in flight`;
  return '-';
}

export function agentsTable(agents: readonly AgentJson[]): string {
  return table(
    ['AGENT', 'ROLE', 'STATE', 'PORT', 'LLM', 'TASK'],
    agents.map((a) => [a.agent, a.role, stateCell(a), String(a.port), llmCell(a), workCell(a)]),
    110,
  );
}

export const agentsCommand: Command = {
  summary: 'every agent of a running tree: state, LLM (primary or backup, breaker and why), task',
  usage: '[options]',
  options: { ...CLIENT_OPTIONS },
  examples: ['pas agents', 'pas agents --port-offset 100 --json'],
  async run(values, positionals) {
    if (positionals.length > 0) throw new PasError('PAS_ERR_BAD_REQUEST', `pas agents takes no arguments, got ${positionals.join(' ')}`);
    const client = apiClient(gatewayUrl(values));
    try {
      const { agents } = await client.get<{ agents: AgentJson[] }>('/api/agents');
      process.stdout.write(values.json ? `${JSON.stringify(agents)}\n` : agentsTable(agents));
      return 0;
    } catch (err) {
      return reportApiError('agents', err);
    }
  },
};
