import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { breakerId } from '../../../machines/pas-system.machine.ts';
import type { ManagerContext } from '../../../machines/manager.machine.ts';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createRuntime, type Runtime } from '../../../src/runtime/create-runtime.ts';
import { buildTopology } from '../../../src/runtime/topology.ts';
import { inProcessServices, type InProcessOptions } from '../../support/in-process-services.ts';

const CONFIGS = path.resolve(import.meta.dirname, '../../../configs');

let runtime: Runtime | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

function boot(options: InProcessOptions = {}) {
  dataDir = mkdtempSync(path.join(tmpdir(), 'pas-runtime-'));
  const services = inProcessServices(options);
  runtime = createRuntime({ config: loadConfig(CONFIGS), services, dataDir });
  return { runtime, services };
}

async function until(check: () => boolean, timeoutMs = 5_000) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('the default tree', () => {
  it('boots all 23 agents (Architect, 5 Directors, 7 Managers, 10 Programmers) IDLE with their breakers closed', () => {
    const { runtime: rt } = boot();
    const agents = rt.tree().filter((n) => n.role !== 'breaker');
    expect(agents).toHaveLength(23);
    const byRole = (role: string) => agents.filter((a) => a.role === role).map((a) => a.agentId);
    expect(byRole('architect')).toEqual(['Architect']);
    expect(byRole('director')).toEqual(['Dir-Code', 'Dir-Models', 'Dir-Data', 'Dir-DevSecOps', 'Dir-Docs']);
    expect(byRole('manager')).toEqual(['Mgr-Code-01', 'Mgr-Code-02', 'Mgr-Code-03', 'Mgr-Models-01', 'Mgr-Data-01', 'Mgr-DevSecOps-01', 'Mgr-Docs-01']);
    expect(byRole('programmer')).toEqual(Array.from({ length: 10 }, (_, i) => `Prog-${String(i + 1).padStart(3, '0')}`));
    for (const agent of agents) {
      expect(agent.state, agent.agentId).toBe('IDLE');
      // the actor itself, not only the feed's view of it
      expect(rt.system.system.get(agent.agentId)?.getSnapshot().value, agent.agentId).toBe('IDLE');
    }
    expect(agents.filter((a) => a.role === 'manager').map((a) => a.port)).toEqual([6141, 6142, 6143, 6144, 6145, 6146, 6147]);

    const breakers = rt.tree().filter((n) => n.role === 'breaker');
    expect(breakers.map((b) => b.agentId).sort()).toEqual(
      [
        'google/gemini-2.5-flash',
        'anthropic/claude-haiku-4',
        'ollama/qwen2.5-coder:7b-instruct',
        'ollama/qwen2.5-coder:14b-instruct',
        'anthropic/claude-sonnet-4',
        'anthropic/claude-3-7-sonnet',
        'openai/gpt-4o',
        'openai/gpt-4o-mini',
        'ollama/deepseek-coder-v3:14b',
        'ollama/deepseek-coder-v3:7b',
      ]
        .map(breakerId)
        .sort(),
    );
    for (const b of breakers) {
      expect(b.state, b.agentId).toBe('closed');
      expect(rt.system.system.get(b.agentId)?.getSnapshot().value, b.agentId).toBe('closed');
    }
    // the registry hands out the very breakers the tree shows
    expect(rt.breakers.state('openai/gpt-4o')).toBe('closed');
    expect(rt.breakers.get('openai/gpt-4o')).toBe(rt.system.system.get(breakerId('openai/gpt-4o')));
  });

  it('shows every programmer under its Manager with the breakers of its two models', () => {
    const { runtime: rt } = boot();
    const prog6 = rt.tree().find((n) => n.agentId === 'Prog-006')!;
    expect(prog6).toMatchObject({ parent: 'Mgr-Code-02', port: 6156, breakers: ['breaker:anthropic/claude-sonnet-4', 'breaker:anthropic/claude-3-7-sonnet'] });
    expect(rt.poolStatus()).toMatchObject({ pool_size: 10, available: 10, unavailable: 0, total_queue_depth: 0, strategy: 'least_loaded' });
  });

  it('runs a multi-file job through Architect, Director, Manager and pool, and every agent returns to IDLE', async () => {
    const { runtime: rt, services } = boot();
    const job = rt.submitJob({ task: 'document the modules', lane: 'Code', files: ['a.ts', 'b.ts', 'c.ts'] });
    const done = await rt.waitForJob(job.id, 10_000);
    expect(done.status).toBe('completed');
    expect(new Set(services.started.map((s) => s.programmerId)).size).toBe(3);
    // prefer_free: the three tasks went to free programmers
    expect(services.started.every((s) => rt.config.programmers.find((p) => p.id === s.programmerId)?.free)).toBe(true);
    await until(() => rt.tree().every((n) => n.state === 'IDLE' || n.state === 'closed'));
    expect(rt.journal.tasksForJob(job.id).map((t) => t.status)).toEqual(['completed', 'completed', 'completed']);
  });

  it('hands a faulted Manager\'s job back to its Director, which re-routes it to another Manager of the lane', async () => {
    const attempts = new Map<string, number>();
    const { runtime: rt } = boot({
      outcome: (taskId) => {
        const n = (attempts.get(taskId) ?? 0) + 1;
        attempts.set(taskId, n);
        return n === 1 ? 'hang' : {};
      },
    });
    const job = rt.submitJob({ task: 'fix it', lane: 'Code', files: ['a.ts'] });
    const managerOf = () =>
      ['Mgr-Code-01', 'Mgr-Code-02', 'Mgr-Code-03'].find((id) => (rt.system.system.get(id)?.getSnapshot() as { context: ManagerContext }).context.active.includes(job.id));
    await until(() => managerOf() !== undefined && rt.poolContext().stats.submitted > 0);
    const first = managerOf()!;
    rt.send(first, { type: 'manager.fault' });
    const done = await rt.waitForJob(job.id, 10_000);
    expect(done.status).toBe('completed');
    expect(done.managerId).not.toBe(first);
    expect(rt.tree().find((n) => n.agentId === first)?.state).toBe('FAILED');
    expect(rt.poolContext().stats).toMatchObject({ cancelled: 1, completed: 1 });
    rt.send(first, { type: 'manager.reset' });
    expect(rt.tree().find((n) => n.agentId === first)?.state).toBe('IDLE');
  });
});

describe('breaker probe timeouts from config', () => {
  it('lets each breaker probe for its provider call timeout plus a margin', () => {
    const topology = buildTopology(loadConfig(CONFIGS));
    const byKey = Object.fromEntries(topology.input.breakers.map((b) => [b.key, b.probeTimeoutMs]));
    expect(byKey['ollama/qwen2.5-coder:7b-instruct']).toBe(305_000);
    expect(byKey['anthropic/claude-sonnet-4']).toBe(125_000);
  });
});
