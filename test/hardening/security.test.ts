/**
 * Security on a running tree: every port listens on 127.0.0.1 only by default; with
 * PAS_API_TOKEN set, every mutating route of the gateway and of every agent's own port (taken
 * from fastify's router, not from a hand list) refuses a missing or wrong token; shell
 * metacharacters in task text, file names and model output, through the native executor, the
 * aider executor and the command runner, never run anything. (Keys staying out of logs, HTTP
 * answers, receipts and the feed: test/integration/programmer/secrets.test.ts and
 * test/integration/gateway/secrets.test.ts.)
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { runAllowedCommand } from '../../src/executors/command-runner.ts';
import { SHIPPED_CONFIGS, type TempConfig } from '../support/test-config.ts';
import { createTempRepo, FAKE_AIDER_DIR, type TempRepo } from '../support/git-fixtures.ts';
import { inProcessServices } from '../support/in-process-services.ts';
import { startTestTree, type TestTree } from '../support/test-tree.ts';
import { agentUrl, BASE_URL_ENV, programmerConfig, runTask, setEnv } from '../integration/programmer/programmer-harness.ts';
import { counterFiles, faultyServices, postJson } from './hardening-support.ts';

/** `METHOD /path` of every route in fastify's printRoutes tree. */
function routesOf(printed: string): Array<{ method: string; url: string }> {
  const stack: string[] = [];
  const routes: Array<{ method: string; url: string }> = [];
  for (const line of printed.split('\n')) {
    const at = line.indexOf('── ');
    if (at < 0) continue;
    const depth = Math.floor(at / 4);
    const match = /^(.*) \(([A-Z, ]+)\)$/.exec(line.slice(at + 3));
    const segment = match ? match[1]! : line.slice(at + 3);
    const parent = depth === 0 ? '' : stack[depth - 1]!;
    const full = parent === '' ? segment : parent.endsWith('/') ? parent + segment.replace(/^\//, '') : parent + (segment.startsWith('/') ? segment : `/${segment}`);
    stack[depth] = full;
    stack.length = depth + 1;
    if (match) for (const method of match[2]!.split(', ')) routes.push({ method, url: full });
  }
  return routes;
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const INJECT = (marker: string) => [`$(touch ${marker})`, `\`touch ${marker}\``, `; touch ${marker}; #`, `' ; touch ${marker} ; '`, `" && touch ${marker} && "`, `| touch ${marker}`, `\ntouch ${marker}\n`];

describe('security of a running tree', () => {
  let tree: TestTree | undefined;
  let cfg: TempConfig | undefined;
  let repo: TempRepo | undefined;
  let restoreEnv: (() => void) | undefined;

  afterEach(async () => {
    await tree?.close();
    cfg?.cleanup();
    await repo?.cleanup();
    restoreEnv?.();
    tree = cfg = repo = restoreEnv = undefined;
  });

  it('binds the gateway and every agent to 127.0.0.1 by default: no port answers on another interface', async () => {
    expect(loadConfig(SHIPPED_CONFIGS).pas.gateway.host).toBe('127.0.0.1');
    tree = await startTestTree({ services: inProcessServices() });
    const address = tree.gateway!.app.server.address();
    expect(typeof address === 'object' && address?.address).toBe('127.0.0.1');
    const ports = [tree.gateway!.port, ...tree.gateway!.agentPorts.values()];
    expect(ports).toHaveLength(1 + tree.runtime.topology.agents.length);
    for (const port of ports) expect(await connects('127.0.0.1', port)).toBe(true);
    // Every other address of this machine is refused on every PAS port.
    const others = Object.values(os.networkInterfaces())
      .flat()
      .filter((i): i is os.NetworkInterfaceInfo => !!i && !i.internal)
      .map((i) => i.address);
    for (const host of others) for (const port of ports) expect(await connects(host, port), `${host}:${port}`).toBe(false);
  });

  it('refuses every mutating route of the gateway and of every agent port without the right PAS_API_TOKEN', async () => {
    const token = `tok-${randomBytes(12).toString('hex')}`;
    tree = await startTestTree({ services: inProcessServices(), gatewayOptions: { token } });
    const routes = routesOf(tree.gateway!.app.printRoutes({ commonPrefix: false }));
    const mutating = routes.filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method));
    // Own ports serve the same routes as /agents/{id}/… on the gateway.
    const targets: Array<{ method: string; url: string }> = [];
    for (const r of mutating) {
      targets.push({ method: r.method, url: `${tree.url}${r.url}` });
      const own = /^\/agents\/([^/]+)(\/.*)$/.exec(r.url);
      if (own) targets.push({ method: r.method, url: `http://127.0.0.1:${tree.gateway!.agentPorts.get(own[1]!)}${own[2]}` });
    }
    // Every agent's submit or execute, every agent's chat, the API's jobs, faults, resets and settings.
    expect(mutating.length).toBeGreaterThanOrEqual(2 * tree.runtime.topology.agents.length + 5);
    for (const { method, url } of targets) {
      const concrete = url.replace(/:[a-z_]+/g, 'Prog-001');
      for (const authorization of [undefined, 'Bearer wrong', `Bearer ${token}x`, token, `Basic ${token}`]) {
        const res = await fetch(concrete, { method, headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: '{}' });
        expect(res.status, `${method} ${concrete} with ${authorization ?? 'no authorization'}`).toBe(401);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAS_ERR_UNAUTHORIZED');
      }
      const ok = await fetch(concrete, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{}' });
      await ok.arrayBuffer();
      expect(ok.status, `${method} ${concrete} with the token`).not.toBe(401);
    }
    // Reading needs no token.
    for (const r of routes.filter((x) => x.method === 'GET' && !x.url.includes(':') && !x.url.startsWith('/hmi'))) {
      const res = await fetch(`${tree.url}${r.url}`);
      await res.arrayBuffer();
      expect(res.status, r.url).not.toBe(401);
    }
  });

  function markersLeft(marker: string, roots: string[]): string[] {
    const found: string[] = [];
    const walk = (dir: string, depth: number) => {
      if (depth > 8 || !existsSync(dir)) return;
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.name.includes(path.basename(marker))) found.push(path.join(dir, entry.name));
        if (entry.isDirectory() && entry.name !== '.git') walk(path.join(dir, entry.name), depth + 1);
      }
    };
    if (existsSync(marker)) found.push(marker);
    for (const root of roots) walk(root, 0);
    return found;
  }

  // File names carry no whitespace (refused at the door, test/integration/gateway/intake-checks.test.ts); ${IFS} does a space's work in a shell.
  it('runs nothing from shell metacharacters in task text, file names and model output through the native executor', async () => {
    const marker = path.join(os.tmpdir(), `pwned-${randomBytes(6).toString('hex')}`);
    const inject = INJECT(marker).join(' ');
    const task = `Bump a ${inject}`;
    repo = await createTempRepo({ ...counterFiles(['a']), [`src/odd;$(touch\${IFS}pwned-${path.basename(marker)});.js`]: 'x\n' });
    // The model answers with the metacharacters in its prose and in the code it writes.
    const reply = `Doing it ${inject}\n\nsrc/a.js\n<<<<<<< SEARCH\nexport const a = 1;\n=======\nexport const a = 2; // ${inject}\n>>>>>>> REPLACE\n`;
    const faulty = faultyServices({ entries: [{ match: { purpose: 'edit' }, reply }] });
    cfg = programmerConfig({ programmers: [{ id: 'Prog-001', primary: 'ollama/qwen2.5-coder:7b-instruct' }, { id: 'Prog-002', primary: 'ollama/qwen2.5-coder:7b-instruct' }] });
    tree = await startTestTree({ configDir: cfg.dir, services: faulty.services, gatewayOptions: { token: '' } });
    const res = await postJson(`${tree.url}/api/jobs`, { task, lane: 'Code', files: ['src/a.js', `src/odd;$(touch\${IFS}pwned-${path.basename(marker)});.js`, `\`touch\${IFS}${marker}\`.js`], repo: repo.repo });
    expect(res.status).toBe(202);
    const job = await tree.runtime.waitForJob(res.body.job_id, 30_000);
    expect(['completed', 'partial', 'failed']).toContain(job.status);
    expect(tree.runtime.journal.tasksForJob(job.id).find((t) => t.spec.files.includes('src/a.js'))?.status).toBe('completed');
    expect(markersLeft(marker, [repo.root, tree.dataDir, process.cwd()]).filter((f) => !f.endsWith('.js'))).toEqual([]);
  });

  it('runs nothing from shell metacharacters in the message and file names given to the aider executor', async () => {
    const marker = path.join(os.tmpdir(), `pwned-${randomBytes(6).toString('hex')}`);
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), OPENAI_API_KEY: 'sk-test-inject-0001', PATH: `${FAKE_AIDER_DIR}${path.delimiter}${process.env.PATH ?? ''}` });
    cfg = programmerConfig({ programmers: [{ id: 'Prog-001', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', capabilities: ['premium', 'paid'] }], baseUrls: { openai: 'http://127.0.0.1:9/v1' } });
    repo = await createTempRepo({ 'src/greet.ts': 'export const g = 1;\n' });
    tree = await startTestTree({ configDir: cfg.dir, services: (await import('../../src/runtime/default-services.ts')).createDefaultServices({}) });
    const prog = agentUrl(tree, 'Prog-001');
    let n = 0;
    for (const piece of INJECT(marker)) {
      const { task } = await runTask(prog, { task_id: `inj-${++n}`, message: `append line export const x${n} = 1; ${piece}`, files: ['src/greet.ts', `src/${piece.replace(/\//g, '_').replace(/\s/g, '${IFS}')}.ts`], repo: repo.repo }, '/aider/edit');
      expect(['completed', 'failed']).toContain(task.status);
    }
    expect(markersLeft(marker, [repo.root, tree.dataDir, process.cwd()])).toEqual([]);
  });

  it('runs nothing from shell metacharacters in the arguments given to the command runner', async () => {
    const marker = path.join(os.tmpdir(), `pwned-${randomBytes(6).toString('hex')}`);
    repo = await createTempRepo({ 'a.txt': 'a\n' });
    const allowlist = { timeout_s: 20, commands: [{ name: 'git-diff', program: 'git', args: ['diff'], allow_extra_args: true }] };
    for (const piece of INJECT(marker)) {
      const result = await runAllowedCommand({ allowlist, argv: ['git', 'diff', piece], cwd: repo.repo }).catch((err: unknown) => ({ exitCode: -1, err }));
      expect(result.exitCode).not.toBe(0);
    }
    // The whole line as one program name is refused outright.
    await expect(runAllowedCommand({ allowlist, argv: [`git diff; touch ${marker}`], cwd: repo.repo })).rejects.toMatchObject({ code: 'PAS_ERR_CMD_NOT_ALLOWED' });
    expect(markersLeft(marker, [repo.root, process.cwd()])).toEqual([]);
  });
});
