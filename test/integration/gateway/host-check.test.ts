/**
 * DNS-rebinding guard: a browser page on another hostname that resolves to 127.0.0.1 gets 403 on
 * every HTTP route and WebSocket upgrade; requests for this machine are served as usual.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../../src/config/load-config.ts';
import { hostAllowed } from '../../../src/gateway/host-check.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';

let tree: TestTree | undefined;
afterEach(async () => {
  await tree?.close();
  tree = undefined;
});

function request(port: number, method: string, path: string, host: string, body?: string): Promise<{ status: number; text: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { host, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    // Which request, on a new or a kept-alive connection, and after how long: what a hang-up needs to be understood.
    req.on('error', (err) => reject(new Error(`${method} ${path} on port ${port} with Host ${host} (${req.reusedSocket ? 'kept-alive' : 'new'} connection, ${Math.round(performance.now() - started)} ms): ${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`, { cause: err })));
    req.end(body);
  });
}

describe('the Host guard', () => {
  it('refuses HTTP requests and WebSocket upgrades that name another host, and serves localhost and loopback names', async () => {
    tree = await startTestTree({ services: inProcessServices(), agentPorts: true });
    const port = tree.gateway!.port;
    const agentPort = tree.gateway!.agentPorts.get('Mgr-Code-01')!;

    const evil = await request(port, 'POST', '/api/jobs', 'rebind.example:80', JSON.stringify({ task: 'x' }));
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.text).error.code).toBe('PAS_ERR_HOST_NOT_ALLOWED');
    expect((await request(port, 'GET', '/api/jobs', 'rebind.example')).status).toBe(403);
    expect((await request(agentPort, 'GET', '/health', 'rebind.example')).status).toBe(403);
    expect(tree.runtime.journal.countJobs()).toBe(0);

    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      expect((await request(port, 'GET', '/health', host)).status).toBe(200);
    }

    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: 'rebind.example' } });
      ws.on('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
      ws.on('open', () => resolve('open'));
      ws.on('error', (err) => resolve(`error ${err.message}`));
    });
    expect(refused).toMatch(/403/);
    const hello = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      ws.once('message', (data) => {
        ws.close();
        resolve(JSON.parse(String(data)).type);
      });
      ws.on('error', reject);
    });
    expect(hello).toBe('hello');
  });

  it('refuses names that merely start with 127. (127.evil.example, 127.0.0.1.nip.io) on POST /api/jobs and /ws, and serves names listed in gateway.allowed_hosts', async () => {
    const config = loadConfig(SHIPPED_CONFIGS);
    const withAllowed = { ...config, pas: { ...config.pas, gateway: { ...config.pas.gateway, allowed_hosts: ['pas.internal'] } } } as typeof config;
    tree = await startTestTree({ config: withAllowed, services: inProcessServices(), agentPorts: true });
    const port = tree.gateway!.port;
    const agentPort = tree.gateway!.agentPorts.get('Dir-Data')!;
    for (const host of ['127.evil.example', `127.0.0.1.nip.io:${port}`, '127.0.0.1.evil.example', 'localhost.evil.example', '0x7f.example']) {
      const job = await request(port, 'POST', '/api/jobs', host, JSON.stringify({ task: 'x' }));
      expect(job.status, host).toBe(403);
      expect((await request(agentPort, 'POST', '/submit', host, JSON.stringify({ task: 'x' }))).status, host).toBe(403);
      const ws = await new Promise<string>((resolve) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host } });
        socket.on('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
        socket.on('open', () => {
          socket.close();
          resolve('open');
        });
        socket.on('error', (err) => resolve(`error ${err.message}`));
      });
      expect(ws, host).toMatch(/403/);
    }
    expect(tree.runtime.journal.countJobs()).toBe(0);
    for (const host of [`pas.internal:${port}`, 'PAS.internal', `127.0.0.2:${port}`, `127.1:${port}`]) {
      expect((await request(port, 'GET', '/health', host)).status, host).toBe(200);
    }
  });

  it('lets any Host through when PAS is deliberately bound to every interface', () => {
    expect(hostAllowed('rebind.example', '0.0.0.0')).toBe(true);
    expect(hostAllowed('rebind.example', '127.0.0.1')).toBe(false);
    expect(hostAllowed('pas.internal:6101', 'pas.internal')).toBe(true);
    expect(hostAllowed('127.0.0.2:6101', '127.0.0.1')).toBe(true);
    expect(hostAllowed(undefined, '127.0.0.1')).toBe(true);
    expect(hostAllowed('127.0.0.1.nip.io', '127.0.0.1')).toBe(false);
    expect(hostAllowed('127.evil.example:6101', '127.0.0.1')).toBe(false);
    expect(hostAllowed('pas.internal', '127.0.0.1', ['pas.internal'])).toBe(true);
  });
});
