/**
 * The distribution benchmark reads nats-server's /varz right before and after each measured
 * batch. It reads it over node:http: a first `fetch` in the bench process would load undici,
 * whose WebAssembly parser V8 compiles on a background thread during the batch being measured.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerCounters } from '../../../scripts/bench-distribution.ts';
import { httpGetJson } from '../../../scripts/bench-support.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);

let servers: Array<http.Server | net.Server> = [];
afterEach(async () => {
  for (const s of servers) if (s instanceof http.Server) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  servers = [];
});

async function listen(server: http.Server | net.Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A local server answering every GET with `status` and `body`. */
const serve = (status: number, body: string) => listen(http.createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body)));

const VARZ = JSON.stringify({ in_msgs: 812, out_msgs: 790, in_bytes: 40_960, out_bytes: 51_200, server_id: 'N1' });

describe('the distribution benchmark reading the broker counters', () => {
  it('reads in and out messages and bytes from /varz without loading undici, which a fetch in the same process then does', async () => {
    const url = await serve(200, VARZ);
    // A fresh process; Node lists an internal module once it is loaded.
    const code = [
      "const undici = () => process.moduleLoadList.some((m) => m.includes('internal/deps/undici'));",
      "const { brokerCounters } = await import('./scripts/bench-distribution.ts');",
      'const counters = await brokerCounters(process.argv[1]);',
      'const after = undici();',
      // The control: the probe does see undici once fetch has run.
      'await fetch(`${process.argv[1]}/varz`).then((r) => r.text());',
      'console.log(JSON.stringify({ counters, undici: after, undiciAfterFetch: undici() }));',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, url], { cwd: ROOT, timeout: 60_000 });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ counters: { inMsgs: 812, outMsgs: 790, inBytes: 40_960, outBytes: 51_200 }, undici: false, undiciAfterFetch: true });
  }, 70_000);

  it('answers null without a monitor port, for an error status, a document without the four counts, and a server that hangs up', async () => {
    expect(await brokerCounters(undefined)).toBeNull();
    expect(await brokerCounters(await serve(500, '{"error":"boom"}'))).toBeNull();
    expect(await brokerCounters(await serve(200, '{"in_msgs":1,"out_msgs":2}'))).toBeNull();
    expect(await brokerCounters(await listen(net.createServer((socket) => socket.destroy())))).toBeNull();
  });

  it('httpGetJson names the URL and the status of an error answer, a body that is not JSON, and a hang-up', async () => {
    await expect(httpGetJson(`${await serve(503, 'busy')}/varz`)).rejects.toThrow(/^GET http:\/\/127\.0\.0\.1:\d+\/varz: HTTP 503: busy$/);
    await expect(httpGetJson(`${await serve(200, '<html>')}/varz`)).rejects.toThrow(/\/varz: the answer is not JSON/);
    await expect(httpGetJson(`${await listen(net.createServer((socket) => socket.destroy()))}/varz`)).rejects.toThrow(/^GET http:\/\/127\.0\.0\.1:\d+\/varz: socket hang up$/);
  });

  it('httpGetJson gives up on a server that never answers, and on one that trickles its answer past the deadline', async () => {
    const silent = await listen(http.createServer(() => undefined));
    await expect(httpGetJson(`${silent}/varz`, 200)).rejects.toThrow(/\/varz: no whole answer within 200 ms/);
    // A byte every 50 ms: never silent for 200 ms, never whole within it either.
    const trickle = await listen(
      http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const timer = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(timer));
      }),
    );
    await expect(httpGetJson(`${trickle}/varz`, 200)).rejects.toThrow(/\/varz: no whole answer within 200 ms/);
  });
});
