/** The agent tree as the HMI and `/api/tree` show it: every agent with its state, then every breaker. */
import { breakerId } from '../../machines/pas-system.machine.ts';
import type { InspectionBus } from './inspection-bus.ts';
import type { LlmSettings } from './runtime-types.ts';
import type { Topology } from './topology.ts';
import type { TreeNode } from './transition-record.ts';

export function treeNodes(topology: Topology, bus: InspectionBus, llmSettings: LlmSettings, breakerKeys: readonly string[]): TreeNode[] {
  const nodes: TreeNode[] = topology.agents.map((a) => {
    const node: TreeNode = { agentId: a.agentId, role: a.role, parent: a.parent, state: bus.state(a.agentId) ?? 'IDLE', port: a.port };
    if (a.lane) node.lane = a.lane;
    if (a.role === 'programmer') {
      const llm = llmSettings.get(a.agentId);
      node.breakers = [llm?.primary, llm?.backup].filter((r): r is string => !!r).map(breakerId);
      const work = bus.workOf(a.agentId);
      if (work.jobId) node.jobId = work.jobId;
      if (work.taskId) node.taskId = work.taskId;
    }
    return node;
  });
  for (const key of breakerKeys) nodes.push({ agentId: breakerId(key), role: 'breaker', parent: null, state: bus.state(breakerId(key)) ?? 'closed' });
  return nodes;
}
