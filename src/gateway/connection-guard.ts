/**
 * One budget of open connections for every server of the process (gateway + one per agent), so
 * idle or half-sent sockets can never take the file descriptors that git and the other children
 * need: past the cap a new connection is closed as soon as it is accepted. It also remembers every
 * socket (HTTP, keep-alive, upgraded WebSocket, an upgrade nobody answered) so shutdown can end
 * them all, whatever state they are in.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import type { Socket } from 'node:net';

/** The soft limit on open files of this process (Linux /proc), or undefined where unknown. */
export function openFilesLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    const n = Number(soft);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `max_connections: auto`: half the open-files limit (the other half stays for the journal, logs,
 * git and agent CLIs), at most 4096, at least 16.
 */
export function resolveMaxConnections(setting: number | 'auto', limit = openFilesLimit()): number {
  if (setting !== 'auto') return setting;
  if (limit === undefined) return 4096;
  return Math.max(16, Math.min(4096, Math.floor(limit / 2)));
}

export class ConnectionGuard {
  private readonly sockets = new Set<Socket>();
  private refusedCount = 0;

  constructor(readonly maxConnections: number) {}

  /** Count (and cap) the connections `server` accepts. */
  watch(server: Server): void {
    server.on('connection', (socket: Socket) => {
      if (this.sockets.size >= this.maxConnections) {
        this.refusedCount += 1;
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  get open(): number {
    return this.sockets.size;
  }

  /** Connections closed at once because the cap was reached. */
  get refused(): number {
    return this.refusedCount;
  }

  /** Ends every socket still open (after the servers stopped listening and the feed said goodbye). */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
