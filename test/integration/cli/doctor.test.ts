/**
 * `pas doctor` and the same checks at `pas up`: real sockets (a server that answers like Ollama's
 * /api/tags, a port nothing listens on), a missing API key, the real `bin/pas.mjs`.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.ts';
import { agentsWithoutModel, runDoctor } from '../../../src/doctor/doctor-checks.ts';
import { closedPort } from '../../support/fake-llm-server.ts';
import { tempConfig, type TempConfig } from '../../support/test-config.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let cfg: TempConfig | undefined;
let server: http.Server | undefined;
afterEach(async () => {
  cfg?.cleanup();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  cfg = server = undefined;
});

/** Answers GET /api/tags the way Ollama does, with only the 7b model pulled. */
async function fakeOllama(): Promise<string> {
  server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/api/tags') {
      const body = JSON.stringify({ models: [{ name: 'qwen2.5-coder:7b-instruct', model: 'qwen2.5-coder:7b-instruct', modified_at: '2026-01-01T00:00:00Z', size: 4683087332, digest: 'abc', details: { format: 'gguf', family: 'qwen2' } }] });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      return res.end(body);
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('404 page not found');
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

async function setup() {
  const ollama = await fakeOllama();
  const refused = await closedPort();
  cfg = tempConfig();
  cfg.edit('models.yaml', (doc) => {
    doc.setIn(['providers', 'ollama', 'base_url'], ollama);
    doc.setIn(['providers', 'openai', 'base_url'], `http://127.0.0.1:${refused}/v1`);
    doc.setIn(['providers', 'google', 'base_url'], ollama);
  });
  return { ollama, refused, dir: cfg.dir };
}

function pas(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/pas.mjs'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('pas doctor', { timeout: 90_000 }, () => {
  it('finds a missing key, a refused port and a model Ollama has not pulled, each with a one-line fix', async () => {
    const { ollama, refused, dir } = await setup();
    const config = loadConfig(dir);
    const rows = await runDoctor(config, { env: { OPENAI_API_KEY: 'sk-test-openai-0000000000', GEMINI_API_KEY: 'gem-test-key-000000000' }, timeoutMs: 2000 });
    const row = (check: string) => rows.find((r) => r.check === check)!;
    expect(row('git')).toMatchObject({ status: 'ok' });
    expect(row('model ollama/qwen2.5-coder:7b-instruct')).toMatchObject({ status: 'ok', detail: `${ollama} answers` });
    expect(row('model ollama/qwen2.5-coder:14b-instruct')).toMatchObject({ status: 'fail', detail: `Ollama at ${ollama} answers but has no model qwen2.5-coder:14b-instruct`, fix: 'ollama pull qwen2.5-coder:14b-instruct' });
    expect(row('model openai/gpt-4o')).toMatchObject({ status: 'fail', detail: `http://127.0.0.1:${refused}/v1 unreachable: ECONNREFUSED`, usedBy: ['Prog-008'] });
    expect(row('model openai/gpt-4o').fix).toMatch(/OPENAI_BASE_URL/);
    expect(row('model anthropic/claude-sonnet-4')).toMatchObject({ status: 'fail', detail: 'ANTHROPIC_API_KEY is not set', fix: 'export ANTHROPIC_API_KEY=… (or point these agents at another model)' });
    expect(row('model google/gemini-2.5-flash')).toMatchObject({ status: 'ok', detail: `${ollama} answers; GEMINI_API_KEY is set` });
    // Prog-006/007: Anthropic for primary and backup; Prog-008: two unreachable OpenAI models;
    // Prog-009/010: two deepseek models Ollama has not pulled. Prog-001…005 keep their 7b primary.
    expect(agentsWithoutModel(config, rows)).toEqual(['Prog-006', 'Prog-007', 'Prog-008', 'Prog-009', 'Prog-010']);
  });

  it('prints the table and exits 1 with problems, 0 when everything the configs use is usable (offline)', async () => {
    const { dir } = await setup();
    const failing = await pas(['doctor', '--config', dir], { GEMINI_API_KEY: 'gem-test-key-000000000' });
    expect(failing.code).toBe(1);
    expect(failing.stdout.split('\n')[0]).toMatch(/^CHECK +STATUS +DETAIL +FIX$/);
    expect(failing.stdout).toMatch(/^model anthropic\/claude-haiku-4 +FAIL +ANTHROPIC_API_KEY is not set +export ANTHROPIC_API_KEY=…/m);
    expect(failing.stdout).toMatch(/^git +ok +git version/m);
    expect(failing.stdout).toMatch(/Agents with no usable model: Prog-006 Prog-007 Prog-008 Prog-009 Prog-010\./);
    expect(failing.stdout).not.toContain('gem-test-key');

    const offline = await pas(['doctor', '--config', dir, '--offline'], {});
    expect(offline.code).toBe(0);
    expect(offline.stdout).toMatch(/^model anthropic\/claude-haiku-4 +ok +offline: answered by the scripted model/m);
    expect(offline.stdout).toMatch(/all \d+ checks passed/);

    const json = await pas(['doctor', '--config', dir, '--json'], {});
    expect(JSON.parse(json.stdout).find((r: { check: string }) => r.check === 'model openai/gpt-4o')).toMatchObject({ status: 'fail', detail: 'OPENAI_API_KEY is not set' });
  });

  it('reports a configs folder that does not load as a failed check with exit 1', async () => {
    cfg = tempConfig();
    cfg.edit('pas.yaml', (doc) => doc.setIn(['gateway', 'port'], 'not-a-port'));
    const run = await pas(['doctor', '--config', cfg.dir], {});
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^configs +FAIL +invalid configuration/m);
    expect(run.stdout).toContain('gateway.port');
  });
});
