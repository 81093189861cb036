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
