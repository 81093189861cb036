/**
 * Sockets a client opens and never finishes, against `pas up` as its own process: a WebSocket
 * upgrade to a path nobody serves is answered and closed (gateway and agent ports); idle sockets
 * and half-sent requests are cut by the header/request/idle timeouts; SIGTERM with sockets of every
 * kind open still drains, shuts down and exits 0; and with `ulimit -n 1024` a flood of idle
 * sockets neither kills the process nor starves git (a spawn that fails anyway is PAS_ERR_RESOURCE).
 */
import type { JsonAnswer } from '../support/json-answer.ts';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { buildTopology } from '../../src/runtime/topology.ts';
import { startPasUp, type PasProcess } from '../support/pas-process.ts';
import { freePortOffset } from '../support/ports.ts';
import { tempConfig, type TempConfig } from '../support/test-config.ts';
import { getJson, postJson, until } from './hardening-support.ts';

const children = new Set<ChildProcess>();
const sockets = new Set<net.Socket>();
const cleanups: Array<() => void> = [];
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  children.clear();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface Up extends PasProcess {
  port: number;
  agentPort: (id: string) => number;
  exited: Promise<number | null>;
}

async function up(edit?: (cfg: TempConfig) => void, wrap?: string[]): Promise<Up> {
  const cfg = tempConfig('pas-conn-');
  cleanups.push(() => cfg.cleanup());
  edit?.(cfg);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-conn-data-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const top = buildTopology(loadConfig(cfg.dir));
  const portOffset = await freePortOffset([top.gatewayPort, ...top.agents.map((a) => a.port)]);
  const pas = await startPasUp({ configDir: cfg.dir, dataDir, portOffset, ...(wrap ? { wrap } : {}), track: (child) => children.add(child) });
  const exited = new Promise<number | null>((resolve) => {
    if (pas.child.exitCode !== null) resolve(pas.child.exitCode);
    else pas.child.once('exit', (code) => resolve(code));
  });
  return {
    ...pas,
    port: top.gatewayPort + portOffset,
    agentPort: (id) => top.agents.find((a) => a.agentId === id)!.port + portOffset,
    exited,
  };
}

function limits(values: Record<string, number>) {
  return (cfg: TempConfig) => cfg.edit('pas.yaml', (doc) => doc.setIn(['gateway', 'limits'], doc.createNode(values)));
}

/** A raw TCP connection; `closed` resolves when the server ends it, `data` holds what it sent. */
function connect(port: number, send?: string): Promise<{ socket: net.Socket; closed: Promise<void>; data: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    sockets.add(socket);
    let data = '';
    socket.setEncoding('utf8').on('data', (d: string) => (data += d));
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', () => undefined);
    socket.once('connect', () => {
      if (send !== undefined) socket.write(send);
      resolve({ socket, closed, data: () => data });
    });
    socket.once('error', reject);
  });
}

const upgrade = (path: string, port: number) =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

