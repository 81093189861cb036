/**
 * The WebSocket feed (CONTRACT §5). The hub owns `seq`: the runtime publishes records without
 * one and the hub stamps them 1, 2, 3… with no gaps, keeps the newest `ringSize` in memory for
 * `?since=N` reconnects, and fans them out. A client that stops reading is closed with 1013
 * as soon as its backlog passes `maxBufferedBytes`, so it never delays the others; a client that
 * stops answering pings is terminated by the heartbeat.
 *
 * The backlog is counted here, not read from `ws.bufferedAmount`: the kernel's socket buffers
 * (several MiB on loopback) take what a paused client does not read, so bufferedAmount stays
 * near 0 long after the client stopped. Instead every byte handed to a client counts until the
 * client proves it read past it: a ping goes out behind the data every `maxBufferedBytes / 8`
 * bytes, and its pong (which a client can only send once it has read everything before the
 * ping) acknowledges the bytes sent before it.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { AgentRole } from '../../machines/domain.ts';
import type { ProgressInput, ProgressRecord } from '../runtime/progress-board.ts';
import { AGENT_ROLES } from '../../machines/statuses.ts';
import { scrubValue, secretValues } from '../redaction.ts';
import { agentTree, type AgentTree, type TransitionRecord, type TreeNode } from '../runtime/transition-record.ts';

export type TransitionInput = Omit<TransitionRecord, 'seq' | 'v' | 'type' | 'ts'> & { ts?: string };

export interface FeedHubOptions {
  /** How many records are held for `?since=N` reconnects. Default 1000. */
  ringSize?: number;
  /** A client whose unsent bytes pass this is closed with 1013. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Ping interval; a client that missed the previous ping is terminated. Default 30 s. */
  heartbeatMs?: number;
  /** The agent tree sent in every hello. */
  tree: () => TreeNode[];
  logger?: Pick<Logger, 'debug' | 'info' | 'warn'>;
  now?: () => Date;
  /** How long a closing client may take to finish the close handshake before it is cut. Default 2 s. */
  closeGraceMs?: number;
  /** Largest client message accepted; bigger ones close the client (1009). Default 4 KiB. */
  maxClientMessageBytes?: number;
}

export interface FeedHubStats {
  clients: number;
  seq: number;
  ringSize: number;
  ringCapacity: number;
  oldestSeq: number | null;
  published: number;
  /** Clients closed with 1013 because they fell behind. */
  droppedClients: number;
  /** Clients terminated because they stopped answering pings. */
  deadClients: number;
}

export interface HelloMessage {
  v: 1;
  type: 'hello';
  seq: number;
  tree: AgentTree;
  /** Set when `since` asked for records no longer held (or from another hub lifetime). */
  gap?: true;
  /** With `gap`: the oldest seq the client will receive. */
  oldestSeq?: number;
}

export const WS_CLOSE_TOO_SLOW = 1013;
export const WS_CLOSE_GOING_AWAY = 1001;

const PROGRESS_KINDS: ReadonlySet<string> = new Set(['tool', 'file', 'command', 'retry', 'message']);
const ROLES: ReadonlySet<string> = new Set<string>(AGENT_ROLES);

interface Client {
  ws: WebSocket;
  alive: boolean;
  remote: string;
  /** Bytes handed to this client since it connected. */
  sent: number;
  /** Bytes the client has read for certain (sent before the last ping it answered). */
  acked: number;
  /** `sent` at each ping not yet answered, oldest first. */
  pings: number[];
}

interface Held {
  seq: number;
  /** The record as sent: serialized (secrets scrubbed) when first sent, so a feed no client reads costs no JSON. */
  text?: string;
  record: object;
}

function requireString(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`transition record field "${field}" must be a non-empty string`);
  }
  return value;
}

