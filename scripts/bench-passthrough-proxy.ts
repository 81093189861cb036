/**
 * The reference of scripts/bench-llm-gateway.ts: a bare Node http proxy in its own process that
 * does nothing but pipe each request to one upstream over kept-alive sockets and pipe the answer
 * back (no credential, no budget, no usage read). What one extra Node hop costs on this machine,
 * so the gateway's figures can be read against what any proxy could reach here.
 * Routes by the first path segment (`/small/v1/messages` → the `small` upstream's `/v1/messages`).
 * Prints `{"url": …}` once listening; exits when its stdin closes.
 *
 * Alone: `npx tsx scripts/bench-passthrough-proxy.ts '{"small":"http://127.0.0.1:PORT"}'`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const upstreams = new Map(Object.entries(JSON.parse(process.argv[2] ?? '{}') as Record<string, string>).map(([k, v]) => [k, new URL(v)]));
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo' });

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const slash = url.indexOf('/', 1);
  const upstream = upstreams.get(url.slice(1, slash < 0 ? undefined : slash));
  if (!upstream || slash < 0) {
    res.writeHead(404).end();
    return;
  }
  const headers = { ...req.headers, host: upstream.host };
  const out = http.request({ host: upstream.hostname, port: upstream.port, path: url.slice(slash), method: req.method, headers, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  out.on('error', () => res.destroy());
  req.pipe(out);
});
server.keepAliveTimeout = 60_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
