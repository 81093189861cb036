import type { AgentRole } from '../../machines/domain.ts';

/** One state change of an agent or breaker, as the inspection bus orders it (CONTRACT §5). */
export interface TransitionRecord {
  v: 1;
  type: 'transition';
  seq: number;
  ts: string;
  agentId: string;
  role: AgentRole;
  from: string;
  to: string;
  event: string;
  jobId?: string;
  taskId?: string;
  /** The PAS_ERR_* code of the task result that ended the work, when it did not complete. */
  error?: string;
}

/**
 * The agent tree as the WebSocket hello and GET /api/tree send it (CONTRACT §5: `"tree": {…every
 * agent with role, parent, state…}`): an object keyed by agent id, in tree order.
 */
export type AgentTree = Record<string, TreeNode>;

export function agentTree(nodes: readonly TreeNode[]): AgentTree {
  return Object.fromEntries(nodes.map((node) => [node.agentId, node]));
}

/** One node of the agent tree (the WebSocket hello and GET /api/tree). */
export interface TreeNode {
  agentId: string;
  role: AgentRole;
  parent: string | null;
  state: string;
  port?: number;
  lane?: string;
  /** For programmers: breaker keys (`breaker:provider/model`) of its primary and backup. */
  breakers?: string[];
  jobId?: string;
  taskId?: string;
}
