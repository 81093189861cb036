/**
 * The slow consumer: a `/ws` client that stops reading is closed with 1013 as soon as what it has
 * not read passes `gateway.ws.max_buffered_bytes` — however much of it the kernel's socket buffers
 * hold — not 30 s later by the heartbeat; `/metrics` counts it; a client that reads keeps going.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { inProcessServices } from '../../support/in-process-services.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';
import { http, until, useCleanup } from './gateway-helpers.ts';

const LIMIT = 64 * 1024;

describe('a /ws client that stops reading', () => {
  const cleanup = useCleanup();

  it('is closed with 1013 once its unread bytes pass max_buffered_bytes, counted in /metrics, while a reading client keeps up', async () => {
    const shipped = loadConfig(SHIPPED_CONFIGS);
    // The heartbeat is an hour away: only the backlog can cut the paused client.
    const config = { ...shipped, pas: { ...shipped.pas, gateway: { ...shipped.pas.gateway, ws: { ring_size: 1000, max_buffered_bytes: LIMIT, heartbeat_s: 3600 } } } } as typeof shipped;
    const tree = await cleanup.tree({ config, services: inProcessServices(), agentPorts: false });
    const hub = tree.gateway!.hub;
    const reader = await cleanup.feed(tree.url);
    const paused = await cleanup.feed(tree.url);
    await until(() => paused.messages.length >= 1 && reader.messages.length >= 1);
    (paused.ws as unknown as { _socket: Socket })._socket.pause();

    const event = `task.progress.${'x'.repeat(2000)}`;
    let sent = 0;
    let last = 0;
    while (hub.stats().droppedClients === 0) {
      const record = hub.publish({ agentId: 'Prog-001', role: 'programmer', from: 'EXECUTING', to: 'EXECUTING', event });
      last = record.seq;
      sent += Buffer.byteLength(JSON.stringify(record));
      // Kernel buffers on loopback hold megabytes: the cut must come from the hub's own count.
      expect(sent, 'bytes handed to the paused client before it was cut').toBeLessThanOrEqual(LIMIT + 4096);
      await until(() => (reader.messages.at(-1)?.seq ?? 0) >= record.seq);
    }
    expect(hub.stats()).toMatchObject({ droppedClients: 1, deadClients: 0, clients: 1 });
    expect(reader.transitions().map((t) => t.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));

    const metrics = await http(`${tree.url}/metrics`);
    expect(metrics.text).toMatch(/^pas_feed_clients_closed_total\{reason="slow"\} 1$/m);
    expect(metrics.text).toMatch(/^pas_feed_clients 1$/m);

    (paused.ws as unknown as { _socket: Socket })._socket.resume();
    await expect(paused.closed).resolves.toEqual({ code: 1013, reason: 'client too slow' });
  });
});