describe('connections a client never finishes', () => {
  it('answers a WebSocket upgrade to an unknown path with 404 and closes it, on the gateway and on an agent port', async () => {
    const pas = await up();
    for (const port of [pas.port, pas.agentPort('Mgr-Code-01'), pas.agentPort('Prog-001')]) {
      const stray = await connect(port, upgrade('/not-a-feed', port));
      await stray.closed;
      expect(stray.data()).toMatch(/^HTTP\/1\.1 404/);
    }
    // The feed itself still upgrades.
    const feed = await connect(pas.port, upgrade('/ws', pas.port));
    await until(() => feed.data().includes('\r\n\r\n'));
    expect(feed.data()).toMatch(/^HTTP\/1\.1 101/);
  });

  it('closes idle sockets, half-sent requests and idle keep-alive connections once their timeouts pass', async () => {
    const pas = await up(limits({ headers_timeout_s: 0.5, request_timeout_s: 1, keep_alive_timeout_s: 0.5, idle_timeout_s: 2 }));
    const idle = await connect(pas.port);
    const halfHeaders = await connect(pas.port, `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n`);
    const halfBody = await connect(pas.port, `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"task":`);
    const keepAlive = await connect(pas.port, `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const agentIdle = await connect(pas.agentPort('Prog-001'));
    // Each resolves only when the server closes it (the test runner's own timeout is the bound).
    await Promise.all([idle.closed, halfHeaders.closed, halfBody.closed, keepAlive.closed, agentIdle.closed]);
    expect(keepAlive.data()).toMatch(/^HTTP\/1\.1 200/);
    expect(halfBody.data()).not.toMatch(/^HTTP\/1\.1 202/);
    expect((await getJson(`${pas.url}/health`)).status).toBe(200);
  });

  it('holds no more connections than max_connections across all ports and keeps serving', async () => {
    const pas = await up(limits({ max_connections: 20 }));
    const held = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(i % 2 ? pas.port : pas.agentPort('Prog-002'))));
    const over = await connect(pas.port);
    await over.closed; // closed at once, past the cap
    for (const c of held) c.socket.destroy();
    await until(async () => (await getJson(`${pas.url}/health`).catch(() => ({ status: 0 }))).status === 200);
  });

  it('drains and exits 0 on SIGTERM while idle sockets, half-sent requests, stray upgrades and feed clients are open', async () => {
    const pas = await up();
    await connect(pas.port);
    await connect(pas.port, `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\n{"task"`);
    await connect(pas.port, upgrade('/nowhere', pas.port));
    const feed = await connect(pas.port, upgrade('/ws', pas.port));
    await until(() => feed.data().includes('"hello"'));
    await connect(pas.agentPort('Dir-Code'), `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
    pas.child.kill('SIGTERM');
    expect(await pas.exited).toBe(0);
    expect(pas.output()).toMatch(/stopped cleanly/);
  });

  it('with ulimit -n 1024, 1,100 idle sockets neither end the process nor change how a job ends', async () => {
    const pas = await up(undefined, ['prlimit', '--nofile=1024:1024']);
    const job = { task: 'Add a changelog', files: ['CHANGELOG.md'] };
    const finished = async (id: string) => {
      let body: JsonAnswer;
      await until(async () => {
        body = (await getJson(`${pas.url}/api/jobs/${id}`)).body;
        return ['completed', 'partial', 'failed', 'cancelled'].includes(body.status);
      });
      return body;
    };
    // How this job ends with no flood (the offline model has no reply for it, or completes it).
    const quiet = await postJson(`${pas.url}/api/jobs`, job);
    expect(quiet.status).toBe(202);
    const baseline = await finished(quiet.body.job_id);

    // One keep-alive connection made before the flood carries the requests.
    const { Agent, request } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const call = (method: string, url: string, body?: unknown) =>
      new Promise<{ status: number; body: JsonAnswer }>((resolve, reject) => {
        const req = request(`${pas.url}${url}`, { method, agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    expect((await call('GET', '/health')).status).toBe(200);
    const flood = Array.from({ length: 1100 }, () => {
      const socket = net.connect(pas.port, '127.0.0.1');
      socket.on('error', () => undefined);
      sockets.add(socket);
      return socket;
    });
    await until(() => flood.every((s) => s.readyState === 'open' || s.destroyed));

    const during = await call('POST', '/api/jobs', job);
    expect(during.status).toBe(202);
    let outcome: JsonAnswer;
    await until(async () => {
      outcome = (await call('GET', `/api/jobs/${during.body.job_id}`)).body;
      return ['completed', 'partial', 'failed', 'cancelled'].includes(outcome.status);
    });
    expect(pas.child.exitCode).toBeNull();
    expect(outcome.status).toBe(baseline.status);
    expect(outcome.error?.code ?? null).toBe(baseline.error?.code ?? null);
    for (const s of flood) s.destroy();
    await until(async () => (await getJson(`${pas.url}/health`).catch(() => ({ status: 0 }))).status === 200);
  }, 120_000);
});
