import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { TransitionRecord, TreeNode } from '../../../src/runtime/transition-record.ts';
import { FeedHub, type FeedHubOptions, type TransitionInput } from '../../../src/gateway/feed-hub.ts';

type Message = Record<string, unknown> & { type: string; seq: number };

const TREE: TreeNode[] = [
  { agentId: 'Architect', role: 'architect', parent: null, state: 'IDLE', port: 6110 },
  { agentId: 'Prog-001', role: 'programmer', parent: 'Mgr-Code-01', state: 'EXECUTING', breakers: ['breaker:ollama/a'] },
];

const transition = (n: number, extra: Partial<TransitionInput> = {}): TransitionInput => ({
  ts: `2025-01-01T00:00:${String(n % 60).padStart(2, '0')}.000Z`,
  agentId: 'Prog-001',
  role: 'programmer',
  from: 'IDLE',
  to: 'EXECUTING',
  event: 'task.assigned',
  ...extra,
});

async function until(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface FeedClient {
  ws: WebSocket;
  messages: Message[];
  raw: string[];
  closed: Promise<{ code: number; reason: string }>;
}

describe('FeedHub on a real socket', () => {
  const hubs: FeedHub[] = [];
  const servers: Server[] = [];
  const sockets: { destroy(): void }[] = [];
  const wsServers: WebSocketServer[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(hubs.splice(0).map((hub) => hub.close()));
    await Promise.all(wsServers.splice(0).map((wss) => new Promise((resolve) => wss.close(resolve))));
    await Promise.all(
      servers.splice(0).map(
        (server) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
  });

  async function start(options: Partial<FeedHubOptions> = {}): Promise<{ hub: FeedHub; port: number; server: Server }> {
    const hub = new FeedHub({ ringSize: 100, maxBufferedBytes: 1 << 20, heartbeatMs: 10_000, tree: () => TREE, ...options });
    hubs.push(hub);
    const server = createServer((_req, res) => res.end('ok'));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hub.attach(server);
    return { hub, server, port: (server.address() as AddressInfo).port };
  }

  async function client(port: number, query = '', path = '/ws'): Promise<FeedClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}${query}`);
    sockets.push({ destroy: () => ws.terminate() });
    const messages: Message[] = [];
    const raw: string[] = [];
    ws.on('message', (data) => {
      raw.push(String(data));
      try {
        messages.push(JSON.parse(String(data)) as Message);
      } catch {
        // not a feed message (the other-path test); kept in raw only
      }
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { ws, messages, raw, closed };
  }

  /** A client that does the upgrade by hand and then only reads (it never answers pings). */
  async function rawClient(port: number, path = '/ws'): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
    const socket = tcpConnect(port, '127.0.0.1');
    sockets.push(socket);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await until(() => text.includes('\r\n\r\n'), 5000, 'upgrade response');
    expect(text.startsWith('HTTP/1.1 101')).toBe(true);
    return { socket, received: () => text, closed };
  }

  it('sends progress messages in the same seq series as transitions, keeps only their known fields and replays them with since=', async () => {
    const { hub, port } = await start();
    hub.publish(transition(1, { jobId: 'job-1', taskId: 't-1' }));
    const progress = hub.publishProgress({
      ts: '2025-01-01T00:00:02.000Z',
      agentId: 'Prog-001',
      role: 'programmer',
      jobId: 'job-1',
      taskId: 't-1',
      kind: 'file',
      tool: 'Write',
      path: 'src/a.ts',
      change: 'write',
      ...({ secret: 'must not leave', seq: 99 } as object),
    });
    hub.publishProgress({ ts: '2025-01-01T00:00:03.000Z', agentId: 'Prog-001', role: 'programmer', jobId: 'job-1', taskId: 't-1', kind: 'command', command: 'npm test', exitCode: 1 });
    hub.publish(transition(4, { from: 'EXECUTING', to: 'IDLE', event: 'task.completed', jobId: 'job-1', taskId: 't-1' }));
    expect(progress).toEqual({ v: 1, type: 'progress', seq: 2, ts: '2025-01-01T00:00:02.000Z', agentId: 'Prog-001', role: 'programmer', jobId: 'job-1', taskId: 't-1', kind: 'file', tool: 'Write', path: 'src/a.ts', change: 'write' });

    const replay = await client(port, '?since=1');
    await until(() => replay.messages.length >= 4, 5000, 'replay');
    expect(replay.messages.slice(1).map((m) => [m.seq, m.type])).toEqual([
      [2, 'progress'],
      [3, 'progress'],
      [4, 'transition'],
    ]);
    expect(replay.messages[2]).toMatchObject({ type: 'progress', kind: 'command', command: 'npm test', exitCode: 1 });
    expect(replay.raw.join('')).not.toContain('must not leave');
    expect(() => hub.publishProgress({ ts: 'x', agentId: 'Prog-001', role: 'programmer', jobId: 'j', taskId: 't', kind: 'nonsense' as 'tool' })).toThrow(/kind/);
    expect(hub.stats().seq).toBe(4);
  });

  it('sends hello with the last seq and the tree, then every transition in seq order with no gaps', async () => {
    const { hub, port } = await start();
    hub.publish(transition(1));
    hub.publish(transition(2));
    const c = await client(port);
    await until(() => c.messages.length >= 1, 5000, 'hello');
    expect(c.messages[0]).toEqual({ v: 1, type: 'hello', seq: 2, tree: { Architect: TREE[0], 'Prog-001': TREE[1] } });

    const published: TransitionRecord[] = [];
    for (let n = 3; n <= 52; n += 1) published.push(hub.publish(transition(n, { jobId: 'job-1', taskId: `t-${n}` })));
    await until(() => c.messages.length >= 51, 5000, '50 transitions');
    const seqs = c.messages.slice(1).map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 3));
    expect(c.messages[1]).toEqual({
      v: 1,
      type: 'transition',
      seq: 3,
      ts: '2025-01-01T00:00:03.000Z',
      agentId: 'Prog-001',
      role: 'programmer',
      from: 'IDLE',
      to: 'EXECUTING',
      event: 'task.assigned',
      jobId: 'job-1',
      taskId: 't-3',
    });
    expect(c.messages.slice(1)).toEqual(published);
  });

  it('assigns seq itself and strips every field that is not part of a transition record', async () => {
    const { hub, port } = await start({
      tree: () => [{ ...TREE[0]!, apiKey: 'sk-tree-secret' } as TreeNode],
    });
    const c = await client(port);
    const sneaky = { ...transition(1), seq: 999, v: 7, type: 'hello', apiKey: 'sk-secret', headers: { authorization: 'Bearer x' } };
    const stamped = hub.publish(sneaky as unknown as TransitionInput);
    expect(stamped.seq).toBe(1);
    await until(() => c.messages.length >= 2, 5000, 'transition');
    const raw = JSON.stringify(c.messages);
    expect(raw).not.toContain('secret');
    expect(raw).not.toContain('Bearer');
    expect(c.messages[1]).toMatchObject({ v: 1, type: 'transition', seq: 1 });
    expect(Object.keys(c.messages[1]!).sort()).toEqual(['agentId', 'event', 'from', 'role', 'seq', 'to', 'ts', 'type', 'v']);
  });

  it('scrubs secret env values (by the redaction policy) from the hello tree and from every transition', async () => {
    const secret = 'feed-password-0123456789';
    process.env.PAS_TEST_FEED_PASSWORD = secret;
    try {
      const { hub, port } = await start({ tree: () => [{ ...TREE[0]!, taskId: `job-${secret}` }] });
      const c = await client(port);
      hub.publish(transition(1, { jobId: `job-${secret}`, error: `failed: ${secret}` }));
      await until(() => c.messages.length >= 2, 5000, 'transition');
      expect(c.raw.join('\n')).not.toContain(secret);
      expect(c.messages[1]).toMatchObject({ jobId: 'job-[REDACTED]', error: 'failed: [REDACTED]' });
    } finally {
      delete process.env.PAS_TEST_FEED_PASSWORD;
    }
  });

  it('serializes nothing while no client listens, and a client connecting later with since= gets those records scrubbed', async () => {
    const secret = 'feed-password-lazy-0123456789';
    process.env.PAS_TEST_FEED_PASSWORD = secret;
    try {
      const { hub, port } = await start();
      const stringify = vi.spyOn(JSON, 'stringify');
      try {
        for (let n = 1; n <= 5; n += 1) hub.publish(transition(n, { error: `failed: ${secret}` }));
        expect(stringify).not.toHaveBeenCalled();
      } finally {
        stringify.mockRestore();
      }
      const c = await client(port, '?since=0');
      await until(() => c.messages.length >= 6, 5000, 'hello and replay');
      expect(c.messages.slice(1).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(c.raw.join('\n')).not.toContain(secret);
      expect(c.messages[1]).toMatchObject({ error: 'failed: [REDACTED]' });
    } finally {
      delete process.env.PAS_TEST_FEED_PASSWORD;
    }
  });

  it('refuses a record without an agent id or with an unknown role and does not spend a seq on it', async () => {
    const { hub } = await start();
    expect(() => hub.publish({ ...transition(1), agentId: '' })).toThrow(TypeError);
    expect(() => hub.publish({ ...transition(1), role: 'admin' } as unknown as TransitionInput)).toThrow(TypeError);
    expect(hub.publish(transition(1)).seq).toBe(1);
    expect(hub.stats().seq).toBe(1);
  });

  it('stamps the current time on a record published without ts', async () => {
    const { hub } = await start({ now: () => new Date('2025-06-01T12:00:00.000Z') });
    const { ts: _drop, ...noTs } = transition(1);
    expect(hub.publish(noTs).ts).toBe('2025-06-01T12:00:00.000Z');
  });

  it('sends an empty tree in hello when the tree function throws, and keeps serving', async () => {
    const { hub, port } = await start({
      tree: () => {
        throw new Error('tree unavailable');
      },
    });
    const c = await client(port);
    hub.publish(transition(1));
    await until(() => c.messages.length >= 2, 5000, 'hello and transition');
    expect(c.messages[0]).toEqual({ v: 1, type: 'hello', seq: 0, tree: {} });
    expect(c.messages[1]?.seq).toBe(1);
  });

  it('replays what a client missed when it reconnects with since, then goes live', async () => {
    const { hub, port } = await start();
    for (let n = 1; n <= 10; n += 1) hub.publish(transition(n));
    const c = await client(port, '?since=4');
    await until(() => c.messages.length >= 7, 5000, 'hello and replay');
    expect(c.messages[0]).toMatchObject({ type: 'hello', seq: 10 });
    expect(c.messages[0]).not.toHaveProperty('gap');
    expect(c.messages.slice(1).map((m) => m.seq)).toEqual([5, 6, 7, 8, 9, 10]);
    hub.publish(transition(11));
    await until(() => c.messages.length >= 8, 5000, 'live record');
    expect(c.messages[7]?.seq).toBe(11);
  });

  it('replays nothing to a client that is already up to date', async () => {
    const { hub, port } = await start();
    for (let n = 1; n <= 3; n += 1) hub.publish(transition(n));
    const c = await client(port, '?since=3');
    hub.publish(transition(4));
    await until(() => c.messages.length >= 2, 5000, 'live record');
    expect(c.messages.map((m) => [m.type, m.seq])).toEqual([
      ['hello', 3],
      ['transition', 4],
    ]);
  });

  it('flags a gap and sends from the oldest held seq when since is older than the ring', async () => {
    const { hub, port } = await start({ ringSize: 5 });
    for (let n = 1; n <= 20; n += 1) hub.publish(transition(n));
    expect(hub.stats()).toMatchObject({ seq: 20, ringSize: 5, ringCapacity: 5, oldestSeq: 16 });
    const c = await client(port, '?since=3');
    await until(() => c.messages.length >= 6, 5000, 'hello and replay');
    expect(c.messages[0]).toMatchObject({ type: 'hello', seq: 20, gap: true, oldestSeq: 16 });
    expect(c.messages.slice(1).map((m) => m.seq)).toEqual([16, 17, 18, 19, 20]);
  });

  it('flags a gap when since is ahead of the hub (the runtime restarted)', async () => {
    const { hub, port } = await start();
    hub.publish(transition(1));
    const c = await client(port, '?since=500');
    await until(() => c.messages.length >= 2, 5000, 'hello and replay');
    expect(c.messages[0]).toMatchObject({ type: 'hello', seq: 1, gap: true, oldestSeq: 1 });
    expect(c.messages[1]?.seq).toBe(1);
  });

  it('treats a malformed since as no since', async () => {
    const { hub, port } = await start();
    hub.publish(transition(1));
    const c = await client(port, '?since=abc');
    hub.publish(transition(2));
    await until(() => c.messages.length >= 2, 5000, 'live record');
    expect(c.messages.map((m) => m.seq)).toEqual([1, 2]);
    expect(c.messages[0]).not.toHaveProperty('gap');
  });

  it('closes a client that stops reading with 1013 while another client keeps receiving promptly', async () => {
    const { hub, port } = await start({ maxBufferedBytes: 256 * 1024, closeGraceMs: 30_000 });
    const fast = await client(port);
    const slow = await client(port);
    (slow.ws as unknown as { _socket: Socket })._socket.pause();

    const bigEvent = `task.progress.${'x'.repeat(16 * 1024)}`;
    let last = 0;
    const deadline = Date.now() + 20_000;
    while (hub.stats().droppedClients === 0) {
      if (Date.now() > deadline) throw new Error('slow client was never dropped');
      last = hub.publish(transition(last + 1, { event: bigEvent })).seq;
      // The fast client stays close behind: never more than a few records late.
      const target = last;
      await until(() => (fast.messages.at(-1)?.seq ?? 0) >= target, 1000, `fast client to get seq ${target}`);
    }
    expect(hub.stats()).toMatchObject({ clients: 1, droppedClients: 1 });

    const started = Date.now();
    const after = hub.publish(transition(last + 1)).seq;
    await until(() => fast.messages.at(-1)?.seq === after, 1000, 'fast client after the drop');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fast.messages.slice(1).map((m) => m.seq)).toEqual(Array.from({ length: after }, (_, i) => i + 1));

    (slow.ws as unknown as { _socket: Socket })._socket.resume();
    await expect(slow.closed).resolves.toEqual({ code: 1013, reason: 'client too slow' });
    const slowSeqs = slow.messages.slice(1).map((m) => m.seq);
    expect(slowSeqs.length).toBeLessThan(after);
    expect(slowSeqs).toEqual(Array.from({ length: slowSeqs.length }, (_, i) => i + 1));
  });

  it('terminates a client that never answers pings and keeps one that does', async () => {
    const { hub, port } = await start({ heartbeatMs: 100 });
    const dead = await rawClient(port);
    const live = await client(port);
    expect(hub.stats().clients).toBe(2);
    await dead.closed;
    expect(hub.stats()).toMatchObject({ clients: 1, deadClients: 1 });
    // The dead client did get hello and at least one ping frame (opcode 0x9) before it was cut.
    expect(dead.received()).toContain('"type":"hello"');
    expect(dead.received()).toContain('\x89\x00');
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(live.ws.readyState).toBe(WebSocket.OPEN);
    hub.publish(transition(1));
    await until(() => live.messages.length >= 2, 5000, 'live record');
  });

  it('ignores garbage client messages and answers a JSON ping with a pong', async () => {
    const { hub, port } = await start();
    const c = await client(port);
    for (const garbage of ['not json', '{"type":', '[]', 'null', '42', '{"type":"subscribe","agent":"x"}', '']) c.ws.send(garbage);
    c.ws.send(Buffer.from([0xff, 0x00, 0x13]), { binary: true });
    c.ws.send('{"type":"ping"}');
    await until(() => c.messages.some((m) => m.type === 'pong'), 5000, 'pong');
    expect(c.messages.find((m) => m.type === 'pong')).toEqual({ v: 1, type: 'pong', seq: 0 });
    hub.publish(transition(1));
    await until(() => c.messages.some((m) => m.type === 'transition'), 5000, 'transition after garbage');
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes only the client that sends an oversized message', async () => {
    const { hub, port } = await start({ maxClientMessageBytes: 1024 });
    const noisy = await client(port);
    const quiet = await client(port);
    noisy.ws.send('x'.repeat(5000));
    await expect(noisy.closed).resolves.toMatchObject({ code: 1009 });
    hub.publish(transition(1));
    await until(() => quiet.messages.length >= 2, 5000, 'transition to the quiet client');
    expect(hub.stats().clients).toBe(1);
  });

  it('leaves upgrades on other paths to their own handlers', async () => {
    const { hub, server, port } = await start();
    const other = new WebSocketServer({ noServer: true });
    wsServers.push(other);
    server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://x').pathname === '/other') {
        other.handleUpgrade(req, socket, head, (ws) => ws.send('from other'));
      }
    });
    const c = await client(port, '', '/other');
    await until(() => c.raw.length >= 1, 5000, 'message from the other handler');
    expect(c.raw).toEqual(['from other']);
    expect(hub.stats().clients).toBe(0);
  });

  it('closes every client with 1001 on close and stops serving the path', async () => {
    const { hub, port } = await start();
    const a = await client(port);
    const b = await client(port);
    await hub.close();
    await expect(a.closed).resolves.toMatchObject({ code: 1001 });
    await expect(b.closed).resolves.toMatchObject({ code: 1001 });
    expect(hub.stats().clients).toBe(0);
  });
});
