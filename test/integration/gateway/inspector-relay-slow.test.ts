/**
 * The inspector relay's sibling of the slow feed consumer: a bridge client (a browser tab) that
 * stops reading is closed with 1013 once its backlog passes the bound, instead of the relay
 * holding every inspection event for it in memory; a reading client keeps receiving.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { InspectorRelay } from '../../../src/gateway/inspector-relay.ts';
import { until, useCleanup } from './gateway-helpers.ts';

describe('the inspector relay', () => {
  const cleanup = useCleanup();

  async function open(port: number): Promise<{ ws: WebSocket; received: () => number; closed: Promise<number> }> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/inspect`);
    cleanup.defer(() => ws.terminate());
    let received = 0;
    ws.on('message', () => (received += 1));
    ws.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { ws, received: () => received, closed };
  }

  it('closes a client that stops reading with 1013 once it is too far behind, and keeps forwarding to the others', async () => {
    const relay = new InspectorRelay(10, 256 * 1024);
    const server: Server = createServer((_req, res) => res.end());
    relay.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanup.defer(() => relay.close());
    const port = (server.address() as AddressInfo).port;
    const reader = await open(port);
    const paused = await open(port);
    const sender = await open(port);
    (paused.ws as unknown as { _socket: Socket })._socket.pause();

    const event = JSON.stringify({ type: '@xstate.event', event: { type: 'x'.repeat(64 * 1024) } });
    let sent = 0;
    let pausedClosed = false;
    void paused.closed.then(() => (pausedClosed = true));
    while (relay.droppedClients() === 0 && sent < 2000) {
      sender.ws.send(event);
      sent += 1;
      const target = sent;
      await until(() => reader.received() >= target, 10_000, `reader to get event ${target}`);
    }
    // Closed long before 2,000 × 64 KiB (125 MiB) were queued for it.
    expect(sent).toBeLessThan(2000);
    (paused.ws as unknown as { _socket: Socket })._socket.resume();
    expect(await paused.closed).toBe(1013);
    expect(pausedClosed).toBe(true);
    sender.ws.send(event);
    await until(() => reader.received() === sent + 1, 10_000, 'reader after the close');
  });
});
