/**
 * Shared by the HMI browser tests: Debian's Chromium driven through playwright-core (never a
 * downloaded browser), and a real tree (runtime, gateway, every agent port, SQLite, git) whose
 * LLM is the offline scripted demo cassette, on a temp copy of the configs.
 */
import type { IncomingMessage } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createDemoRepo } from '../../src/cli/demo.ts';
import { DEMO_MODULES, DEMO_TASK, demoCassette } from '../../src/demo/demo-fixture.ts';
import { createScriptedAdapter } from '../../src/llm/providers/scripted-adapter.ts';
import { createDefaultServices } from '../../src/runtime/default-services.ts';
import { startTestTree, type TestTree, type TestTreeOptions } from '../support/test-tree.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(import.meta.dirname, '../../artifacts');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** A 1280×800 page that fails the test on any uncaught page error or console error. */
export async function openHmi(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // A dropped feed is reported by Chromium itself as a console error; those are expected.
    if (msg.type() === 'error' && !/WebSocket|ERR_CONNECTION|Failed to load resource/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  await page.goto(`${url}/`);
  await page.locator('#conn[data-conn="live"]').waitFor();
  return { page, errors };
}

export interface DemoTree extends TestTree {
  repo: string;
  /** POST /api/jobs with the demo job; resolves with its id. */
  submitDemoJob(): Promise<string>;
}

/** A real tree on the scripted demo cassette plus the demo repository, in temp dirs. */
export async function startDemoTree(options: Omit<TestTreeOptions, 'services'> & { editDelayMs?: number } = {}): Promise<DemoTree> {
  const { editDelayMs = 800, ...treeOptions } = options;
  const scripted = createScriptedAdapter(demoCassette({ planDelayMs: 100, editDelayMs }), { source: 'demo cassette' });
  const repoRoot = mkdtempSync(path.join(os.tmpdir(), 'pas-hmi-repo-'));
  const repo = await createDemoRepo(path.join(repoRoot, 'repo'));
  let tree: TestTree;
  try {
    tree = await startTestTree({ ...treeOptions, services: createDefaultServices({ offline: true, scripted }) });
  } catch (err) {
    rmSync(repoRoot, { recursive: true, force: true });
    throw err;
  }
  const close = tree.close;
  return Object.assign(tree, {
    repo,
    async submitDemoJob() {
      const res = await fetch(`${tree.url}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task: DEMO_TASK, files: DEMO_MODULES.map((m) => m.file), repo }),
      });
      if (res.status !== 202) throw new Error(`POST /api/jobs answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { job_id: string }).job_id;
    },
    async close() {
      await close();
      rmSync(repoRoot, { recursive: true, force: true });
    },
  });
}

/**
 * Cuts the feed's TCP connections on the gateway's own server (a real drop, as a network fault or
 * proxy would cause) and, while `blocked`, refuses new ones. Records each /ws request's URL.
 */
export function feedCutter(tree: TestTree) {
  const server = tree.gateway!.app.server;
  const sockets = new Set<Duplex>();
  const urls: string[] = [];
  let blocked = false;
  const listener = (req: IncomingMessage, socket: Duplex) => {
    if (!(req.url ?? '').startsWith('/ws')) return;
    urls.push(req.url!);
    if (blocked) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  server.prependListener('upgrade', listener);
  return {
    urls,
    /** Drop every open feed connection and refuse new ones until `unblock()`. */
    cut() {
      blocked = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    unblock() {
      blocked = false;
    },
    dispose() {
      server.off('upgrade', listener);
    },
  };
}

export interface HmiRig {
  /** Undone after the test, the last deferred first. */
  defer(cleanup: () => Promise<void> | void): void;
  /** A demo tree closed after the test. */
  demoTree(options?: Parameters<typeof startDemoTree>[0]): Promise<DemoTree>;
  /** The HMI of `url` on a page closed after the test (1280×800 unless `viewport` says otherwise). */
  hmi(url: string, viewport?: { width: number; height: number }): Promise<{ page: Page; errors: string[] }>;
}

/** What every HMI suite sets up: one Chromium for the file, the artifacts folder, and clean-ups after each test. */
export function hmiRig(): HmiRig {
  let browser: Browser | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const defer = (cleanup: () => Promise<void> | void) => void cleanups.push(cleanup);
  return {
    defer,
    async demoTree(options = {}) {
      const tree = await startDemoTree(options);
      defer(() => tree.close());
      return tree;
    },
    async hmi(url, viewport) {
      if (!browser) throw new Error('hmiRig: the browser starts in beforeAll');
      const opened = await openHmi(browser, url);
      defer(() => opened.page.close());
      if (viewport) await opened.page.setViewportSize(viewport);
      return opened;
    },
  };
}
