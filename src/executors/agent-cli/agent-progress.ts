/** One thing an agent CLI reported while it ran (parsed from its structured output). */
export type AgentProgress =
  | { kind: 'tool'; tool: string }
  | { kind: 'file'; tool: string; path: string; action: 'write' | 'edit' }
  | { kind: 'command'; tool: string; command: string }
  | { kind: 'tool_result'; tool: string; status: string; command?: string; exitCode?: number | null }
  | { kind: 'retry'; attempt: number; message: string; status?: number }
  | { kind: 'warning'; message: string };