export class FeedHub {
  private readonly ringCapacity: number;
  private readonly maxBufferedBytes: number;
  private readonly heartbeatMs: number;
  private readonly closeGraceMs: number;
  private readonly tree: () => TreeNode[];
  private readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'> | undefined;
  private readonly now: () => Date;
  private readonly ring: (Held | undefined)[];
  private ringStart = 0;
  private ringLength = 0;
  private seq = 0;
  private published = 0;
  private droppedClients = 0;
  private deadClients = 0;
  private readonly clients = new Set<Client>();
  private readonly wss: WebSocketServer;
  private readonly attached: { server: Server; listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void }[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;
  /** Secret values (redaction policy) scrubbed from every frame, read once at start. */
  private readonly secrets = secretValues();

  constructor(options: FeedHubOptions) {
    this.ringCapacity = Math.max(1, Math.trunc(options.ringSize ?? 1000));
    this.maxBufferedBytes = Math.max(1, options.maxBufferedBytes ?? 1024 * 1024);
    this.heartbeatMs = Math.max(1, options.heartbeatMs ?? 30_000);
    this.closeGraceMs = Math.max(0, options.closeGraceMs ?? 2000);
    this.tree = options.tree;
    this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
    this.ring = new Array<Held | undefined>(this.ringCapacity);
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: Math.max(16, options.maxClientMessageBytes ?? 4096),
    });
  }

  /**
   * Stamp the next seq on a record and send it to every client. Only the TransitionRecord
   * fields are kept; an incoming `seq`, `v` or `type` is ignored (the hub owns them).
   */
  publish(record: TransitionInput | TransitionRecord): TransitionRecord {
    const input = record as unknown as Record<string, unknown>;
    const role = requireString(input, 'role');
    if (!ROLES.has(role as AgentRole)) throw new TypeError(`transition record role "${role}" is not an agent role`);
    const ts = typeof input.ts === 'string' && input.ts.length > 0 ? input.ts : this.now().toISOString();
    const clean: TransitionRecord = {
      v: 1,
      type: 'transition',
      seq: this.seq + 1,
      ts,
      agentId: requireString(input, 'agentId'),
      role: role as AgentRole,
      from: requireString(input, 'from'),
      to: requireString(input, 'to'),
      event: requireString(input, 'event'),
    };
    if (typeof input.jobId === 'string') clean.jobId = input.jobId;
    if (typeof input.taskId === 'string') clean.taskId = input.taskId;
    if (typeof input.error === 'string') clean.error = input.error;

    this.emit(clean);
    return clean;
  }

  /**
   * Stamp the next seq on a task's progress (a coding agent's tool call, file, command, retry or
   * message) and send it like a transition: same seq series, same ring, same `?since=N` replay.
   * Only the known fields are kept.
   */
  publishProgress(record: ProgressInput): ProgressRecord {
    const input = record as unknown as Record<string, unknown>;
    const kind = requireString(input, 'kind');
    if (!PROGRESS_KINDS.has(kind)) throw new TypeError(`progress record kind "${kind}" is not one of ${[...PROGRESS_KINDS].join(', ')}`);
    const clean: ProgressRecord = {
      v: 1,
      type: 'progress',
      seq: this.seq + 1,
      ts: typeof input.ts === 'string' && input.ts.length > 0 ? input.ts : this.now().toISOString(),
      agentId: requireString(input, 'agentId'),
      role: 'programmer',
      jobId: requireString(input, 'jobId'),
      taskId: requireString(input, 'taskId'),
      kind: kind as ProgressRecord['kind'],
    };
    for (const field of ['tool', 'path', 'change', 'command', 'text'] as const) {
      if (typeof input[field] === 'string') clean[field] = input[field] as string;
    }
    for (const field of ['attempt', 'status'] as const) {
      if (typeof input[field] === 'number') clean[field] = input[field] as number;
    }
    if (typeof input.exitCode === 'number' || input.exitCode === null) clean.exitCode = input.exitCode as number | null;
    this.emit(clean);
    return clean;
  }

  private emit(record: { seq: number }): void {
    this.seq = record.seq;
    this.published += 1;
    const held: Held = { seq: record.seq, record };
    this.hold(held);
    if (this.clients.size === 0) return;
    const text = this.textOf(held);
    for (const client of this.clients) this.sendLive(client, text);
  }

  private textOf(held: Held): string {
    held.text ??= JSON.stringify(scrubValue(held.record, this.secrets));
    return held.text;
  }

  /** Serve the feed on `path` of this server's upgrade requests; other paths are left alone. */
  attach(server: Server, path = '/ws'): void {
    if (this.closed) throw new Error('FeedHub is closed');
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== path) return;
      if (this.closed) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req, url));
    };
    server.on('upgrade', listener);
    this.attached.push({ server, listener });
    this.startHeartbeat();
  }

  stats(): FeedHubStats {
    return {
      clients: this.clients.size,
      seq: this.seq,
      ringSize: this.ringLength,
      ringCapacity: this.ringCapacity,
      oldestSeq: this.ringLength > 0 ? this.seq - this.ringLength + 1 : null,
      published: this.published,
      droppedClients: this.droppedClients,
      deadClients: this.deadClients,
    };
  }

  /** Stop the heartbeat, detach from servers and close every client (1001), cutting laggards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const { server, listener } of this.attached) server.off('upgrade', listener);
    this.attached.length = 0;
    const pending = [...this.clients].map(
      (client) =>
        new Promise<void>((resolve) => {
          if (client.ws.readyState === WebSocket.CLOSED) return resolve();
          client.ws.once('close', () => resolve());
          this.closeClient(client, WS_CLOSE_GOING_AWAY, 'server shutting down');
        }),
    );
    this.clients.clear();
    await Promise.all(pending);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private onConnection(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const client: Client = { ws, alive: true, remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`, sent: 0, acked: 0, pings: [] };
    ws.on('error', (err) => this.logger?.debug({ err, remote: client.remote }, 'feed client socket error'));
    ws.on('pong', () => {
      client.alive = true;
      const mark = client.pings.shift();
      if (mark !== undefined) client.acked = Math.max(client.acked, mark);
    });
    ws.on('message', (data, isBinary) => this.onMessage(client, data, isBinary));
    ws.on('close', () => this.clients.delete(client));

    const since = parseSince(url.searchParams.get('since'));
    const hello: HelloMessage = { v: 1, type: 'hello', seq: this.seq, tree: this.safeTree() };
    const oldest = this.seq - this.ringLength + 1; // next seq when the ring is empty
    let replayFrom = this.seq + 1;
    if (since !== undefined) {
      if (since < oldest - 1 || since > this.seq) {
        hello.gap = true;
        hello.oldestSeq = oldest;
        replayFrom = oldest;
      } else {
        replayFrom = since + 1;
      }
    }
    // Hello and replay go out in this same tick, so no publish can slip in between.
    this.send(client, JSON.stringify(scrubValue(hello, this.secrets)));
    for (let seq = replayFrom; seq <= this.seq; seq += 1) {
      const held = this.ring[(this.ringStart + (seq - oldest)) % this.ringCapacity];
      if (held) this.send(client, this.textOf(held));
    }
    this.clients.add(client);
    this.logger?.debug({ remote: client.remote, since, replayed: this.seq - replayFrom + 1 }, 'feed client connected');
  }

  private onMessage(client: Client, data: RawData, isBinary: boolean): void {
    if (isBinary) return;
    let message: unknown;
    try {
      message = JSON.parse(rawToString(data));
    } catch {
      return;
    }
    if (message !== null && typeof message === 'object' && (message as { type?: unknown }).type === 'ping') {
      this.sendLive(client, JSON.stringify({ v: 1, type: 'pong', seq: this.seq }));
    }
  }

  private hold(record: Held): void {
    if (this.ringLength < this.ringCapacity) {
      this.ring[(this.ringStart + this.ringLength) % this.ringCapacity] = record;
      this.ringLength += 1;
    } else {
      this.ring[this.ringStart] = record;
      this.ringStart = (this.ringStart + 1) % this.ringCapacity;
    }
  }

  private sendLive(client: Client, text: string): void {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    const backlog = client.sent - client.acked + Buffer.byteLength(text);
    if (backlog > this.maxBufferedBytes || client.ws.bufferedAmount + Buffer.byteLength(text) > this.maxBufferedBytes) {
      this.droppedClients += 1;
      this.logger?.warn(
        { remote: client.remote, backlog, bufferedAmount: client.ws.bufferedAmount, maxBufferedBytes: this.maxBufferedBytes },
        'feed client too slow; closing it',
      );
      this.clients.delete(client);
      this.closeClient(client, WS_CLOSE_TOO_SLOW, 'client too slow');
      return;
    }
    this.send(client, text);
  }

  /** Hands a message to the client, counting it, and asks for proof of reading every maxBufferedBytes / 8. */
  private send(client: Client, text: string): void {
    client.ws.send(text);
    client.sent += Buffer.byteLength(text);
    const lastMark = client.pings.length > 0 ? client.pings[client.pings.length - 1]! : client.acked;
    if (client.sent - lastMark >= this.maxBufferedBytes / 8) this.ping(client);
  }

  private ping(client: Client): void {
    try {
      client.ws.ping();
      client.pings.push(client.sent);
    } catch (err) {
      this.logger?.debug({ err, remote: client.remote }, 'feed ping failed');
    }
  }

  /** Start the close handshake; cut the socket if the peer has not finished it in time. */
  private closeClient(client: Client, code: number, reason: string): void {
    client.ws.close(code, reason);
    const timer = setTimeout(() => client.ws.terminate(), this.closeGraceMs);
    timer.unref();
    client.ws.once('close', () => clearTimeout(timer));
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      for (const client of this.clients) {
        if (!client.alive) {
          this.deadClients += 1;
          this.logger?.info({ remote: client.remote }, 'feed client missed a heartbeat; terminating it');
          this.clients.delete(client);
          client.ws.terminate();
          continue;
        }
        client.alive = false;
        this.ping(client);
      }
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }

  private safeTree(): AgentTree {
    try {
      return agentTree(this.tree().map(cleanNode));
    } catch (err) {
      this.logger?.warn({ err }, 'feed tree() threw; sending an empty tree');
      return {};
    }
  }
}

/** Only the TreeNode fields leave the process, whatever else the runtime's nodes carry. */
function cleanNode(node: TreeNode): TreeNode {
  const clean: TreeNode = { agentId: node.agentId, role: node.role, parent: node.parent ?? null, state: node.state };
  if (typeof node.port === 'number') clean.port = node.port;
  if (typeof node.lane === 'string') clean.lane = node.lane;
  if (Array.isArray(node.breakers)) clean.breakers = node.breakers.filter((b): b is string => typeof b === 'string');
  if (typeof node.jobId === 'string') clean.jobId = node.jobId;
  if (typeof node.taskId === 'string') clean.taskId = node.taskId;
  return clean;
}

function parseSince(raw: string | null): number | undefined {
  if (raw === null || !/^\d{1,15}$/.test(raw)) return undefined;
  return Number(raw);
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
