/**
 * `pas up` as a user runs it: a child process at a free port offset answers on the gateway and
 * every agent port, the feed's hello holds all 23 agents, SIGINT drains and exits 0, and a
 * second `pas up` on the same ports fails naming the port; one on the same data dir (its journal)
 * fails naming the process that holds it, until that process is gone, however it ended.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePortOffset } from '../../support/ports.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';
import { DEFAULT_AGENTS, GATEWAY_BASE_PORT, http, openFeed, until, useCleanup } from './gateway-helpers.ts';

const REPO = path.resolve(import.meta.dirname, '../../..');
const PAS = path.join(REPO, 'bin', 'pas.mjs');

interface Child {
  process: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function pas(args: string[]): Child {
  const env: NodeJS.ProcessEnv = { ...process.env, PAS_CONFIG_DIR: SHIPPED_CONFIGS };
  delete env.PAS_API_TOKEN;
  const child = spawn(process.execPath, [PAS, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { process: child, stdout: () => stdout, stderr: () => stderr, exited };
}

describe('pas up (the CLI, as a child process)', () => {
  const cleanup = useCleanup();

  it('boots the whole tree at --port-offset, answers on every port with a 23-agent hello, and exits 0 on SIGINT; a second one on the same ports fails naming the port', async () => {
    const offset = await freePortOffset([GATEWAY_BASE_PORT, ...DEFAULT_AGENTS.map((a) => a.port)]);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-up-'));
    cleanup.defer(() => rmSync(dataDir, { recursive: true, force: true }));
    const up = pas(['up', '--port-offset', String(offset), '--quiet', '--data-dir', dataDir]);
    cleanup.defer(async () => {
      if (up.process.exitCode === null && up.process.signalCode === null) {
        up.process.kill('SIGKILL');
        await up.exited;
      }
    });
    const gateway = `http://127.0.0.1:${GATEWAY_BASE_PORT + offset}`;

    await until(
      async () => {
        if (up.process.exitCode !== null) throw new Error(`pas up exited early (${up.process.exitCode}): ${up.stderr()}`);
        return up.stdout().includes('Ctrl-C to drain');
      },
      25_000,
      'pas up to print its agents',
    );
    expect(up.stdout()).toContain(`HMI      ${gateway}/`);
    expect(up.stdout()).toContain(`feed     ws://127.0.0.1:${GATEWAY_BASE_PORT + offset}/ws`);
    // An agent whose models `pas doctor` found unusable (no key, no Ollama here) is marked after its state.
    for (const agent of DEFAULT_AGENTS) expect(up.stdout()).toMatch(new RegExp(`^${agent.id}\\s+${agent.role}\\s+http://127\\.0\\.0\\.1:${agent.port + offset}\\s+IDLE(  ! (no usable model|primary \\S+ unusable) .+)?$`, 'm'));

    expect((await http(`${gateway}/health`)).body).toMatchObject({ status: 'ok', agent: 'gateway', agents: 23 });
    for (const id of ['Architect', 'Dir-Docs', 'Mgr-Code-01', 'Mgr-Docs-01', 'Prog-001', 'Prog-010']) {
      const port = DEFAULT_AGENTS.find((a) => a.id === id)!.port + offset;
      expect((await http(`http://127.0.0.1:${port}/health`)).body, id).toMatchObject({ status: 'ok', agent: id, port });
    }

    const feed = await openFeed(gateway);
    cleanup.defer(() => feed.ws.terminate());
    await until(() => feed.messages.length >= 1, 5000, 'hello');
    const agents = Object.values(feed.hello().tree).filter((n) => n.role !== 'breaker');
    expect(agents).toHaveLength(23);
    expect(agents.map((n) => n.agentId)).toEqual(DEFAULT_AGENTS.map((a) => a.id));

    const otherDataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-up-'));
    cleanup.defer(() => rmSync(otherDataDir, { recursive: true, force: true }));
    const second = pas(['up', '--port-offset', String(offset), '--quiet', '--data-dir', otherDataDir]);
    const secondExit = await second.exited;
    expect(secondExit.code).toBe(1);
    expect(second.stderr()).toContain('PAS_ERR_PORT_IN_USE');
    expect(second.stderr()).toContain(`port ${GATEWAY_BASE_PORT + offset}`);
    // The first tree is untouched by the failed second start.
    expect((await http(`${gateway}/api/tree`)).status).toBe(200);

    up.process.kill('SIGINT');
    const exit = await up.exited;
    expect(exit, up.stderr()).toEqual({ code: 0, signal: null });
    expect(up.stdout()).toContain('SIGINT: draining');
    expect(up.stdout()).toContain('stopped cleanly');
    await expect(feed.closed).resolves.toMatchObject({ code: 1001 });
    await expect(fetch(`${gateway}/health`)).rejects.toThrow();
  });

  it('refuses a second pas up on the same data dir (another port offset) naming the first, which keeps running; once the first is killed -9 the dir can be used again', async () => {
    const offsets = [GATEWAY_BASE_PORT, ...DEFAULT_AGENTS.map((a) => a.port)];
    const offset = await freePortOffset(offsets);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-up-'));
    cleanup.defer(() => rmSync(dataDir, { recursive: true, force: true }));
    const started = (portOffset: number) => {
      const child = pas(['up', '--offline', '--skip-doctor', '--port-offset', String(portOffset), '--quiet', '--data-dir', dataDir]);
      cleanup.defer(async () => {
        if (child.process.exitCode === null && child.process.signalCode === null) {
          child.process.kill('SIGKILL');
          await child.exited;
        }
      });
      return child;
    };
    const ready = (child: Child) => until(() => {
      if (child.process.exitCode !== null) throw new Error(`pas up exited early (${child.process.exitCode}): ${child.stderr()}`);
      return child.stdout().includes('Ctrl-C to drain');
    }, 25_000, 'pas up ready');
    const first = started(offset);
    await ready(first);

    const otherOffset = await freePortOffset(offsets);
    const second = started(otherOffset);
    expect((await second.exited).code, second.stderr()).toBe(1);
    expect(second.stdout()).not.toContain('PAS is up');
    expect(second.stderr()).toContain('PAS_ERR_DATA_DIR_IN_USE');
    expect(second.stderr()).toContain(`the data dir ${dataDir} is in use by pas up (pid ${first.process.pid} on ${os.hostname()}`);
    expect((await http(`http://127.0.0.1:${GATEWAY_BASE_PORT + offset}/api/tree`)).status).toBe(200);

    first.process.kill('SIGKILL');
    await first.exited;
    const third = started(otherOffset);
    await ready(third);
    third.process.kill('SIGINT');
    expect(await third.exited, third.stderr()).toEqual({ code: 0, signal: null });
  });
});
