/**
 * GET /inspect in Chromium: the bridge page frames the inspector UI, passes relay messages only
 * to the frame's own origin, ignores messages from other windows, and says plainly when the UI
 * (hosted by Stately, so it needs internet) does not load.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../support/fake-llm-server.ts';
import { inProcessServices } from '../support/in-process-services.ts';
import { startTestTree, type TestTree } from '../support/test-tree.ts';
import { launchChromium } from './hmi-support.ts';

/** A stand-in for the hosted inspector UI on another origin: it says it is connected and keeps what it receives. */
const FAKE_UI = `<!doctype html><html><body><script>
window.received = [];
window.addEventListener('message', (e) => window.received.push({ origin: e.origin, data: e.data }));
window.parent.postMessage({ type: '@statelyai.connected' }, '*');
</script></body></html>`;

let browser: Browser;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => browser?.close());
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function uiServer(): Promise<string> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(FAKE_UI);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/inspect`;
}

async function tree(inspectorUiUrl: string): Promise<TestTree> {
  const t = await startTestTree({ services: inProcessServices({ taskMs: 5 }), agentPorts: false, gatewayOptions: { inspectorRelay: true, inspectorUiUrl } });
  cleanups.push(() => t.close());
  return t;
}

describe('the /inspect bridge page', { timeout: 90_000 }, () => {
  it('forwards relay events to the inspector frame at its own origin only, never to "*"', async () => {
    const ui = await uiServer();
    const t = await tree(ui);
    const page = await browser.newPage();
    cleanups.push(() => page.close());
    await page.goto(`${t.url}/inspect`);
    await page.locator('#state', { hasText: 'inspector UI connected' }).waitFor();
    expect(await page.content()).not.toContain("'*'");

    const sender = new WebSocket(`${t.url.replace(/^http/, 'ws')}/inspect`);
    cleanups.push(() => sender.close());
    await new Promise((r) => sender.once('open', r));
    sender.send(JSON.stringify({ type: '@xstate.event', sessionId: 'x', event: { type: 'job.submitted' } }));
    const frame = page.frames().find((f) => f.url() === ui)!;
    await expect.poll(() => frame.evaluate(() => (window as unknown as { received: unknown[] }).received.length), { timeout: 10_000 }).toBe(1);
    const [got] = await frame.evaluate(() => (window as unknown as { received: Array<{ origin: string; data: unknown }> }).received);
    expect(got).toEqual({ origin: t.url, data: { type: '@xstate.event', sessionId: 'x', event: { type: 'job.submitted' } } });
    expect(await page.locator('#count').textContent()).toBe('1');
    expect(await page.locator('#bar').textContent()).toContain('needs internet access');
  });

  it('says the hosted UI needs internet when it does not load, and keeps counting the events', async () => {
    const t = await tree(`http://127.0.0.1:${await closedPort()}/inspect`);
    const page = await browser.newPage();
    cleanups.push(() => page.close());
    await page.goto(`${t.url}/inspect`);
    await page.locator('#offline.shown').waitFor({ timeout: 20_000 });
    expect(await page.locator('#offline').textContent()).toMatch(/did not load\.\s+It is a web app on http:\/\/127\.0\.0\.1:\d+, so it needs internet access/);
    expect(await page.locator('#state').textContent()).toBe('inspector UI not connected');
  });
});
