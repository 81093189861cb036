/**
 * A local relay for the Stately inspector, hosted by the gateway (so it binds where the gateway
 * binds, 127.0.0.1 by default): `pas up --inspect` connects `@statelyai/inspect`'s WebSocket
 * inspector to `ws://<gateway>/inspect`, and `GET /inspect` serves a bridge page that forwards
 * what the relay receives into the Stately inspector UI in the user's browser. Nothing is sent
 * to a third-party host by PAS itself.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';

export const INSPECT_PATH = '/inspect';

export function bridgePage(wsPath: string, inspectorUrl: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PAS · Stately inspector</title>
<style>html,body{height:100%;margin:0}iframe{width:100%;height:100%;border:0}</style></head>
<body><iframe id="inspector" title="Stately inspector" src="${inspectorUrl}"></iframe>
<script>
const iframe = document.getElementById('inspector');
const buffer = []; let connected = false;
window.addEventListener('message', (e) => {
  if (e.data && e.data.type === '@statelyai.connected') { connected = true; buffer.splice(0).forEach((m) => iframe.contentWindow.postMessage(m, '*')); }
});
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + ${JSON.stringify(wsPath)});
ws.onmessage = (event) => { const data = JSON.parse(event.data); if (connected) iframe.contentWindow.postMessage(data, '*'); else buffer.push(data); };
</script></body></html>`;
}

export class InspectorRelay {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  private readonly recent: string[] = [];
  private dropped = 0;

  /** A client further behind than `maxBufferedBytes` (a paused browser tab) is closed with 1013 instead of holding it all in memory. */
  constructor(
    private readonly keep = 500,
    private readonly maxBufferedBytes = 4 * 1024 * 1024,
  ) {
    this.wss.on('connection', (ws) => {
      ws.on('error', () => undefined);
      for (const msg of this.recent) ws.send(msg);
      ws.on('message', (data) => {
        const msg = data.toString();
        this.recent.push(msg);
        if (this.recent.length > this.keep) this.recent.shift();
        for (const client of this.wss.clients) if (client !== ws && client.readyState === WebSocket.OPEN) this.forward(client, msg);
      });
    });
  }

  private forward(client: WebSocket, msg: string): void {
    if (client.bufferedAmount + Buffer.byteLength(msg) > this.maxBufferedBytes) {
      this.dropped += 1;
      client.close(1013, 'client too slow');
      setTimeout(() => client.terminate(), 2000).unref();
      return;
    }
    client.send(msg);
  }

  attach(server: Server, path = INSPECT_PATH): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (new URL(request.url ?? '/', 'http://localhost').pathname !== path) return;
      this.wss.handleUpgrade(request, socket, head, (ws) => this.wss.emit('connection', ws, request));
    });
  }

  clients(): number {
    return this.wss.clients.size;
  }

  /** Clients closed with 1013 because they fell too far behind. */
  droppedClients(): number {
    return this.dropped;
  }

  close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}
