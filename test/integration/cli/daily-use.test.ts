/**
 * The CLI for daily use, through the real `bin/pas.mjs` against real trees: `pas cancel`,
 * `submit --verify`, a fallback plan reported on the job, EPIPE, and `pas up --offline` doing
 * any task on the user's own repository with visible synthetic edits and readable log lines.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { CassetteEntry } from '../../../src/llm/providers/scripted-adapter.ts';
import { OFFLINE_NOTE_PREFIX } from '../../../src/llm/providers/offline-adapter.ts';
import { createTempRepo, gitOut, type TempRepo } from '../../support/git-fixtures.ts';
import { startPasUp, type PasProcess } from '../../support/pas-process.ts';
import { freePortOffset } from '../../support/ports.ts';
import { SHIPPED_CONFIGS } from '../../support/test-config.ts';
import { startScriptedTree, until, type ScriptedTree } from '../jobs/jobs-support.ts';
import { DEFAULT_AGENTS, GATEWAY_BASE_PORT } from '../gateway/gateway-helpers.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function pas(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/pas.mjs'), ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, PAS_CONFIG_DIR: SHIPPED_CONFIGS, PAS_API_TOKEN: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const FILES = { 'lib/one.js': 'export const one = 1;\n', 'lib/two.js': 'export const two = 2;\n' };

let tree: ScriptedTree | undefined;
let repo: TempRepo | undefined;
let up: PasProcess | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  await tree?.close();
  await repo?.cleanup();
  if (up && up.child.exitCode === null && up.child.signalCode === null) {
    const exited = new Promise((resolve) => up!.child.once('exit', resolve));
    up.child.kill('SIGKILL');
    await exited;
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  tree = repo = up = dataDir = undefined;
});

describe('pas cancel', () => {
  it('cancels a running job and waits for it to end; a finished job says so; an unknown id exits 1 naming it', async () => {
    const slow: CassetteEntry[] = [
      { match: { purpose: 'plan' }, reply: JSON.stringify({ subtasks: [{ instruction: 'Slow edit [one].', files: ['lib/one.js'] }] }) },
      { match: { purpose: 'edit' }, reply: 'lib/one.js\n<<<<<<< SEARCH\n=======\n// x\n>>>>>>> REPLACE\n', delay_ms: 120_000 },
    ];
    tree = await startScriptedTree(slow);
    repo = await createTempRepo(FILES);
    const submitted = await pas(['submit', 'Slow job', '--files', 'lib/one.js', '--repo', repo.repo, '--url', tree.url, '--json']);
    const id = JSON.parse(submitted.stdout).job_id as string;
    await until(() => tree!.runtime.getJob(id)?.status === 'running');

    const cancel = await pas(['cancel', id, '--wait', '--url', tree.url]);
    expect(cancel.stderr).toBe('');
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toBe(`job ${id} cancelled\n`);
    expect(tree.runtime.getJob(id)?.status).toBe('cancelled');

    const again = await pas(['cancel', id, '--url', tree.url]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`job ${id} had already ended: cancelled\n`);

    const unknown = await pas(['cancel', 'nosuchjob', '--url', tree.url]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/PAS_ERR_JOB_NOT_FOUND.*nosuchjob/);
    expect((await pas(['cancel', '--url', tree.url])).stderr).toContain('pas cancel takes one job id, got none');
  }, 120_000);
});

describe('pas submit --verify and job notes', () => {
  it('sends --verify as argv, and reports a fallback plan on the job with the reason planning failed', async () => {
    tree = await startScriptedTree([
      { match: { purpose: 'plan' }, reply: 'I would rather not plan this.' },
      { match: { purpose: 'edit', contains: 'lib/one.js' }, reply: 'lib/one.js\n<<<<<<< SEARCH\nexport const one = 1;\n=======\nexport const one = 10;\n>>>>>>> REPLACE\n' },
      { match: { purpose: 'edit', contains: 'lib/two.js' }, reply: 'lib/two.js\n<<<<<<< SEARCH\nexport const two = 2;\n=======\nexport const two = 20;\n>>>>>>> REPLACE\n' },
    ]);
    repo = await createTempRepo(FILES);
    const run = await pas(['submit', 'Bump both', '--files', 'lib/one.js', 'lib/two.js', '--repo', repo.repo, '--verify', 'git status', '--wait', '--poll-ms', '100', '--url', tree.url]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const id = /^job (\w+) accepted$/m.exec(run.stdout)![1]!;
    expect(tree.runtime.getJob(id)!.spec.verify).toEqual(['git', 'status']);
    const note = 'planning failed: PAS_ERR_PLAN_INVALID: no JSON object in the reply; one subtask per file';
    expect(run.stdout).toContain(`note: ${note}\n`);
    expect(run.stdout).toMatch(new RegExp(`^ {2}completed +${id}-t1 on Prog-\\d{3} \\([\\d.]+s\\)$`, 'm'));
    const status = await pas(['status', id, '--url', tree.url]);
    expect(status.stdout).toContain(`note      ${note}\n`);
    const api = (await (await fetch(`${tree.url}/api/jobs/${id}`)).json()) as { notes: string[] };
    expect(api.notes).toEqual([note]);
  }, 120_000);
});

describe('pas and a closed pipe', () => {
  it('exits quietly when the reader of its output goes away (pas … | head)', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/pas.mjs'), 'submit', '--help'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  }, 60_000);
});

describe('pas up --offline on your own repository', () => {
  it('runs any task with a visible synthetic note per file, says so on the job, and logs one readable line per entry', async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pas-offline-'));
    const portOffset = await freePortOffset([GATEWAY_BASE_PORT, ...DEFAULT_AGENTS.map((a) => a.port)]);
    up = await startPasUp({ configDir: SHIPPED_CONFIGS, dataDir, portOffset, args: ['--offline'] });
    expect(up.output()).toContain('offline: no model is called.');
    expect(up.output()).not.toContain('doctor:');
    repo = await createTempRepo({ 'src/app.ts': 'export const app = 1;\n', 'scripts/build.py': "print('build')\n", 'package.json': '{"name": "x"}\n' });

    const run = await pas(['submit', 'Add input validation', '--files', 'src/app.ts', 'scripts/build.py', 'package.json', '--repo', '.', '--wait', '--poll-ms', '100', '--port-offset', String(portOffset)], { cwd: repo.repo });
    expect(run.stderr).toBe('');
    if (run.code !== 0) throw new Error(`${run.stdout}\n---\n${up.output().slice(-3000)}`);
    const id = /^job (\w+) accepted$/m.exec(run.stdout)![1]!;
    expect(run.stdout).toMatch(/^note: offline: no model was called/m);
    expect(run.stdout).toMatch(/^status {4}completed$/m);
    const branch = `pas/job-${id}`;
    expect(await gitOut(repo.repo, 'show', `${branch}:src/app.ts`)).toBe(`export const app = 1;\n// ${OFFLINE_NOTE_PREFIX} Add input validation`);
    expect(await gitOut(repo.repo, 'show', `${branch}:scripts/build.py`)).toBe(`print('build')\n# ${OFFLINE_NOTE_PREFIX} Add input validation`);
    expect(await gitOut(repo.repo, 'show', `${branch}:package.json`)).toBe('{"name": "x"}');
    expect(await gitOut(repo.repo, 'show', `${branch}:PAS_OFFLINE.md`)).toContain('(for package.json)');

    // The terminal gets short readable lines; the log file keeps the NDJSON.
    await until(() => /Mgr-Code-0\d +EXECUTING → IDLE/.test(up!.output()));
    const logLines = up.output().split('\n').filter((l) => /^\[\d\d:\d\d:\d\d\] (INFO|WARN|ERROR)/.test(l));
    expect(logLines.length).toBeGreaterThan(5);
    expect(logLines.some((l) => new RegExp(`Prog-\\d{3} +IDLE → EXECUTING \\(task.assigned\\) job=${id}`).test(l))).toBe(true);
    expect(up.output()).not.toMatch(/^\{"level"/m);
    expect(Math.max(...logLines.map((l) => l.length))).toBeLessThan(240);
    const logFile = readdirSync(path.join(dataDir, 'logs')).find((f) => f.endsWith('.ndjson'))!;
    const first = readFileSync(path.join(dataDir, 'logs', logFile), 'utf8').split('\n')[0]!;
    expect(JSON.parse(first)).toHaveProperty('level');
  }, 120_000);
});
