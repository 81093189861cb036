/**
 * The distribution benchmark reads nats-server's /varz right before and after each measured
 * batch. It reads it over node:http: a first `fetch` in the bench process would start undici,
 * whose WebAssembly parser V8 compiles on background threads during the batch being measured.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerCounters } from '../../../scripts/bench-distribution.ts';
import { getJson } from '../../../scripts/bench-support.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);

let servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  servers = [];
});

/** A local server answering every GET with `status` and `body`. */
async function serve(status: number, body: string): Promise<string> {
  const server = http.createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const VARZ = JSON.stringify({ in_msgs: 812, out_msgs: 790, in_bytes: 40_960, out_bytes: 51_200, server_id: 'N1' });

describe('the distribution benchmark reading the broker counters', () => {
  it('reads in and out messages and bytes from /varz, in a process where fetch was never started', async () => {
    const url = await serve(200, VARZ);
    // A fresh process: undici's global dispatcher exists only once fetch has been used there.
    const code = [
      "const { brokerCounters } = await import('./scripts/bench-distribution.ts');",
      'const counters = await brokerCounters(process.argv[1]);',
      "console.log(JSON.stringify({ counters, undici: Symbol.for('undici.globalDispatcher.1') in globalThis }));",
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, url], { cwd: ROOT, timeout: 60_000 });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ counters: { inMsgs: 812, outMsgs: 790, inBytes: 40_960, outBytes: 51_200 }, undici: false });
  }, 70_000);

  it('answers null when the monitor port is not set, answers an error status, or is not there', async () => {
    expect(await brokerCounters(undefined)).toBeNull();
    expect(await brokerCounters(await serve(500, '{"error":"boom"}'))).toBeNull();
    const gone = await serve(200, VARZ);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    expect(await brokerCounters(gone)).toBeNull();
  });

  it('getJson names the status of an error answer and a body that is not JSON', async () => {
    await expect(getJson(`${await serve(503, 'busy')}/varz`)).rejects.toThrow(/\/varz: HTTP 503: busy/);
    await expect(getJson(`${await serve(200, '<html>')}/varz`)).rejects.toThrow(/\/varz: the answer is not JSON/);
  });

  it('getJson gives up on a server that never answers, naming the wait', async () => {
    const server = http.createServer(() => undefined);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/varz`;
    await expect(getJson(url, 200)).rejects.toThrow(/no answer within 200 ms/);
    server.closeAllConnections();
  });
});
