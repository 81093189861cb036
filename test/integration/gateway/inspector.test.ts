/**
 * The Stately inspector relay (`pas up --inspect`): `@statelyai/inspect`'s WebSocket inspector,
 * fed by the runtime's actor system, sends to the gateway's /inspect relay, which forwards every
 * inspection event to the other clients there (the bridge page GET /inspect serves).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createWebSocketInspector } from '@statelyai/inspect';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { boot, shutdown } from '../../../src/cli/boot.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { freePortOffset } from '../../support/ports.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';
import { DEFAULT_AGENTS, GATEWAY_BASE_PORT, http, until, useCleanup } from './gateway-helpers.ts';

interface Inspection {
  type: string;
  name?: string;
  sessionId?: string;
  event?: { type: string; job?: { id: string }; jobId?: string; outcome?: { jobId: string } };
}

const ALL_BASE_PORTS = [GATEWAY_BASE_PORT, ...DEFAULT_AGENTS.map((a) => a.port)];

describe('the Stately inspector relay on the gateway', () => {
  const cleanup = useCleanup();

  async function receiver(url: string): Promise<{ ws: WebSocket; seen: Inspection[] }> {
    const ws = new WebSocket(url);
    cleanup.defer(() => ws.terminate());
    const seen: Inspection[] = [];
    ws.on('message', (data) => seen.push(JSON.parse(String(data)) as Inspection));
    ws.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { ws, seen };
  }

  it('delivers the inspection events of the runtime’s actors to another client on /inspect, and GET /inspect serves the bridge page', async () => {
    const offset = await freePortOffset(ALL_BASE_PORTS);
    const relayUrl = `ws://127.0.0.1:${GATEWAY_BASE_PORT + offset}/inspect`;
    const inspector = createWebSocketInspector({ url: relayUrl, autoStart: false });
    cleanup.defer(() => inspector.stop());
    const tree = await cleanup.tree({
      services: inProcessServices({ taskMs: 5 }),
      portOffset: offset,
      agentPorts: false,
      inspect: (event) => inspector.inspect.next?.(event),
      gatewayOptions: { inspectorRelay: true },
    });

    const page = await http(`${tree.url}/inspect`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.text).toContain('<iframe id="inspector"');
    expect(page.text).toContain('src="https://stately.ai/inspect"');
    expect(page.text).toContain('"/inspect"');

    const watcher = await receiver(relayUrl);
    inspector.start();
    const job = await http(`${tree.url}/api/jobs`, { body: { task: 'inspect me', files: ['a.ts', 'b.ts'] } });
    const jobId: string = job.body.job_id;
    await tree.runtime.waitForJob(jobId, 20_000);

    const events = () => watcher.seen.filter((m) => m.type === '@xstate.event').map((m) => m.event!);
    await until(() => events().some((e) => e.type === 'job.finished' && e.outcome?.jobId === jobId), 10_000, 'job.finished through the relay');
    expect(events().some((e) => e.type === 'job.submitted' && e.job?.id === jobId)).toBe(true);
    expect(events().filter((e) => e.type === 'task.assigned').length).toBeGreaterThanOrEqual(2);
    expect(watcher.seen.some((m) => m.type === '@xstate.snapshot')).toBe(true);
    // The actors the job spawned registered live, under their ids (the job actor is the job id).
    const names = new Set(watcher.seen.filter((m) => m.type === '@xstate.actor').map((m) => m.name));
    expect([...names]).toEqual(expect.arrayContaining([jobId, 'planJob', 'mergeJob']));

    // A bridge page opened later first gets what the relay still holds.
    const late = await receiver(relayUrl);
    await until(() => late.seen.some((m) => m.type === '@xstate.event' && m.event?.type === 'job.finished'), 5000, 'the replay to a late client');
  });

  it('pas up --inspect wiring (boot with inspect) streams the live actors to the relay', async () => {
    const offset = await freePortOffset(ALL_BASE_PORTS);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-inspect-'));
    cleanup.defer(() => rmSync(dataDir, { recursive: true, force: true }));
    const booted = await boot({ configDir: SHIPPED_CONFIGS, dataDir, portOffset: offset, inspect: true, logStdout: false });
    cleanup.defer(() => shutdown(booted));
    expect(booted.gateway.url).toBe(`http://127.0.0.1:${GATEWAY_BASE_PORT + offset}`);
    const watcher = await receiver(`ws://127.0.0.1:${GATEWAY_BASE_PORT + offset}/inspect`);

    // The inspector connects on its own schedule; keep poking an actor until its event shows up.
    const deadline = Date.now() + 20_000;
    const sawReset = () => watcher.seen.some((m) => m.type === '@xstate.event' && m.event?.type === 'programmer.reset');
    while (!sawReset()) {
      if (Date.now() > deadline) throw new Error('no inspection event reached the relay');
      expect((await http(`${booted.gateway.url}/api/agents/Prog-003/reset`, { method: 'POST', body: {} })).status).toBe(202);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
});
