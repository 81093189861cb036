/**
 * A kept-alive socket is never closed under a request the client sent on it: when the process
 * stalls (load, a long synchronous step, GC) for longer than the keep-alive timeout, the next
 * request on a socket the server advertised as kept alive is answered, whether it reached the
 * server before the keep-alive timer ran (it then sits unread in the kernel) or right after (the
 * client learned nothing of a close). Node's own handling destroys the socket in the timers phase,
 * before the poll phase reads the request: the client sees ECONNRESET or `other side closed`
 * (the CI flake of request-errors.test.ts, on a socket that had already carried responses).
 *
 * Deterministic: the stall is a busy wait, so it lasts at least as long as asked however slow the
 * machine; which of the server's timer and the client's write comes first is fixed by the event
 * loop's phases, not by speed.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { inProcessServices } from '../../support/in-process-services.ts';
import { tempConfig } from '../../support/test-config.ts';
import { useCleanup } from './gateway-helpers.ts';

const KEEP_ALIVE_S = 0.2;
// Node adds a second to the advertised keep-alive timeout before it closes; half a second more.
const STALL_MS = KEEP_ALIVE_S * 1000 + 1000 + 500;

function stallProcess(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // The whole process is stalled: no timer, no socket read, no client runs.
  }
}

/** How many whole responses (status line, headers, Content-Length body) `text` holds. */
function completeResponses(text: string): string[] {
  const statuses: string[] = [];
  let rest = text;
  for (;;) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd < 0) return statuses;
    const head = rest.slice(0, headEnd);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (rest.length < headEnd + 4 + length) return statuses;
    statuses.push(head.split('\r\n')[0]!);
    rest = rest.slice(headEnd + 4 + length);
  }
}

type Moment = 'before the keep-alive timer runs' | 'right after the keep-alive timer runs';

/**
 * Sends `first`, waits for its answer, stalls the process past the keep-alive timeout and sends
 * `second` on the same socket at `moment`. Resolves with the status lines received and how the
 * socket ended.
 */
function secondRequestAfterStall(port: number, first: string, second: string, moment: Moment): Promise<{ statuses: string[]; ended?: string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let text = '';
    let sent = false;
    const finish = (ended?: string) => {
      socket.destroy();
      resolve({ statuses: completeResponses(text), ...(ended ? { ended } : {}) });
    };
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      const answered = completeResponses(text).length;
      if (answered === 2) finish();
      else if (answered === 1 && !sent) {
        sent = true;
        expect(text).toMatch(/\r\nconnection: keep-alive\r\n/i);
        if (moment === 'before the keep-alive timer runs') {
          // The request is in the server's kernel buffer when the stall ends.
          socket.write(second);
          stallProcess(STALL_MS);
        } else {
          stallProcess(STALL_MS);
          // Due after the server's keep-alive timer: runs in the same timers phase, just after it.
          setTimeout(() => socket.write(second), 0);
        }
      }
    });
    socket.on('end', () => finish('the server closed the socket (FIN) before answering'));
    socket.on('error', (err) => finish(`socket error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    socket.write(first);
  });
}

describe('kept-alive sockets across a stall of the process', () => {
  const cleanup = useCleanup();

  it('a request sent on a kept-alive socket while the process stalls past the keep-alive timeout is answered, on the gateway, an agent port and the LLM gateway', async () => {
    const cfg = tempConfig();
    cleanup.defer(() => cfg.cleanup());
    cfg.edit('pas.yaml', (doc) => doc.setIn(['gateway', 'limits', 'keep_alive_timeout_s'], KEEP_ALIVE_S));
    const tree = await cleanup.tree({ services: inProcessServices(), configDir: cfg.dir, gatewayOptions: { token: 'test-token-4f1c2e' } });
    const gatewayPort = tree.gateway!.port;
    const mgrPort = tree.gateway!.agentPorts.get('Mgr-Code-01')!;
    const get = (port: number, url: string) => `GET ${url} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`;
    const post = (port: number, url: string, body: string) =>
      `POST ${url} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    // The flake's shape: mutating calls refused with 401 before their body is read, back to back.
    const refused = (port: number, url: string) => post(port, url, JSON.stringify({ task: 'x' }));
    const cases: Array<[what: string, port: number, first: string, second: string, status: RegExp]> = [
      ['gateway', gatewayPort, refused(gatewayPort, '/api/jobs'), get(gatewayPort, '/health'), / 200 /],
      ['gateway, 401 after 401', gatewayPort, refused(gatewayPort, '/api/jobs'), refused(gatewayPort, '/api/jobs'), / 401 /],
      ['agent port', mgrPort, refused(mgrPort, '/submit'), refused(mgrPort, '/submit'), / 401 /],
      ['LLM gateway', gatewayPort, post(gatewayPort, '/llm/openai/v1/chat/completions', '{}'), post(gatewayPort, '/llm/openai/v1/chat/completions', '{}'), /^HTTP\/1\.1 4\d\d /],
    ];
    for (const moment of ['before the keep-alive timer runs', 'right after the keep-alive timer runs'] as const) {
      for (const [what, port, first, second, status] of cases) {
        const result = await secondRequestAfterStall(port, first, second, moment);
        expect(result.ended, `${what}, second request sent ${moment}`).toBeUndefined();
        expect(result.statuses, `${what}, second request sent ${moment}`).toHaveLength(2);
        expect(result.statuses[1], `${what}, second request sent ${moment}`).toMatch(status);
      }
    }
    // Left alone, an idle kept-alive socket is still closed.
    const idle = net.connect({ port: gatewayPort, host: '127.0.0.1' });
    idle.write(get(gatewayPort, '/health'));
    idle.resume();
    await new Promise((resolve) => idle.once('close', resolve));
  }, 60_000);
});
