import http from 'node:http';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeTimedOutSocketsSafely } from '../../../src/gateway/stall-safe-timeouts.ts';

const TIMEOUT_MS = 300;
const GRACE_MS = 100;

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A server whose sockets time out after TIMEOUT_MS of silence, closed by the helper under test. */
async function serve(): Promise<{ server: http.Server; connect(): net.Socket }> {
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => response.end('ok'));
  });
  server.setTimeout(TIMEOUT_MS);
  server.keepAliveTimeout = 0;
  closeTimedOutSocketsSafely(server, GRACE_MS);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  const { port } = server.address() as AddressInfo;
  return {
    server,
    connect() {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.on('error', () => {});
      closers.push(() => socket.destroy());
      return socket;
    },
  };
}

function stallProcess(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Nothing runs meanwhile: no timer, no socket read.
  }
}

describe('closing timed-out sockets only once the process ran through a grace period', () => {
  it('a socket silent through its timeout and the grace period after it is closed', async () => {
    const { server, connect } = await serve();
    const timeouts: boolean[] = [];
    server.on('timeout', (socket: Socket) => timeouts.push(socket.destroyed));
    const client = connect();
    await new Promise((resolve) => client.once('close', resolve));
    // The first timeout only armed the grace period; a later one (the next, unless this loaded
    // machine stalled through the grace period) closed the socket.
    expect(timeouts.length).toBeGreaterThanOrEqual(2);
    expect(timeouts.slice(0, -1).every((destroyed) => !destroyed)).toBe(true);
    expect(timeouts.at(-1)).toBe(true);
  });

  it('traffic during the grace period gives the socket its own timeout back instead of closing it', async () => {
    const { server, connect } = await serve();
    const client = connect();
    client.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n');
    const seen: Array<{ destroyed: boolean; timeout: number | undefined }> = [];
    server.on('timeout', (socket: Socket) => {
      seen.push({ destroyed: socket.destroyed, timeout: socket.timeout });
      // In the grace period the client sends one byte of its body (read before any later timer).
      if (seen.length === 1) client.write('a');
    });
    await new Promise((resolve) => client.once('close', resolve));
    expect(seen[0]).toEqual({ destroyed: false, timeout: GRACE_MS });
    // The byte counted: the socket got its own timeout back, and was closed only after that passed
    // and a grace period more, without the rest of the body.
    expect(seen[1]).toEqual({ destroyed: false, timeout: TIMEOUT_MS });
    expect(seen.at(-1)!.destroyed).toBe(true);
    expect(seen.length).toBeGreaterThanOrEqual(4);
  });

  it('a grace period the process stalled through is granted again before the socket is closed', async () => {
    const { server, connect } = await serve();
    const seen: boolean[] = [];
    server.on('timeout', (socket: Socket) => {
      seen.push(socket.destroyed);
      if (seen.length === 1) stallProcess(GRACE_MS * 3);
    });
    const client = connect();
    await new Promise((resolve) => client.once('close', resolve));
    expect(seen.slice(0, 2)).toEqual([false, false]);
    expect(seen.at(-1)).toBe(true);
  });

  it('a request that arrives in the grace period is answered and gets the whole timeout again', async () => {
    const { server, connect } = await serve();
    const client = connect();
    let answers = 0;
    client.on('data', (chunk) => (answers += (chunk.toString().match(/HTTP\/1\.1 200/g) ?? []).length));
    const seen: Array<{ answers: number; destroyed: boolean }> = [];
    const requestTimeouts: Array<number | undefined> = [];
    server.on('request', (request: http.IncomingMessage) => requestTimeouts.push(request.socket.timeout));
    server.on('timeout', (socket: Socket) => {
      seen.push({ answers, destroyed: socket.destroyed });
      // In the first grace period a second request comes.
      if (seen.length === 1) client.write('GET /again HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    client.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => client.once('close', resolve));
    expect(answers).toBe(2);
    expect(seen[0]).toEqual({ answers: 1, destroyed: false });
    // The second request ran with the server's timeout, not with what was left of the grace period.
    expect(requestTimeouts).toEqual([TIMEOUT_MS, TIMEOUT_MS]);
    expect(seen.at(-1)).toEqual({ answers: 2, destroyed: true });
  });

  it('a response that ends in the grace period leaves the socket to its keep-alive timeout, not its longer idle one', async () => {
    const KEEP_ALIVE_MS = 50;
    // The answer comes after the socket's idle timeout ran out, within the grace period that followed.
    const server = http.createServer((request, response) => {
      request.resume();
      setTimeout(() => response.end('ok'), TIMEOUT_MS + GRACE_MS / 2);
    });
    server.setTimeout(TIMEOUT_MS);
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    closeTimedOutSocketsSafely(server, GRACE_MS);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => server.close());
    const seen: Array<{ timeout: number | undefined; destroyed: boolean }> = [];
    server.on('timeout', (socket: Socket) => seen.push({ timeout: socket.timeout, destroyed: socket.destroyed }));
    const client = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' });
    client.on('error', () => {});
    closers.push(() => client.destroy());
    let answered = false;
    client.on('data', () => (answered = true));
    client.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => client.once('close', resolve));
    expect(answered).toBe(true);
    // (Seen after the helper's own listener.) The idle timeout armed a grace period; after the
    // answer Node's keep-alive timeout ran out and armed one of its own, which closed the socket:
    // the longer idle timeout was never armed again after the answer.
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.map((s) => s.timeout)).toEqual(seen.map(() => GRACE_MS));
    expect(seen.at(-1)!.destroyed).toBe(true);
  });
});
