import { describe, expect, it } from 'vitest';
import { agentsTable, stateCell, type AgentJson } from '../../../src/cli/agents.ts';

const prog = (extra: Partial<AgentJson>): AgentJson => ({ agent: 'Prog-001', role: 'programmer', state: 'IDLE', port: 6111, llm: null, task: null, ...extra });

describe('pas agents: a programmer on another host', () => {
  it('says in its state that its worker is offline (it gets no work), and nothing for a reachable or local one', () => {
    expect(stateCell(prog({ host: 'gpu-1', reachable: false }))).toBe('IDLE (worker gpu-1 offline)');
    expect(stateCell(prog({ host: 'gpu-1', reachable: true }))).toBe('IDLE');
    expect(stateCell(prog({ host: 'local', reachable: true }))).toBe('IDLE');
    expect(stateCell({ agent: 'Mgr-Code-01', role: 'manager', state: 'EXECUTING', port: 6102 })).toBe('EXECUTING');
    expect(agentsTable([prog({ host: 'gpu-1', reachable: false })])).toMatch(/^Prog-001 +programmer +IDLE \(worker gpu-1 offline\) +6111 /m);
  });
});
