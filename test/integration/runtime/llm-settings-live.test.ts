/**
 * An LLM choice changed at run time (the HMI's settings) takes effect in the live tree: a model no
 * agent used before gets its shared breaker inside the actor system (tree, feed), and the pool
 * learns whether the programmer's model is now free or paid.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { breakerId } from '../../../machines/pas-system.machine.ts';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createRuntime, type Runtime } from '../../../src/runtime/create-runtime.ts';
import type { TransitionRecord } from '../../../src/runtime/transition-record.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';

let runtime: Runtime | undefined;
let cfg: TempConfig | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  await runtime?.stop();
  cfg?.cleanup();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  runtime = cfg = dataDir = undefined;
});

describe('LLM settings changed at run time', () => {
  it('brings a newly chosen model\'s breaker into the system and tells the pool the programmer is now paid', async () => {
    cfg = tempConfig();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-live-llm-'));
    runtime = createRuntime({ config: loadConfig(cfg.dir), dataDir, services: inProcessServices() });
    const fresh = 'google/gemini-2.5-pro';
    expect(runtime.tree().some((n) => n.agentId === breakerId(fresh))).toBe(false);
    expect(runtime.poolContext().members.find((m) => m.id === 'Prog-001')!.free).toBe(true);

    await runtime.updateLlmSetting('Prog-001', { primary: fresh, backup: 'ollama/qwen2.5-coder:14b-instruct' });

    const node = runtime.tree().find((n) => n.agentId === breakerId(fresh));
    expect(node).toMatchObject({ role: 'breaker', state: 'closed' });
    expect(runtime.tree().find((n) => n.agentId === 'Prog-001')!.breakers).toContain(breakerId(fresh));
    expect(runtime.system.system.get(breakerId(fresh))).toBeDefined();
    expect(runtime.poolContext().members.find((m) => m.id === 'Prog-001')!.free).toBe(false);

    // Its transitions reach the feed like any configured breaker's.
    const records: TransitionRecord[] = [];
    runtime.onTransition((r) => records.push(r));
    for (let i = 0; i < runtime.config.pool.failover.circuit_breaker.failure_threshold; i++) runtime.breakers.record(fresh, 'failure', false);
    expect(records.filter((r) => r.agentId === breakerId(fresh)).map((r) => [r.from, r.to])).toEqual([['closed', 'open']]);
  });
});
