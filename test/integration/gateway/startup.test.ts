/**
 * Start-up of the gateway and the per-agent servers: a taken port fails with the port and the
 * agent that wanted it and leaves nothing listening; port offsets let two trees run side by
 * side; every server binds to 127.0.0.1 unless the config says otherwise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPasError } from '../../../src/errors.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { freePortOffset } from '../../support/ports.ts';
import { tempConfig } from '../../support/test-config.ts';
import { accepts, closeServer, DEFAULT_AGENTS, GATEWAY_BASE_PORT, http, occupy, useCleanup } from './gateway-helpers.ts';

const ALL_BASE_PORTS = [GATEWAY_BASE_PORT, ...DEFAULT_AGENTS.map((a) => a.port)];

describe('gateway start-up', () => {
  const cleanup = useCleanup();
  /** A start that fails leaves its data dir to the caller. */
  const dataDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pas-startup-'));
    cleanup.defer(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  it('a port already taken fails start-up with PAS_ERR_PORT_IN_USE naming that port and agent, and leaves no server listening', async () => {
    for (const taken of ['Prog-007', 'Mgr-Data-01', 'Architect']) {
      const offset = await freePortOffset(ALL_BASE_PORTS);
      const port = DEFAULT_AGENTS.find((a) => a.id === taken)!.port + offset;
      const blocker = await occupy(port);
      cleanup.defer(() => closeServer(blocker));

      const failure = await cleanup.tree({ services: inProcessServices(), portOffset: offset, dataDir: dataDir() }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isPasError(failure), String(failure)).toBe(true);
      const err = failure as { code: string; message: string; details: Record<string, unknown> };
      expect(err.code).toBe('PAS_ERR_PORT_IN_USE');
      expect(err.details).toMatchObject({ port, agent: taken });
      expect(err.message).toContain(String(port));
      expect(err.message).toContain(taken);
      expect(err.message).toContain('--port-offset');

      for (const base of ALL_BASE_PORTS) {
        if (base + offset === port) continue;
        expect(await accepts(base + offset), `port ${base + offset} still listening after a failed start`).toBe(false);
      }
      await closeServer(blocker);
    }
  });

  it('a taken gateway port is reported as the gateway’s', async () => {
    const offset = await freePortOffset(ALL_BASE_PORTS);
    const blocker = await occupy(GATEWAY_BASE_PORT + offset);
    cleanup.defer(() => closeServer(blocker));
    await expect(cleanup.tree({ services: inProcessServices(), portOffset: offset, dataDir: dataDir() })).rejects.toMatchObject({
      code: 'PAS_ERR_PORT_IN_USE',
      details: { port: GATEWAY_BASE_PORT + offset, agent: 'the gateway' },
    });
    for (const agent of DEFAULT_AGENTS) expect(await accepts(agent.port + offset)).toBe(false);
  });

  it('two trees run side by side at different port offsets, each with its own agents and jobs', async () => {
    const first = await cleanup.tree({ services: inProcessServices({ taskMs: 5 }) });
    const second = await cleanup.tree({ services: inProcessServices({ taskMs: 5 }) });
    expect(second.portOffset).not.toBe(first.portOffset);

    for (const tree of [first, second]) {
      for (const agent of DEFAULT_AGENTS) {
        const port = agent.port + tree.portOffset;
        const health = await http(`http://127.0.0.1:${port}/health`);
        expect(health.body).toMatchObject({ agent: agent.id, port });
      }
    }
    const job = await http(`${first.url}/api/jobs`, { body: { task: 'only in the first tree' } });
    expect(job.status).toBe(202);
    await first.runtime.waitForJob(job.body.job_id, 20_000);
    expect((await http(`${first.url}/api/jobs`)).body.total).toBe(1);
    expect((await http(`${second.url}/api/jobs`)).body.total).toBe(0);
    expect((await http(`${second.url}/api/jobs/${job.body.job_id}`)).status).toBe(404);
  });

  it('binds the gateway and every agent to 127.0.0.1 by default, and to the configured host otherwise', async () => {
    const tree = await cleanup.tree({ services: inProcessServices(), agentPorts: true });
    expect(tree.gateway!.host).toBe('127.0.0.1');
    expect(tree.gateway!.app.server.address()).toMatchObject({ address: '127.0.0.1', port: tree.gateway!.port });
    expect(tree.url).toBe(`http://127.0.0.1:${tree.gateway!.port}`);
    // Another loopback address reaches a wildcard listener but not one bound to 127.0.0.1.
    for (const port of [tree.gateway!.port, ...tree.gateway!.agentPorts.values()]) {
      expect(await accepts(port, '127.0.0.1'), `127.0.0.1:${port}`).toBe(true);
      expect(await accepts(port, '127.0.0.2'), `127.0.0.2:${port}`).toBe(false);
    }

    const cfg = tempConfig();
    cleanup.defer(() => cfg.cleanup());
    cfg.edit('pas.yaml', (doc) => doc.setIn(['gateway', 'host'], '127.0.0.2'));
    const other = await cleanup.tree({ services: inProcessServices(), configDir: cfg.dir });
    expect(other.url).toBe(`http://127.0.0.2:${other.gateway!.port}`);
    expect((await http(`${other.url}/health`)).status).toBe(200);
    for (const port of [other.gateway!.port, ...other.gateway!.agentPorts.values()]) {
      expect(await accepts(port, '127.0.0.2'), `127.0.0.2:${port}`).toBe(true);
      expect(await accepts(port, '127.0.0.1'), `127.0.0.1:${port}`).toBe(false);
    }
  });
});
