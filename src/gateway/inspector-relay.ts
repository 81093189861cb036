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

/** How long the bridge page waits for the inspector UI to say it is connected before explaining why not. */
export const INSPECTOR_CONNECT_WAIT_MS = 8_000;

/**
 * The page at GET /inspect. The Stately inspector UI is a web app hosted by Stately: the page
 * frames it, so it needs internet access, and says so on the page. Messages go to the frame's
 * own origin only (never `'*'`), and only the frame's `@statelyai.connected` is listened to.
 */
export function bridgePage(wsPath: string, inspectorUrl: string): string {
  const origin = new URL(inspectorUrl).origin;
  const esc = (t: string) => t.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PAS · Stately inspector</title>
<style>
html,body{height:100%;margin:0;font:14px system-ui,sans-serif}
body{display:flex;flex-direction:column}
#bar{padding:6px 12px;background:#1f2430;color:#dfe3ea;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
#bar a{color:#8ab4ff}
#offline{display:none;padding:16px 20px;background:#fff4e0;color:#4a3000;border-bottom:1px solid #e0c080}
#offline.shown{display:block}
iframe{flex:1;width:100%;border:0}
</style></head>
<body>
<div id="bar"><strong>Stately inspector</strong>
<span>The inspector UI is hosted at <a href="${esc(inspectorUrl)}" target="_blank" rel="noopener">${esc(origin)}</a> and needs internet access; the actor events come from this PAS over <code>${esc(wsPath)}</code>.</span>
<span id="status">events received: <b id="count">0</b> · <span id="state">waiting for the inspector UI…</span></span>
<a href="/">back to the HMI</a></div>
<div id="offline" role="alert"><strong>The Stately inspector UI did not load.</strong>
It is a web app on ${esc(origin)}, so it needs internet access from this browser. PAS keeps receiving the actor events
(the count above), but without the UI they cannot be shown here. Without internet: watch the agents live in the
<a href="/">PAS HMI</a>, or start PAS with <code>pas up --inspect-url ws://HOST:PORT</code> to send the events to an inspector you run yourself.</div>
<iframe id="inspector" title="Stately inspector" src="${esc(inspectorUrl)}"></iframe>
<script>
const INSPECTOR_ORIGIN = ${JSON.stringify(origin)};
const iframe = document.getElementById('inspector');
const buffer = []; let connected = false; let count = 0;
const post = (m) => iframe.contentWindow.postMessage(m, INSPECTOR_ORIGIN);
window.addEventListener('message', (e) => {
  if (e.origin !== INSPECTOR_ORIGIN || e.source !== iframe.contentWindow) return;
  if (e.data && e.data.type === '@statelyai.connected') {
    connected = true;
    document.getElementById('offline').classList.remove('shown');
    document.getElementById('state').textContent = 'inspector UI connected';
    buffer.splice(0).forEach(post);
  }
});
setTimeout(() => { if (!connected) { document.getElementById('offline').classList.add('shown'); document.getElementById('state').textContent = 'inspector UI not connected'; } }, ${INSPECTOR_CONNECT_WAIT_MS});
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + ${JSON.stringify(wsPath)});
ws.onmessage = (event) => {
  const data = JSON.parse(event.data);
  document.getElementById('count').textContent = String(++count);
  if (connected) post(data); else buffer.push(data);
};
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
